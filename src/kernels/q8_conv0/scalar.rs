//! The portable int8 direct conv0: plain Rust over the packed layout with 8-channel
//! blocks (so the layout is checked on every CPU), and the per-value quantizer.

use super::{full_groups, has_tail, Q8Conv0Args, Q8Conv0Kernel};
use crate::kernels::cpu::{Features, Isa};
use crate::kernels::table::KernelId;
use crate::net::q8::InputRounding;
use crate::quant::{requantize, QParams};
use crate::{Error, Result};

pub const SCALAR: Q8Conv0Kernel = Q8Conv0Kernel {
    id: KernelId {
        name: "q8_conv0_8c_scalar",
        isa: Isa::Scalar,
        features: Features::NONE,
        detail: "portable Rust, one pixel x 8 channels of 4-tap groups read from padded rows",
    },
    block: 8,
    tail_block: 8,
    run,
    quantize,
};

fn run(a: Q8Conv0Args<'_>) -> Result<()> {
    a.check(&SCALAR)?;
    let (c, oc) = (a.in_c, a.out_c);
    let g = full_groups(c);
    let per = Q8Conv0Kernel::bytes_per_channel(c);
    let dot = |acc: &mut [i32; 8], x: &[u8], w: &[u8]| {
        for (i, acc) in acc.iter_mut().enumerate() {
            for t in 0..4 {
                let prod = i32::from(x[t]) * i32::from(w[4 * i + t] as i8);
                *acc = acc.wrapping_add(prod);
            }
        }
    };
    for (c0, b) in SCALAR.blocks(oc) {
        let p = &a.packed[c0 * per..(c0 + b) * per];
        let n = b.min(oc - c0);
        for ox in 0..a.out_w {
            let at = ox * a.stride * c;
            let mut acc = [0i32; 8];
            for (i, acc) in acc.iter_mut().enumerate() {
                *acc = i32::from_le_bytes(p[4 * i..4 * i + 4].try_into().unwrap_or([0; 4]));
            }
            for (ky, row) in a.rows.iter().enumerate() {
                for d in 0..g {
                    let x = &row[at + 4 * d..at + 4 * d + 4];
                    dot(&mut acc, x, &p[8 * b + (ky * g + d) * 4 * b..]);
                }
            }
            if has_tail(c) {
                let x = a.rows.map(|r| r[at + 4 * g]);
                dot(
                    &mut acc,
                    &[x[0], x[1], x[2], 0],
                    &p[8 * b + 3 * g * 4 * b..],
                );
            }
            let dst = &mut a.out[ox * oc + c0..ox * oc + c0 + n];
            for (i, d) in dst.iter_mut().enumerate() {
                let s = f32::from_le_bytes(
                    p[4 * b + 4 * i..4 * b + 4 * i + 4]
                        .try_into()
                        .unwrap_or([0; 4]),
                );
                *d = requantize(acc[i], s, a.out_q);
            }
        }
    }
    Ok(())
}

/// [`InputRounding::quantize_slice`] with the lengths checked.
pub fn quantize(src: &[f32], dst: &mut [u8], q: QParams, rounding: InputRounding) -> Result<()> {
    if src.len() != dst.len() {
        return Err(Error::Shape(format!(
            "quantize: {} values into {} codes",
            src.len(),
            dst.len()
        )));
    }
    rounding.quantize_slice(q, src, dst);
    Ok(())
}
