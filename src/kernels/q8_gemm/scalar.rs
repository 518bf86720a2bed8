//! The portable int8 GEMM: plain Rust over the packed panel layout, for any CPU; the
//! compiler's baseline vectorises the inner loop.

use super::{panel_bias_scale, Q8GemmArgs, Q8GemmKernel, Q8Out};
use crate::kernels::cpu::{Features, Isa};
use crate::kernels::table::KernelId;
use crate::quant::requantize;
use crate::Result;

const NR: usize = 8;
const KR: usize = 4;

pub const SCALAR: Q8GemmKernel = Q8GemmKernel {
    id: KernelId {
        name: "q8_gemm_1x8c4_scalar",
        isa: Isa::Scalar,
        features: Features::NONE,
        detail: "portable Rust, one row at a time over 8-channel panels of 4-value groups",
    },
    mr: 1,
    nr: NR,
    kr: KR,
    wide: false,
    a_offset: 0,
    run,
};

fn run(args: Q8GemmArgs<'_, '_>) -> Result<()> {
    args.check(&SCALAR)?;
    let groups = SCALAR.k_padded(args.k) / KR;
    let weights = &args.panel[NR * 8..];
    let mut c = args.c;
    for r in 0..args.m {
        let a = &args.a[r * args.a_stride..r * args.a_stride + groups * KR];
        let mut acc = [0i32; NR];
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = panel_bias_scale(args.panel, NR, j).0;
        }
        for g in 0..groups {
            let w = &weights[g * NR * KR..(g + 1) * NR * KR];
            let x = &a[g * KR..(g + 1) * KR];
            for (j, acc) in acc.iter_mut().enumerate() {
                for t in 0..KR {
                    let p = i32::from(x[t]) * i32::from(w[j * KR + t] as i8);
                    *acc = acc.wrapping_add(p);
                }
            }
        }
        let row = r * args.c_stride;
        match &mut c {
            Q8Out::U8 { c, out } => {
                for j in 0..args.n {
                    let scale = panel_bias_scale(args.panel, NR, j).1;
                    c[row + j] = requantize(acc[j], scale, *out);
                }
            }
            Q8Out::I32 { c } => c[row..row + args.n].copy_from_slice(&acc[..args.n]),
        }
    }
    Ok(())
}
