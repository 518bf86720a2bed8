//! Portable GEMM microkernel for CPUs without a hand-written one (and the fallback where
//! the assembly is not built). Plain Rust over fixed-size accumulators, which the
//! compiler keeps in registers and vectorises with the baseline SIMD.

use super::{GemmArgs, GemmKernel};
use crate::activation::Clamp;
use crate::kernels::cpu::{Features, Isa};
use crate::kernels::mat::MatMut;
use crate::kernels::table::KernelId;
use crate::Result;

pub const MR: usize = 4;
pub const NR: usize = 8;

pub const SCALAR_4X8: GemmKernel = GemmKernel {
    id: KernelId {
        name: "f32_gemm_4x8_scalar",
        isa: Isa::Scalar,
        features: Features::NONE,
        detail: "rust",
    },
    ukernel: gemm,
    mr: MR,
    nr: NR,
    costs: &[(Isa::Scalar, 1.0)],
    one_row: false,
};

/// All `mr` rows of `args`, in tiles of MR rows.
pub fn gemm(args: GemmArgs<'_, '_>) -> Result<()> {
    args.check(NR)?;
    let GemmArgs {
        mr: rows,
        nr,
        kc,
        a,
        lda,
        panel,
        mut c,
        clamp,
    } = args;
    for i0 in (0..rows).step_by(MR) {
        tile(
            MR.min(rows - i0),
            nr,
            kc,
            &a[i0 * lda..],
            lda,
            panel,
            c.sub(i0..rows, 0..nr),
            clamp,
        );
    }
    Ok(())
}

/// One tile of `mr` <= MR rows; the operands were checked by [`gemm`].
#[allow(clippy::too_many_arguments)]
fn tile(
    mr: usize,
    nr: usize,
    kc: usize,
    a: &[f32],
    lda: usize,
    panel: &[f32],
    mut c: MatMut<'_>,
    clamp: Clamp,
) {
    let mut acc = [[0.0f32; NR]; MR];
    for row in acc.iter_mut() {
        row.copy_from_slice(&panel[..NR]);
    }
    for (kk, b) in panel[NR..(kc + 1) * NR].chunks_exact(NR).enumerate() {
        for (i, row) in acc.iter_mut().enumerate().take(mr) {
            let x = a[i * lda + kk];
            for (acc, &w) in row.iter_mut().zip(b) {
                // Multiply then add: the baseline target may lack FMA (`mul_add` would
                // call libm).
                *acc += x * w;
            }
        }
    }
    for (i, row) in acc.iter().enumerate().take(mr) {
        // `gemm` checked that the view has mr rows of nr columns.
        let out = c.row_mut(i).unwrap_or_default();
        for (out, &v) in out[..nr].iter_mut().zip(row) {
            *out = clamp.apply(v);
        }
    }
}
