//! GEMM microkernels: C[0..mr][0..nr] = clamp(A[0..mr][0..kc] x panel + bias) for one
//! register tile, B read from a packed panel (see [`crate::ops::pointwise`] for the
//! layout). One file per ISA; the assembly behind the x86 and NEON wrappers is in
//! `/kernels`.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

#[cfg(target_arch = "aarch64")]
pub mod neon;

use super::cpu::{Cpu, Isa};
use super::table::{Kernel, KernelId};
use crate::activation::Clamp;
use crate::kernels::mat::MatMut;
use crate::{Error, Result};

/// The one calling convention of the assembly microkernels (see kernels/*/gemm_*.S):
/// `(mr, nr, kc, a, a_stride_bytes, panel, c, c_stride_bytes, params = [min, max])`.
#[cfg(sepconv_asm)]
pub(crate) type AsmUkernel = unsafe extern "C" fn(
    usize,
    usize,
    usize,
    *const f32,
    usize,
    *const f32,
    *mut f32,
    usize,
    *const AsmParams,
);

/// The last argument of the assembly microkernels: the clamp bounds, then an address
/// from which a kernel may prefetch into L2 as it goes (a hint: never dereferenced, so it
/// may point anywhere). The narrow x86 tiles and NEON read only the bounds.
#[cfg(sepconv_asm)]
#[repr(C)]
pub(crate) struct AsmParams {
    pub min: f32,
    pub max: f32,
    pub prefetch: *const u8,
}

/// One assembly register tile for [`call_asm`]: the routine, its rows, and how many
/// 64-byte lines of the next panel it prefetches per 4 k steps (consecutive from
/// [`AsmParams::prefetch`] on).
#[cfg(sepconv_asm)]
#[derive(Clone, Copy)]
pub(crate) struct AsmTile {
    pub kernel: AsmUkernel,
    pub mr: usize,
    pub prefetch_lines: usize,
}

/// Checks `args` once, then computes its `mr` rows in tiles: whole tiles of `full`, then,
/// with a `tail` tile, the rows left over in tiles of `tail` (else one short `full` tile).
///
/// # Safety
/// The CPU must run both kernels' instructions (the caller names where that is checked),
/// and each kernel must honour the contract of kernels/*/gemm_*.S for its `mr` x `nr_max`
/// tile: for 1 <= mr <= tile.mr (exactly tile.mr for `full` when there is a `tail`),
/// 1 <= nr <= nr_max, kc >= 1 it reads exactly rows 0..mr of `a` (kc floats each) and
/// (kc + 1) x nr_max panel floats, and writes exactly C[0..mr][0..nr]. Everything else is
/// checked here: [`GemmArgs::check`] puts all `mr` rows of `a` and `c` and the panel
/// inside their slice and view, and each tile below passes the rows from its first one
/// on, at most its kernel's rows, exactly `full.mr` when a tail takes the rest; `c` is an
/// exclusive borrow, so it overlaps neither `a` nor the panel.
#[cfg(sepconv_asm)]
pub(crate) unsafe fn call_asm(
    full: AsmTile,
    tail: Option<AsmTile>,
    nr_max: usize,
    args: GemmArgs<'_, '_>,
) -> Result<()> {
    let (lda_bytes, ldc_bytes) = args.check(nr_max)?;
    let (rows, lda) = (args.mr, args.lda);
    let mut c_all = args.c;
    // The next panel is packed right after this one (after a layer's last panel, a
    // model packs the next layer's first: `Model::build`). While the tiles of this call
    // reuse their panel from L1/L2, each prefetches a slice of the next one into L2, so
    // the next call's first tile does not wait on L3 line by line (the weights of the
    // large layers are read once per run and outgrow L2; the gain is in
    // docs/performance.md). Tile after tile the slices follow each other around the next
    // panel.
    let panel_bytes = (args.kc + 1) * nr_max * 4;
    let full_rows = match tail {
        Some(_) => rows - rows % full.mr,
        None => rows,
    };
    let next = args.panel.as_ptr().cast::<u8>().wrapping_add(panel_bytes);
    let mut offset = 0;
    let mut i0 = 0;
    while i0 < rows {
        let tile = if i0 < full_rows {
            full
        } else {
            tail.unwrap_or(full)
        };
        let mr = tile.mr.min(rows - i0);
        let params = AsmParams {
            min: args.clamp.min,
            max: args.clamp.max,
            prefetch: next.wrapping_add(offset),
        };
        // A tile prefetches 64 x lines bytes per 4 k steps, at most the panel's 16 x
        // nr_max (every kernel's lines <= nr_max / 4), so one wrap suffices. No division
        // per tile: a 64-bit divide is a good part of a short-K tile's time.
        offset += tile.prefetch_lines * 16 * args.kc;
        if offset >= panel_bytes {
            offset -= panel_bytes;
        }
        // In bounds: i0 < rows, and `check` put row rows - 1 inside `a` and the view.
        let a = &args.a[i0 * lda..];
        let mut c = c_all.sub(i0..rows, 0..args.nr);
        // SAFETY: rows i0 .. i0 + mr of `a` and `c` are rows 0..mr of `a` and of the view
        // `c` (rows and nr columns at the view's stride, exclusively borrowed, so
        // overlapping neither `a` nor the panel), inside them by `check` (rows <=
        // `args.mr`); the panel, nr and kc were checked by `check`; mr is at most the
        // tile's rows, and exactly `full.mr` for a full tile when a tail takes the rest
        // (i0 < full_rows, a multiple of full.mr); CPU support is promised by the caller.
        unsafe {
            (tile.kernel)(
                mr,
                args.nr,
                args.kc,
                a.as_ptr(),
                lda_bytes,
                args.panel.as_ptr(),
                c.as_mut_ptr(),
                ldc_bytes,
                &params,
            )
        }
        i0 += mr;
    }
    Ok(())
}

/// The operands of one microkernel call: one packed panel against `mr` rows of A.
///
/// `panel` is one packed B panel: `nr_max` biases, then `kc` rows of `nr_max` weights
/// (`nr_max` = the kernel's NR). `a` holds `mr` rows of stride `lda` (`kc` floats used
/// per row); `c` is a view of at least `mr` rows and `nr` columns, of which exactly
/// those are written. `mr` may be any number of rows: the kernel walks them in tiles of its MR
/// after checking the whole call once, so per-call checks are paid once per panel and M
/// block, not once per register tile (which matters at short K).
#[derive(Debug)]
pub struct GemmArgs<'a, 'c> {
    pub mr: usize,
    pub nr: usize,
    pub kc: usize,
    pub a: &'a [f32],
    pub lda: usize,
    pub panel: &'a [f32],
    pub c: MatMut<'c>,
    pub clamp: Clamp,
}

/// A safe microkernel entry: checks every precondition, then computes the tile.
pub type GemmUkernel = fn(GemmArgs<'_, '_>) -> Result<()>;

/// A GEMM microkernel with its register tile.
#[derive(Debug, Clone, Copy)]
pub struct GemmKernel {
    pub id: KernelId,
    /// Safe to call on any CPU: each entry checks the CPU it needs first.
    pub ukernel: GemmUkernel,
    /// Rows of the register tile: `ukernel` computes rows in groups of MR, so row counts
    /// that are multiples of it waste nothing (threads split rows on it).
    pub mr: usize,
    /// Columns per packed panel (the most `nr` may be).
    pub nr: usize,
    /// (rung, relative time per packed column at equal rows and K there; the rung's wide
    /// tile is 1.0), measured by `benches/pointwise.rs`: a kernel is a candidate on the
    /// rungs it lists. [`crate::ops::pointwise::PackedGemmB::new`] picks the candidate of
    /// least `ceil(n / nr) * nr * cost` for a layer of width n.
    pub costs: &'static [(Isa, f32)],
    /// Whether a single row (the classifier at batch 1) runs through `ukernel` rather
    /// than the portable one-row loop of [`crate::ops::pointwise`]: true where the
    /// kernel's own one-row loop is faster than that loop (docs/kernels.md).
    pub one_row: bool,
}

impl GemmKernel {
    /// Its cost per packed column on `rung`, if it is a candidate there.
    pub fn col_cost(&self, rung: Isa) -> Option<f32> {
        self.costs.iter().find(|(r, _)| *r == rung).map(|(_, c)| *c)
    }
}

impl Kernel for GemmKernel {
    fn id(&self) -> &KernelId {
        &self.id
    }
}

/// Every GEMM microkernel, each rung's wide tile first.
pub static TABLE: &[GemmKernel] = &[
    #[cfg(all(target_arch = "x86_64", sepconv_asm))]
    x86::AVX512_14X32,
    #[cfg(all(target_arch = "x86_64", sepconv_asm))]
    x86::AVX512_12X16,
    #[cfg(all(target_arch = "x86_64", sepconv_asm))]
    x86::AVX2_6X16,
    #[cfg(all(target_arch = "aarch64", sepconv_asm))]
    neon::NEON_8X8,
    scalar::SCALAR_4X8,
];

/// The GEMM candidates for `cpu`: the rung of its chain nearest the top that some kernel
/// it runs lists a cost for, and those kernels, in table order (the wide tile first).
pub fn candidates(cpu: Cpu) -> (Isa, Vec<&'static GemmKernel>) {
    for rung in cpu.isa.chain() {
        let found: Vec<&'static GemmKernel> = TABLE
            .iter()
            .filter(|g| g.id.runs_on(cpu) && g.col_cost(rung).is_some())
            .collect();
        if !found.is_empty() {
            return (rung, found);
        }
    }
    (Isa::Scalar, vec![&scalar::SCALAR_4X8])
}

impl GemmArgs<'_, '_> {
    /// Checks that the operands fit a kernel of panel width `nr_max`: every read and
    /// write the kernel makes stays inside the slices. Byte strides are returned for the
    /// assembly.
    pub fn check(&self, nr_max: usize) -> Result<(usize, usize)> {
        let bad = |what: String| Err(Error::Shape(format!("gemm microkernel: {what}")));
        if self.mr == 0 {
            return bad("mr is 0".into());
        }
        if self.nr == 0 || self.nr > nr_max {
            return bad(format!("nr {} outside 1..={nr_max}", self.nr));
        }
        if self.kc == 0 {
            return bad("kc is 0".into());
        }
        if self.lda < self.kc {
            return bad(format!("lda {} < kc {}", self.lda, self.kc));
        }
        if self.c.rows() < self.mr || self.c.cols() < self.nr {
            return bad(format!(
                "c has {} x {}, too few for {} x {}",
                self.c.rows(),
                self.c.cols(),
                self.mr,
                self.nr
            ));
        }
        let need = |rows: usize, stride: usize, cols: usize| {
            (rows - 1)
                .checked_mul(stride)
                .and_then(|x| x.checked_add(cols))
        };
        match need(self.mr, self.lda, self.kc) {
            Some(n) if n <= self.a.len() => {}
            _ => return bad(format!("a has {} floats, too few", self.a.len())),
        }
        match (self.kc + 1).checked_mul(nr_max) {
            Some(n) if n <= self.panel.len() => {}
            _ => return bad(format!("panel has {} floats, too few", self.panel.len())),
        }
        self.clamp.check()?;
        match (self.lda.checked_mul(4), self.c.stride().checked_mul(4)) {
            (Some(a), Some(c)) => Ok((a, c)),
            _ => bad("stride overflows".into()),
        }
    }
}
