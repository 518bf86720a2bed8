//! Int8 global average pool: per image and channel, the sum of `x - zp_in` over the map,
//! requantized with `s_in / (s_out * h * w)` ([`crate::quant::requantize`]), or one of
//! TFLite's pool arithmetics ([`Q8PoolMode`]). The channel loop over one pixel's bytes is
//! what the compiler vectorises; the op is a small share of a network (one read of the
//! last feature map).

use crate::net::q8::Q8PoolMode;
use crate::quant::{requantize, OutQ};
use crate::{Error, Result};

/// Below this many pixels an i32 sum of s8 codes stays under 2^24, so converting it to
/// f32 equals TFLite's f32 running sum exactly.
const EXACT_F32_SUM_PIXELS: usize = (1 << 24) / 128;

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
    q8_global_avg_pool_mode(
        input,
        n,
        hw,
        c,
        zp_in,
        scale,
        out_q,
        Q8PoolMode::Requantize,
        out,
        sums,
    )
}

/// [`q8_global_avg_pool`] in the arithmetic of `mode` (equal to
/// `reference::q8::q8_global_avg_pool_mode` bit for bit).
#[allow(clippy::too_many_arguments)]
pub fn q8_global_avg_pool_mode(
    input: &[u8],
    n: usize,
    hw: usize,
    c: usize,
    zp_in: i32,
    scale: f32,
    out_q: OutQ,
    mode: Q8PoolMode,
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
    if mode != Q8PoolMode::Requantize {
        return tflite_pool(input, n, hw, c, out_q, mode, out, sums);
    }
    let sums = &mut sums[..c];
    for b in 0..n {
        channel_sums(&input[b * hw * c..(b + 1) * hw * c], zp_in, sums);
        for (o, &s) in out[b * c..(b + 1) * c].iter_mut().zip(sums.iter()) {
            *o = requantize(s, scale, out_q);
        }
    }
    Ok(())
}

/// Per channel of `sums`, the wrapping sum of `x - zp` over the pixels of `image`. The
/// zero point goes in once per channel, not per pixel: the same wrapping sum.
fn channel_sums(image: &[u8], zp: i32, sums: &mut [i32]) {
    if sums.is_empty() {
        return;
    }
    let pixels = (image.len() / sums.len()) as i32;
    sums.fill(pixels.wrapping_mul(zp).wrapping_neg());
    for px in image.chunks_exact(sums.len()) {
        for (s, &v) in sums.iter_mut().zip(px) {
            *s = s.wrapping_add(i32::from(v));
        }
    }
}

/// The TFLite modes: sums of the s8 codes (`x - 128`), then per channel as the reference.
#[allow(clippy::too_many_arguments)]
fn tflite_pool(
    input: &[u8],
    n: usize,
    hw: usize,
    c: usize,
    out_q: OutQ,
    mode: Q8PoolMode,
    out: &mut [u8],
    sums: &mut [i32],
) -> Result<()> {
    let sums = &mut sums[..c];
    for b in 0..n {
        let image = &input[b * hw * c..(b + 1) * hw * c];
        channel_sums(image, 128, sums);
        for (ch, (o, &s)) in out[b * c..(b + 1) * c]
            .iter_mut()
            .zip(sums.iter())
            .enumerate()
        {
            *o = match mode {
                Q8PoolMode::TfliteMean {
                    ordinary,
                    scale,
                    bias,
                } => {
                    let sum = if hw < EXACT_F32_SUM_PIXELS {
                        s as f32
                    } else {
                        // TFLite's running f32 sum rounds once it passes 2^24.
                        image
                            .iter()
                            .skip(ch)
                            .step_by(c)
                            .fold(0f32, |a, &v| a + (i32::from(v) - 128) as f32)
                    };
                    let mean = sum / hw as f32;
                    let r = if ordinary {
                        f64::from(mean).round() as i32 as i8
                    } else {
                        let r = f64::from(mean * scale + bias).round() as i32 as i8;
                        (i32::from(r) + out_q.zero_point - 128) as i8
                    };
                    (i32::from(r) + 128) as u8
                }
                Q8PoolMode::TfliteMeanGeneral { scale, bias } => {
                    let mean = s as f32 / hw as f32;
                    let r = (mean * scale + bias).round() + (out_q.zero_point - 128) as f32;
                    (r.clamp(-128.0, 127.0) as i32 + 128) as u8
                }
                _ => {
                    let count = hw as i32;
                    let avg = if s > 0 {
                        (s + count / 2) / count
                    } else {
                        (s - count / 2) / count
                    };
                    (avg.clamp(i32::from(out_q.lo) - 128, i32::from(out_q.hi) - 128) + 128) as u8
                }
            };
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::QParams;

    /// Every mode equals the reference, including a map past the exact-f32-sum size.
    #[test]
    fn modes_equal_the_reference() {
        let q = |s: f32, zp: i32| QParams::new(s, zp, "t").unwrap();
        let modes = [
            Q8PoolMode::Requantize,
            Q8PoolMode::tflite_mean(q(0.05, 131), q(0.05, 131)),
            Q8PoolMode::tflite_mean(q(0.05, 131), q(0.021, 97)),
            Q8PoolMode::tflite_mean(q(0.3, 0), q(0.0011, 255)),
            Q8PoolMode::tflite_mean_general(q(0.05, 131), q(0.021, 97)),
            Q8PoolMode::TfliteAvgPool,
        ];
        let mut seed = 12345u32;
        let mut next = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 24) as u8
        };
        for (n, hw, c) in [
            (1, 1, 1),
            (2, 49, 13),
            (1, 7, 70),
            (1, EXACT_F32_SUM_PIXELS + 3, 2),
        ] {
            let x: Vec<u8> = (0..n * hw * c).map(|_| next()).collect();
            for (mi, &mode) in modes.iter().enumerate() {
                for out in [OutQ::full(97), OutQ::new(131, 131, 200).unwrap()] {
                    let want = crate::reference::q8::q8_global_avg_pool_mode(
                        &x, n, hw, c, 131, 0.013, out, mode,
                    )
                    .unwrap();
                    let mut got = vec![0u8; n * c];
                    let mut sums = vec![0i32; c];
                    q8_global_avg_pool_mode(
                        &x, n, hw, c, 131, 0.013, out, mode, &mut got, &mut sums,
                    )
                    .unwrap();
                    assert_eq!(got, want, "mode {mi} n {n} hw {hw} c {c}");
                }
            }
        }
    }
}
