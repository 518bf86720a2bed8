//! Pointwise (1x1) convolution as a GEMM: `C[M, N] = clamp(A[M, K] x B[K, N] + bias)`,
//! A being NHWC activations read in place, B the weights packed once by [`PackedGemmB`].
//!
//! Tile choice: a kernel set has a wide microkernel (`KernelSet::gemm`) and narrower
//! ones (`KernelSet::gemm_narrow`); [`PackedGemmB::new`] picks per layer the one of
//! least padded width x relative column cost, so a layer of 16 output channels
//! (MobileNet 0.25's pw1) runs the 12x16 tile instead of leaving 1/2 of a 32-wide
//! AVX-512 tile idle, and alpha 0.75's pw1 (48) packs without a partial last panel. The choice is stored in the packed B ([`PackedGemmB::mr`],
//! [`PackedGemmB::nr`]).
//!
//! Packed layout: B is cut into panels of NR columns (NR of the chosen microkernel).
//! Each panel is `NR` biases followed by `K` rows of `NR` weights, columns past N
//! zero-padded, so the microkernel streams one contiguous panel per tile and reads the
//! bias with the same vector loads.
//!
//! Blocking (Zen 5: 48 KiB L1D, 1 MiB L2 per core). Loop order: M blocks of `MC` rows,
//! then panels, then MR-row tiles. One panel (K x NR floats: 32 KiB at K = 256 with the
//! AVX-512 NR = 32, 128 KiB at K = 1024) is reused by every tile of the M block, so it
//! stays in L1 up to K = 256 and in L2 beyond. The M block of A (MC x K floats) is read
//! once per panel: `MC` keeps it within [`A_BLOCK_BYTES`] = 512 KiB so it stays in L2
//! next to the panel and the C block. K is not split: each tile accumulates the whole
//! dot product in registers, so C is written once, clamped, and never re-read; the K
//! slice of A a tile reads (MR x K floats, 28 KiB at K = 1024) fits L1 anyway.

use crate::activation::Clamp;
use crate::kernels::f32_gemm::{GemmArgs, GemmKernel};
use crate::kernels::mat::MatMut;
use crate::kernels::prefetch;
use crate::kernels::KernelSet;
use crate::memory::Packed;
use crate::{Error, Result};
use std::ops::Range;

/// Budget for the block of A rows that all panels pass over (see the module comment).
pub const A_BLOCK_BYTES: usize = 512 << 10;

/// Bytes after which an address maps to the same L1D set again: 64 sets of 64-byte
/// lines in the L1D of every x86 core sepconv targets (32-48 KiB, 8-12 ways).
const L1_SET_PERIOD: usize = 4096;
/// Most rows of a register tile that may share one L1 set: the 8 ways of Zen 4's 32 KiB
/// L1D (the smallest of those). The B panel's lines pass through the same sets, yet 7
/// rows per set still ran at the FMA peak there (docs/performance.md).
const L1_WAYS: usize = 8;

/// The row stride of A, in floats, at which a GEMM with `k` columns of A and `mr`-row
/// register tiles runs fastest: `k`, or `k` plus one cache line where rows `k` floats
/// apart would put more than [`L1_WAYS`] of a tile's rows in one L1 set. A tile reads
/// its `mr` rows side by side, one float of each per k step; at K = 1024 (4 KiB rows)
/// the 14 rows of the AVX-512 tile all fall in one set, and each k step's broadcasts
/// evict each other's lines; one line more per row takes 1.0-224's pw13 (49 x 1024 x
/// 1024) from well below the FMA peak to the peak (docs/performance.md).
pub fn a_stride(k: usize, mr: usize) -> usize {
    let row_bytes = 4 * k;
    // Rows before the set index repeats: the period over gcd(row bytes, period).
    let shared = (row_bytes.trailing_zeros() as usize).min(L1_SET_PERIOD.trailing_zeros() as usize);
    let rows_per_cycle = L1_SET_PERIOD >> shared;
    if mr.div_ceil(rows_per_cycle) > L1_WAYS {
        k + prefetch::LINE_FLOATS
    } else {
        k
    }
}

/// B (weights) and bias of a pointwise layer, packed for one microkernel of a kernel set.
#[derive(Debug, Clone)]
pub struct PackedGemmB {
    kernels: &'static KernelSet,
    /// The microkernel chosen for this layer's width (one of `kernels`' GEMM kernels).
    gemm: &'static GemmKernel,
    k: usize,
    n: usize,
    /// ceil(n / NR) panels of (k + 1) x NR floats.
    data: Packed,
}

/// The kernel of `kernels` that computes a width-`n` layer fastest: least padded columns
/// x `col_cost`, the wide kernel on ties.
fn choose_kernel(kernels: &KernelSet, n: usize) -> &'static GemmKernel {
    let rung = kernels.gemm_rung;
    let cost = |g: &GemmKernel| (n.div_ceil(g.nr) * g.nr) as f32 * g.col_cost(rung).unwrap_or(1.0);
    kernels
        .gemms()
        .min_by(|x, y| cost(x).total_cmp(&cost(y)))
        .unwrap_or(kernels.gemm)
}

impl PackedGemmB {
    /// Packs `weights` [N][K] row-major (output-channel major: OHWI of a 1x1
    /// convolution, and the PyTorch Linear layout) and `bias` [N], for the microkernel of
    /// `kernels` that suits width `n` best.
    pub fn new(
        kernels: &'static KernelSet,
        k: usize,
        n: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        Self::with_kernel(kernels, choose_kernel(kernels, n), k, n, weights, bias)
    }

    /// Packs like [`PackedGemmB::new`] for the given microkernel of `kernels` (one of
    /// [`KernelSet::gemms`], matched by [`crate::kernels::KernelId`]): for tests and
    /// benchmarks that cover every kernel.
    pub fn with_kernel(
        kernels: &'static KernelSet,
        gemm: &'static GemmKernel,
        k: usize,
        n: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        let known = kernels.gemms().any(|g| g.id == gemm.id);
        if !known {
            return Err(Error::Config(format!(
                "pointwise: kernel {:?} is not one of the {} kernel set's",
                gemm.id.name, kernels.cpu
            )));
        }
        if k == 0 || n == 0 {
            return Err(Error::Shape(format!(
                "pointwise weights: k = {k} and n = {n} must both be >= 1"
            )));
        }
        let nr = gemm.nr;
        let panels = n.div_ceil(nr);
        if k.checked_mul(n) != Some(weights.len()) {
            return Err(Error::Shape(format!(
                "pointwise weights: need n x k = {n} x {k} floats, got {}",
                weights.len()
            )));
        }
        if bias.len() != n {
            return Err(Error::Shape(format!(
                "pointwise bias: need n = {n} floats, got {}",
                bias.len()
            )));
        }
        let panel_len = (k + 1) * nr;
        let mut data = vec![0.0f32; panels * panel_len];
        for (p, panel) in data.chunks_exact_mut(panel_len).enumerate() {
            let j0 = p * nr;
            let cols = nr.min(n - j0);
            panel[..cols].copy_from_slice(&bias[j0..j0 + cols]);
            for jj in 0..cols {
                let w = &weights[(j0 + jj) * k..(j0 + jj + 1) * k];
                for (kk, &v) in w.iter().enumerate() {
                    panel[nr * (kk + 1) + jj] = v;
                }
            }
        }
        Ok(PackedGemmB {
            kernels,
            gemm,
            k,
            n,
            data: Packed::from_vec(data),
        })
    }

    /// The packed panels, for a model to gather with its other weights.
    pub(crate) fn packed_mut(&mut self) -> &mut Packed {
        &mut self.data
    }

    /// Input channels (rows of B).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output channels (columns of B).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The kernel set this was packed for.
    pub fn kernels(&self) -> &'static KernelSet {
        self.kernels
    }

    /// The microkernel this was packed for (its name, tile and entry).
    pub fn gemm(&self) -> &'static GemmKernel {
        self.gemm
    }

    /// Rows of the microkernel's register tile: split rows over threads in multiples of
    /// it so that only the last band has a partial tile.
    pub fn mr(&self) -> usize {
        self.gemm.mr
    }

    /// Columns per packed panel: panel `p` holds columns `p * nr .. min((p + 1) * nr, n)`.
    pub fn nr(&self) -> usize {
        self.gemm.nr
    }

    /// The row stride of A this layer runs fastest with ([`a_stride`] for its K and
    /// tile); producers of its input write their rows that far apart.
    pub fn a_stride(&self) -> usize {
        a_stride(self.k, self.gemm.mr)
    }

    /// Number of panels, `ceil(n / nr)` (the range of [`pointwise_panels`]).
    pub fn panels(&self) -> usize {
        self.n.div_ceil(self.gemm.nr)
    }
}

/// Rows of A per M block: as many whole MR tiles as fit [`A_BLOCK_BYTES`], at least one.
fn block_rows(k: usize, mr: usize) -> usize {
    (A_BLOCK_BYTES / (4 * k) / mr).max(1) * mr
}

/// `C[i, j] = clamp(sum_k A[i, k] * B[k, j] + bias[j])` for i < m, j < n.
///
/// `a`: m rows of stride `lda >= k` (`a.len() >= (m - 1) * lda + k`); `c`: m rows of
/// stride `ldc >= n`, of which only the first n floats of each row are written. m = 0 is
/// a no-op (nothing else is checked). Single-threaded and allocation-free; callers split
/// rows for threads (in multiples of [`PackedGemmB::mr`]) or columns
/// ([`pointwise_panels`]). Shape mismatches are [`Error::Shape`], bad clamp bounds
/// [`Error::Config`].
pub fn pointwise(
    b: &PackedGemmB,
    m: usize,
    a: &[f32],
    lda: usize,
    c: &mut [f32],
    ldc: usize,
    clamp: Clamp,
) -> Result<()> {
    if m == 0 {
        return Ok(());
    }
    pointwise_panels(b, 0..b.panels(), m, a, lda, c, ldc, clamp)
}

/// [`pointwise`] restricted to the B panels `panels`: output columns
/// `j0 = panels.start * nr .. j1 = min(panels.end * nr, n)` (nr = [`PackedGemmB::nr`]),
/// written to `c` whose column 0 is column j0 of the full result. `c` holds m rows of
/// stride `ldc >= j1 - j0`, of which the first `j1 - j0` floats are written. For
/// splitting a wide layer (the classifier at batch 1) over threads by columns.
///
/// `panels` must lie within `0..=b.panels()` with start <= end, else [`Error::Shape`]; an
/// empty range and m = 0 are no-ops. Other errors as for [`pointwise`].
#[allow(clippy::too_many_arguments)]
pub fn pointwise_panels(
    b: &PackedGemmB,
    panels: Range<usize>,
    m: usize,
    a: &[f32],
    lda: usize,
    c: &mut [f32],
    ldc: usize,
    clamp: Clamp,
) -> Result<()> {
    check_panels(b, &panels)?;
    if m == 0 || panels.is_empty() {
        return Ok(());
    }
    let cols = b.n.min(panels.end * b.gemm.nr) - panels.start * b.gemm.nr;
    clamp.check()?;
    check_a(m, a, lda, b.k)?;
    if ldc < cols {
        return Err(Error::Shape(format!(
            "pointwise: ldc {ldc} < the {cols} columns of panels {panels:?}"
        )));
    }
    let c_len = c.len();
    let c = MatMut::new(c, m, cols, ldc).map_err(|_| {
        Error::Shape(format!(
            "pointwise: c needs (m - 1) x ldc + columns = ({m} - 1) x {ldc} + {cols} floats, has {}",
            c_len
        ))
    })?;
    pointwise_cols(b, panels, a, lda, c, clamp)
}

/// [`pointwise_panels`] into a view: its rows are the m rows of A, its columns those of
/// `panels` (exactly). Views of disjoint columns of one output ([`MatMut::col_chunks`])
/// let threads split a layer by columns, each reading all of A and its share of B.
pub fn pointwise_cols(
    b: &PackedGemmB,
    panels: Range<usize>,
    a: &[f32],
    lda: usize,
    mut c: MatMut<'_>,
    clamp: Clamp,
) -> Result<()> {
    check_panels(b, &panels)?;
    let m = c.rows();
    if m == 0 || panels.is_empty() {
        return Ok(());
    }
    let (k, n) = (b.k, b.n);
    let kernel = b.gemm;
    let nr_max = kernel.nr;
    let j_first = panels.start * nr_max;
    let cols = n.min(panels.end * nr_max) - j_first;
    clamp.check()?;
    if c.cols() != cols {
        return Err(Error::Shape(format!(
            "pointwise: c has {} columns, panels {panels:?} make {cols}",
            c.cols()
        )));
    }
    check_a(m, a, lda, k)?;

    let panel_len = (k + 1) * nr_max;
    if m == 1 && !kernel.one_row {
        // One row (the classifier at batch 1): a register tile without a short-tile loop
        // would compute MR copies of it, so stream each panel once with a plain vector
        // loop instead.
        let row = c.row_mut(0).unwrap_or_default();
        for p in panels.clone() {
            let j0 = p * nr_max;
            let out = &mut row[j0 - j_first..j0 - j_first + nr_max.min(n - j0)];
            let panel = &b.data[p * panel_len..(p + 1) * panel_len];
            match nr_max {
                32 => row_panel::<32>(&a[..k], panel, out, clamp),
                16 => row_panel::<16>(&a[..k], panel, out, clamp),
                8 => row_panel::<8>(&a[..k], panel, out, clamp),
                _ => row_panel_any(nr_max, &a[..k], panel, out, clamp),
            }
        }
        return Ok(());
    }
    let mc = block_rows(k, kernel.mr);
    for m0 in (0..m).step_by(mc) {
        let m1 = m.min(m0 + mc);
        for p in panels.clone() {
            let j0 = p * nr_max;
            let nr = nr_max.min(n - j0);
            // One call per panel and M block: the microkernel walks the block's rows in
            // its MR-row tiles after checking the operands once.
            (kernel.ukernel)(GemmArgs {
                mr: m1 - m0,
                nr,
                kc: k,
                a: &a[m0 * lda..],
                lda,
                panel: &b.data[p * panel_len..(p + 1) * panel_len],
                c: c.sub(m0..m1, j0 - j_first..j0 - j_first + nr),
                clamp,
            })?;
        }
    }
    Ok(())
}

/// `a` holds m >= 1 rows of k floats at stride `lda`.
fn check_a(m: usize, a: &[f32], lda: usize, k: usize) -> Result<()> {
    if lda < k {
        return Err(Error::Shape(format!("pointwise: lda {lda} < k {k}")));
    }
    match (m - 1).checked_mul(lda).and_then(|x| x.checked_add(k)) {
        Some(len) if len <= a.len() => {}
        _ => {
            return Err(Error::Shape(format!(
                "pointwise: a needs (m - 1) x lda + k = ({m} - 1) x {lda} + {k} floats, has {}",
                a.len()
            )))
        }
    }
    Ok(())
}

fn check_panels(b: &PackedGemmB, panels: &Range<usize>) -> Result<()> {
    if panels.start > panels.end || panels.end > b.panels() {
        return Err(Error::Shape(format!(
            "pointwise: panel range {panels:?} outside 0..{} (n = {}, nr = {})",
            b.panels(),
            b.n,
            b.nr()
        )));
    }
    Ok(())
}

/// `out = clamp(a x panel + bias)` for one row `a` (k floats) and one packed panel (bias
/// row, then k rows of `NR`); `out` holds the panel's real columns. `NR` independent
/// accumulators, so the compiler keeps them in vector registers.
fn row_panel<const NR: usize>(a: &[f32], panel: &[f32], out: &mut [f32], clamp: Clamp) {
    let mut acc = [0.0f32; NR];
    acc.copy_from_slice(&panel[..NR]);
    for (&x, w) in a.iter().zip(panel[NR..].chunks_exact(NR)) {
        prefetch_ahead(w);
        for (s, &w) in acc.iter_mut().zip(w) {
            *s += x * w;
        }
    }
    store_clamped(&acc, out, clamp);
}

/// Prefetches the weights 8 KiB past the start of `w`, into the next panel near a
/// panel's end: a one-row GEMM reads each weight once, straight from DRAM or L3, and the
/// hardware prefetcher alone leaves it latency-bound on some cores (docs/performance.md).
#[inline(always)]
fn prefetch_ahead(w: &[f32]) {
    const AHEAD: usize = 8192 / 4;
    let p = w.as_ptr().wrapping_add(AHEAD);
    for l in (0..w.len()).step_by(prefetch::LINE_FLOATS) {
        prefetch::to_l2(p.wrapping_add(l));
    }
}

/// [`row_panel`] for a panel width without a specialization.
fn row_panel_any(nr: usize, a: &[f32], panel: &[f32], out: &mut [f32], clamp: Clamp) {
    let cols = out.len();
    out.copy_from_slice(&panel[..cols]);
    for (&x, w) in a.iter().zip(panel[nr..].chunks_exact(nr)) {
        prefetch_ahead(w);
        for (s, &w) in out.iter_mut().zip(w) {
            *s += x * w;
        }
    }
    for o in out.iter_mut() {
        *o = o.max(clamp.min).min(clamp.max);
    }
}

fn store_clamped(acc: &[f32], out: &mut [f32], clamp: Clamp) {
    // `max` returns `clamp.min` for a NaN sum, as the microkernels' maxps does.
    for (o, &v) in out.iter_mut().zip(acc) {
        *o = v.max(clamp.min).min(clamp.max);
    }
}
