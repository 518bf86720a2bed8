//! Pointwise (1x1) convolution as a GEMM: `C[M, N] = clamp(A[M, K] x B[K, N] + bias)`,
//! A being NHWC activations read in place, B the weights packed once by [`PackedGemmB`].
//!
//! Packed layout: B is cut into panels of NR columns (NR of the kernel set's GEMM
//! microkernel). Each panel is `NR` biases followed by `K` rows of `NR` weights, columns
//! past N zero-padded, so the microkernel streams one contiguous panel per tile and reads
//! the bias with the same vector loads.
//!
//! Blocking (Zen 5: 48 KiB L1D, 1 MiB L2 per core). Loop order: M blocks of `MC` rows,
//! then panels, then MR-row tiles. One panel (K x NR floats: 32 KiB at K = 256 with the
//! AVX-512 NR = 32, 128 KiB at K = 1024) is reused by every tile of the M block, so it
//! stays in L1 up to K = 256 and in L2 beyond. The M block of A (MC x K floats) is read
//! once per panel: `MC` keeps it within [`A_BLOCK_BYTES`] = 384 KiB so it stays in L2
//! next to the panel and the C block. K is not split: each tile accumulates the whole
//! dot product in registers, so C is written once, clamped, and never re-read; the K
//! slice of A a tile reads (MR x K floats, 28 KiB at K = 1024) fits L1 anyway.

use crate::activation::Clamp;
use crate::kernels::gemm::GemmArgs;
use crate::kernels::KernelSet;
use crate::{Error, Result};

/// Budget for the block of A rows that all panels pass over (see the module comment).
pub const A_BLOCK_BYTES: usize = 512 << 10;

/// B (weights) and bias of a pointwise layer, packed for one kernel set's microkernel.
#[derive(Debug, Clone)]
pub struct PackedGemmB {
    kernels: &'static KernelSet,
    k: usize,
    n: usize,
    /// ceil(n / NR) panels of (k + 1) x NR floats.
    data: Vec<f32>,
}

impl PackedGemmB {
    /// Packs `weights` [N][K] row-major (output-channel major: OHWI of a 1x1
    /// convolution, and the PyTorch Linear layout) and `bias` [N].
    pub fn new(
        kernels: &'static KernelSet,
        k: usize,
        n: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        if k == 0 || n == 0 {
            return Err(Error::Shape(format!(
                "pointwise weights: k = {k} and n = {n} must both be >= 1"
            )));
        }
        let nr = kernels.gemm.nr;
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
            k,
            n,
            data,
        })
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
/// rows for threads. Shape mismatches are [`Error::Shape`], bad clamp bounds
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
    let (k, n) = (b.k, b.n);
    clamp.check()?;
    if lda < k {
        return Err(Error::Shape(format!("pointwise: lda {lda} < k {k}")));
    }
    if ldc < n {
        return Err(Error::Shape(format!("pointwise: ldc {ldc} < n {n}")));
    }
    let need = |stride: usize, cols: usize| {
        (m - 1)
            .checked_mul(stride)
            .and_then(|x| x.checked_add(cols))
    };
    match need(lda, k) {
        Some(len) if len <= a.len() => {}
        _ => {
            return Err(Error::Shape(format!(
                "pointwise: a needs (m - 1) x lda + k = ({m} - 1) x {lda} + {k} floats, has {}",
                a.len()
            )))
        }
    }
    match need(ldc, n) {
        Some(len) if len <= c.len() => {}
        _ => {
            return Err(Error::Shape(format!(
                "pointwise: c needs (m - 1) x ldc + n = ({m} - 1) x {ldc} + {n} floats, has {}",
                c.len()
            )))
        }
    }

    let kernel = b.kernels.gemm;
    let (mr_max, nr_max) = (kernel.mr, kernel.nr);
    let panel_len = (k + 1) * nr_max;
    let mc = block_rows(k, mr_max);
    for m0 in (0..m).step_by(mc) {
        let m1 = m.min(m0 + mc);
        for (p, panel) in b.data.chunks_exact(panel_len).enumerate() {
            let j0 = p * nr_max;
            let nr = nr_max.min(n - j0);
            for i0 in (m0..m1).step_by(mr_max) {
                (kernel.ukernel)(GemmArgs {
                    mr: mr_max.min(m1 - i0),
                    nr,
                    kc: k,
                    a: &a[i0 * lda..],
                    lda,
                    panel,
                    c: &mut c[i0 * ldc + j0..],
                    ldc,
                    clamp,
                })?;
            }
        }
    }
    Ok(())
}
