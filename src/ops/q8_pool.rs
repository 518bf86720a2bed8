//! Int8 global average pool: per image and channel, the sum of `x - zp_in` over the map,
//! requantized with `s_in / (s_out * h * w)` ([`crate::quant::requantize`]). The channel
//! loop over one pixel's bytes is what the compiler vectorises; the op is a small share
//! of a network (one read of the last feature map).

use crate::quant::{requantize, OutQ};
use crate::{Error, Result};

/// `n` maps of `hw` pixels x `c` channels (dense) into `n` x `c` bytes; `sums` is scratch
/// of at least `c` i32.
#[allow(clippy::too_many_arguments)]
pub fn q8_global_avg_pool(
    input: &[u8],
    n: usize,
    hw: usize,
    c: usize,
    zp_in: i32,
    scale: f32,
    out_q: OutQ,
    out: &mut [u8],
    sums: &mut [i32],
) -> Result<()> {
    if input.len() < n * hw * c || out.len() < n * c || sums.len() < c || hw == 0 {
        return Err(Error::Shape(format!(
            "q8 average pool: input {} for {n}x{hw}x{c}, output {}, scratch {}",
            input.len(),
            out.len(),
            sums.len()
        )));
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(Error::Shape(format!("q8 average pool: scale {scale}")));
    }
    let sums = &mut sums[..c];
    for b in 0..n {
        // The zero point once per channel, not per pixel: the same wrapping sum.
        sums.fill((hw as i32).wrapping_mul(zp_in).wrapping_neg());
        for px in input[b * hw * c..(b + 1) * hw * c].chunks_exact(c) {
            for (s, &v) in sums.iter_mut().zip(px) {
                *s = s.wrapping_add(i32::from(v));
            }
        }
        for (o, &s) in out[b * c..(b + 1) * c].iter_mut().zip(sums.iter()) {
            *o = requantize(s, scale, out_q);
        }
    }
    Ok(())
}
