//! Int8 GEMM microkernels (the q8 pointwise layers and the classifier):
//! `C[m][n] = requantize(bias[n] + sum_k (A[m][k] - zp_in) * W[n][k], scale[n])` with u8
//! A (activations, rows at a stride), s8 weights packed into panels, and either u8
//! requantized or raw i32 outputs ([`Q8Out`]). Numerics: [`crate::quant`].
//!
//! The packed weights ([`PackedQ8B`]) are panels of `nr` output channels, each
//! `nr` i32 biases (with the zero-point terms folded in: [`crate::quant::fold_bias`]),
//! `nr` f32 scales, then `ceil(k / kr)` groups of `[nr][kr]` weights (s8, or s8 widened to
//! i16 little-endian for the kernels that multiply 16-bit pairs), zero-padded past `k` and
//! past the last channel. The layout is a kernel's: `nr`, `kr`, `wide` and `a_offset` come
//! from its descriptor, so a panel is packed for the kernel that runs it.

#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

use super::cpu::Cpu;
use super::table::{Kernel, KernelId};
use crate::quant::{check_scales, fold_bias, OutQ};
use crate::{Error, Result};

/// One int8 GEMM kernel: its tile and its packing.
#[derive(Debug)]
pub struct Q8GemmKernel {
    pub id: KernelId,
    /// Rows of its register tile (it computes any number of rows, in tiles of up to `mr`).
    pub mr: usize,
    /// Output channels per packed panel (columns of the register tile).
    pub nr: usize,
    /// K values per packed group: 4 for the 4-way dot products (`vpdpbusd`, `sdot`), 2
    /// for 16-bit pairs (`vpmaddwd`), 1 for one product per lane.
    pub kr: usize,
    /// Weights widened to i16 at pack time (the kernels that multiply 16-bit lanes).
    pub wide: bool,
    /// What the kernel subtracts from every A byte before multiplying (128 where it flips
    /// u8 to s8 with an xor for a signed dot product), folded into the packed bias.
    pub a_offset: i32,
    /// Computes `args` (all its rows, one panel).
    pub run: fn(Q8GemmArgs<'_, '_>) -> Result<()>,
}

impl Kernel for Q8GemmKernel {
    fn id(&self) -> &KernelId {
        &self.id
    }
}

impl Q8GemmKernel {
    /// K rounded up to whole groups: what the kernel reads of each A row.
    pub fn k_padded(&self, k: usize) -> usize {
        k.div_ceil(self.kr) * self.kr
    }

    /// Bytes of one packed panel for `k` (a multiple of 64, so panels stay aligned).
    pub fn panel_bytes(&self, k: usize) -> usize {
        let elem = if self.wide { 2 } else { 1 };
        (self.nr * 8 + self.k_padded(k) * self.nr * elem).next_multiple_of(64)
    }
}

/// The outputs of one call: requantized u8, or the raw i32 accumulators (the classifier's,
/// dequantized to f32 logits by its caller; and tests).
pub enum Q8Out<'c> {
    U8 { c: &'c mut [u8], out: OutQ },
    I32 { c: &'c mut [i32] },
}

impl Q8Out<'_> {
    /// Elements in the buffer.
    pub fn len(&self) -> usize {
        match self {
            Q8Out::U8 { c, .. } => c.len(),
            Q8Out::I32 { c } => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One call of a kernel: `m` rows of A times one packed panel into `n <= nr` columns.
/// Row `i` of A starts at `i * a_stride >= k` and the kernel reads `k_padded(k)` bytes
/// from there (past `k` they meet zero weights, whatever they hold);
/// row `i` of C starts at `i * c_stride` (elements) and the kernel writes exactly `n` of
/// them.
pub struct Q8GemmArgs<'a, 'c> {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a: &'a [u8],
    pub a_stride: usize,
    pub panel: &'a [u8],
    pub c: Q8Out<'c>,
    pub c_stride: usize,
}

impl Q8GemmArgs<'_, '_> {
    /// Checks that every read and write of `kernel` on these arguments stays inside its
    /// slices: what each kernel's safe entry calls before its `unsafe` code.
    pub fn check(&self, kernel: &Q8GemmKernel) -> Result<()> {
        let kp = kernel.k_padded(self.k);
        let bad = |what: String| Err(Error::Shape(format!("{}: {what}", kernel.id.name)));
        if self.m == 0 || self.k == 0 || self.n == 0 || self.n > kernel.nr {
            return bad(format!(
                "m {} k {} n {} (1..={} columns)",
                self.m, self.k, self.n, kernel.nr
            ));
        }
        // Rows may be dense (stride k) with the kernel reading past k into the next row
        // (those bytes meet zero weights): only the last row needs the slack.
        if self.a_stride < self.k || self.a.len() < (self.m - 1) * self.a_stride + kp {
            return bad(format!(
                "A of {} bytes at stride {} for {} rows of {kp}",
                self.a.len(),
                self.a_stride,
                self.m
            ));
        }
        if self.panel.len() < kernel.panel_bytes(self.k) {
            return bad(format!(
                "panel of {} bytes for k {}",
                self.panel.len(),
                self.k
            ));
        }
        if self.c_stride < self.n || self.c.len() < (self.m - 1) * self.c_stride + self.n {
            return bad(format!(
                "C of {} at stride {} for {} rows of {}",
                self.c.len(),
                self.c_stride,
                self.m,
                self.n
            ));
        }
        Ok(())
    }
}

/// The int8 GEMM kernels, best first.
pub static TABLE: &[Q8GemmKernel] = &[
    #[cfg(target_arch = "x86_64")]
    x86::VNNI512,
    #[cfg(target_arch = "x86_64")]
    x86::AVX_VNNI,
    #[cfg(target_arch = "x86_64")]
    x86::AVX2,
    #[cfg(all(target_arch = "aarch64", sepconv_asm))]
    neon::DOTPROD_5X16C4,
    #[cfg(all(target_arch = "aarch64", sepconv_asm))]
    neon::NEON_4X16,
    scalar::SCALAR,
];

/// The kernel `cpu` runs: the first entry of [`TABLE`] it has.
pub fn best(cpu: Cpu) -> &'static Q8GemmKernel {
    super::table::best(TABLE, cpu, |_| true).unwrap_or(&scalar::SCALAR)
}

/// Weights `[n][k]` (s8), bias and scales per output channel, packed for one kernel.
pub struct PackedQ8B {
    kernel: &'static Q8GemmKernel,
    bytes: Vec<u8>,
    /// Where the 64-byte aligned panels start in `bytes`.
    start: usize,
    k: usize,
    n: usize,
}

impl PackedQ8B {
    /// Packs for `kernel`: `weights[c * k + i]`, `bias[c]` (i32, scale `s_in * s_w[c]`),
    /// `scale[c]` (the requantization scale `s_in * s_w[c] / s_out`, or the dequantization
    /// scale `s_in * s_w[c]` for raw outputs turned into f32), and the input zero point.
    pub fn new(
        kernel: &'static Q8GemmKernel,
        weights: &[i8],
        k: usize,
        bias: &[i32],
        scale: &[f32],
        zp_in: i32,
    ) -> Result<PackedQ8B> {
        let n = bias.len();
        if k == 0 || n == 0 || weights.len() != n * k {
            return Err(Error::Shape(format!(
                "q8 pointwise: {} weights for {n} channels of {k} inputs",
                weights.len()
            )));
        }
        check_scales(scale, n, "q8 pointwise")?;
        if !(0..=255).contains(&zp_in) {
            return Err(Error::Shape(format!(
                "q8 pointwise: input zero point {zp_in} outside 0..=255"
            )));
        }
        let (nr, kr) = (kernel.nr, kernel.kr);
        let kp = kernel.k_padded(k);
        let panel = kernel.panel_bytes(k);
        let panels = n.div_ceil(nr);
        let mut bytes = vec![0u8; panels * panel + 64];
        let start = bytes.as_ptr().align_offset(64).min(64);
        for p in 0..panels {
            let base = start + p * panel;
            let dst = &mut bytes[base..base + panel];
            for j in 0..nr.min(n - p * nr) {
                let c = p * nr + j;
                let row = &weights[c * k..(c + 1) * k];
                let b = fold_bias(bias[c], row.iter().copied(), zp_in, kernel.a_offset);
                dst[j * 4..j * 4 + 4].copy_from_slice(&b.to_le_bytes());
                dst[nr * 4 + j * 4..nr * 4 + j * 4 + 4].copy_from_slice(&scale[c].to_le_bytes());
                // Group by group: `kr` weights of this channel at `(g * nr + j) * kr`.
                let weights = &mut dst[nr * 8..];
                for (g, group) in row.chunks(kr).enumerate() {
                    let e = (g * nr + j) * kr;
                    if kernel.wide {
                        let at = &mut weights[e * 2..(e + group.len()) * 2];
                        for (d, &w) in at.chunks_exact_mut(2).zip(group) {
                            d.copy_from_slice(&i16::from(w).to_le_bytes());
                        }
                    } else {
                        for (d, &w) in weights[e..e + group.len()].iter_mut().zip(group) {
                            *d = w as u8;
                        }
                    }
                }
            }
            debug_assert!(nr * 8 + kp * nr * if kernel.wide { 2 } else { 1 } <= panel);
        }
        Ok(PackedQ8B {
            kernel,
            bytes,
            start,
            k,
            n,
        })
    }

    pub fn kernel(&self) -> &'static Q8GemmKernel {
        self.kernel
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of panels.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(self.kernel.nr)
    }

    /// Panel `p` (64-byte aligned).
    pub fn panel(&self, p: usize) -> &[u8] {
        let size = self.kernel.panel_bytes(self.k);
        &self.bytes[self.start + p * size..self.start + (p + 1) * size]
    }
}

/// `m` rows of A (`a_stride` bytes apart) times all of `b` into C (`c_stride` elements
/// apart, `b.n()` columns written per row): panel after panel, each over all rows.
pub fn gemm(
    b: &PackedQ8B,
    a: &[u8],
    m: usize,
    a_stride: usize,
    mut c: Q8Out<'_>,
    c_stride: usize,
) -> Result<()> {
    let kernel = b.kernel;
    let nr = kernel.nr;
    let clen = c.len();
    if m == 0 || c_stride < b.n || clen < (m - 1) * c_stride + b.n {
        return Err(Error::Shape(format!(
            "q8 gemm: C of {clen} at stride {c_stride} for {m} rows of {}",
            b.n
        )));
    }
    for p in 0..b.panels() {
        let n = nr.min(b.n - p * nr);
        let c = match &mut c {
            Q8Out::U8 { c, out } => Q8Out::U8 {
                c: &mut c[p * nr..],
                out: *out,
            },
            Q8Out::I32 { c } => Q8Out::I32 {
                c: &mut c[p * nr..],
            },
        };
        (kernel.run)(Q8GemmArgs {
            m,
            n,
            k: b.k,
            a,
            a_stride,
            panel: b.panel(p),
            c,
            c_stride,
        })?;
    }
    Ok(())
}

/// Reads the i32 bias and f32 scale of column `j` of a panel of `nr` columns (for the
/// portable kernels; the SIMD ones load them as vectors).
pub(crate) fn panel_bias_scale(panel: &[u8], nr: usize, j: usize) -> (i32, f32) {
    let b = i32::from_le_bytes(panel[j * 4..j * 4 + 4].try_into().unwrap_or([0; 4]));
    let at = nr * 4 + j * 4;
    let s = f32::from_le_bytes(panel[at..at + 4].try_into().unwrap_or([0; 4]));
    (b, s)
}
