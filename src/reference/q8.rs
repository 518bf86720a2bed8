//! Naive int8 (q8) NHWC operators with the numerics of [`crate::quant`]: u8 activations
//! with a zero point, s8 weights, i32 bias, wrapping i32 sums of `(x - zp_in) * w`, and
//! [`requantize`] per output channel. The oracle every q8 kernel must equal bit for bit.

use crate::geometry::{conv_output_len, Padding};
use crate::net::q8::Q8PoolMode;
use crate::quant::{requantize, OutQ};
use crate::{Error, Result};

/// A quantized convolution: weights OHWI (`[out_c][kh][kw][in_c / groups]`), `groups`
/// 1 (full), `in_c` (depthwise, multiplier `out_c / in_c`) or anything dividing both.
#[derive(Clone, Copy, Debug)]
pub struct Q8Conv {
    pub kernel: (usize, usize),
    pub stride: usize,
    pub pad: Padding,
    pub groups: usize,
    pub out_c: usize,
}

/// A u8 NHWC batch: `data.len() == n * h * w * c`, values with zero point `zp`.
#[derive(Clone, Copy, Debug)]
pub struct Q8Input<'a> {
    pub data: &'a [u8],
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub zp: i32,
}

/// The convolution's output `[n][oh][ow][out_c]` and its (oh, ow). Taps in the padding
/// contribute nothing (they stand for real 0). `scale[oc]` is `s_in * s_w[oc] / s_out`.
pub fn q8_conv2d(
    x: Q8Input<'_>,
    conv: Q8Conv,
    weights: &[i8],
    bias: &[i32],
    scale: &[f32],
    out: OutQ,
) -> Result<(Vec<u8>, usize, usize)> {
    let (kh, kw) = conv.kernel;
    if conv.groups == 0
        || !x.c.is_multiple_of(conv.groups)
        || !conv.out_c.is_multiple_of(conv.groups)
    {
        return Err(Error::Shape(format!(
            "q8 conv: {} groups do not divide {} input and {} output channels",
            conv.groups, x.c, conv.out_c
        )));
    }
    let icg = x.c / conv.groups;
    let ocg = conv.out_c / conv.groups;
    if x.data.len() != x.n * x.h * x.w * x.c
        || weights.len() != conv.out_c * kh * kw * icg
        || bias.len() != conv.out_c
        || scale.len() != conv.out_c
    {
        return Err(Error::Shape("q8 conv: operand lengths do not match".into()));
    }
    let oh = conv_output_len(x.h, kh, conv.stride, conv.pad.top, conv.pad.bottom)?;
    let ow = conv_output_len(x.w, kw, conv.stride, conv.pad.left, conv.pad.right)?;
    let mut y = vec![0u8; x.n * oh * ow * conv.out_c];
    for b in 0..x.n {
        for oy in 0..oh {
            for ox in 0..ow {
                for oc in 0..conv.out_c {
                    let g = oc / ocg;
                    let mut acc = bias[oc];
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let iy = (oy * conv.stride + ky).checked_sub(conv.pad.top);
                            let ix = (ox * conv.stride + kx).checked_sub(conv.pad.left);
                            let (Some(iy), Some(ix)) = (iy, ix) else {
                                continue;
                            };
                            if iy >= x.h || ix >= x.w {
                                continue;
                            }
                            for i in 0..icg {
                                let v = x.data[((b * x.h + iy) * x.w + ix) * x.c + g * icg + i];
                                let w = weights[((oc * kh + ky) * kw + kx) * icg + i];
                                acc = acc.wrapping_add((i32::from(v) - x.zp) * i32::from(w));
                            }
                        }
                    }
                    y[((b * oh + oy) * ow + ox) * conv.out_c + oc] =
                        requantize(acc, scale[oc], out);
                }
            }
        }
    }
    Ok((y, oh, ow))
}

/// Depthwise 3x3 (multiplier 1): weights `[c][3][3]`.
pub fn q8_depthwise3x3(
    x: Q8Input<'_>,
    stride: usize,
    pad: Padding,
    weights: &[i8],
    bias: &[i32],
    scale: &[f32],
    out: OutQ,
) -> Result<(Vec<u8>, usize, usize)> {
    let conv = Q8Conv {
        kernel: (3, 3),
        stride,
        pad,
        groups: x.c,
        out_c: x.c,
    };
    q8_conv2d(x, conv, weights, bias, scale, out)
}

/// Pointwise 1x1 over `m` rows of `k` values (`x.len() == m * k`): weights `[n][k]`.
#[allow(clippy::too_many_arguments)]
pub fn q8_pointwise(
    x: &[u8],
    m: usize,
    k: usize,
    zp_in: i32,
    weights: &[i8],
    bias: &[i32],
    scale: &[f32],
    out: OutQ,
) -> Result<Vec<u8>> {
    let n = bias.len();
    let acc = q8_accumulators(x, m, k, zp_in, weights, bias)?;
    if scale.len() != n {
        return Err(Error::Shape(
            "q8 pointwise: one scale per output channel".into(),
        ));
    }
    Ok(acc
        .iter()
        .enumerate()
        .map(|(i, &a)| requantize(a, scale[i % n], out))
        .collect())
}

/// The raw i32 accumulators of a pointwise / fully connected layer: `[m][n]`, `n =
/// bias.len()`, each `bias + sum (x - zp_in) * w` wrapping.
pub fn q8_accumulators(
    x: &[u8],
    m: usize,
    k: usize,
    zp_in: i32,
    weights: &[i8],
    bias: &[i32],
) -> Result<Vec<i32>> {
    let n = bias.len();
    if x.len() != m * k || weights.len() != n * k {
        return Err(Error::Shape(
            "q8 pointwise: operand lengths do not match".into(),
        ));
    }
    let mut acc = vec![0i32; m * n];
    for r in 0..m {
        for c in 0..n {
            let mut s = bias[c];
            for i in 0..k {
                let v = i32::from(x[r * k + i]) - zp_in;
                s = s.wrapping_add(v * i32::from(weights[c * k + i]));
            }
            acc[r * n + c] = s;
        }
    }
    Ok(acc)
}

/// Fully connected with f32 (dequantized) outputs: `acc as f32 * scale[c]`, where
/// `scale[c] = s_in * s_w[c]` (the logits' real values, before softmax).
pub fn q8_fully_connected_f32(
    x: &[u8],
    m: usize,
    k: usize,
    zp_in: i32,
    weights: &[i8],
    bias: &[i32],
    scale: &[f32],
) -> Result<Vec<f32>> {
    let n = bias.len();
    if scale.len() != n {
        return Err(Error::Shape(
            "q8 fully connected: one scale per output".into(),
        ));
    }
    let acc = q8_accumulators(x, m, k, zp_in, weights, bias)?;
    Ok(acc
        .iter()
        .enumerate()
        .map(|(i, &a)| a as f32 * scale[i % n])
        .collect())
}

/// Global average pool of `[n][hw][c]`: per image and channel `requantize(sum (x -
/// zp_in), scale, out)`, `scale = s_in / (s_out * hw)`.
pub fn q8_global_avg_pool(
    x: &[u8],
    n: usize,
    hw: usize,
    c: usize,
    zp_in: i32,
    scale: f32,
    out: OutQ,
) -> Result<Vec<u8>> {
    if x.len() != n * hw * c {
        return Err(Error::Shape("q8 average pool: input length".into()));
    }
    let mut y = vec![0u8; n * c];
    for b in 0..n {
        for ch in 0..c {
            let mut acc = 0i32;
            for p in 0..hw {
                acc = acc.wrapping_add(i32::from(x[(b * hw + p) * c + ch]) - zp_in);
            }
            y[b * c + ch] = requantize(acc, scale, out);
        }
    }
    Ok(y)
}

/// The global average pool of `[n][hw][c]` in one of the peers' arithmetics
/// ([`Q8PoolMode`]): `scale` and `out` as [`q8_global_avg_pool`], `zp_out` the output's
/// zero point (u8 grid).
#[allow(clippy::too_many_arguments)]
pub fn q8_global_avg_pool_mode(
    x: &[u8],
    n: usize,
    hw: usize,
    c: usize,
    zp_in: i32,
    scale: f32,
    out: OutQ,
    mode: Q8PoolMode,
) -> Result<Vec<u8>> {
    if x.len() != n * hw * c || hw == 0 {
        return Err(Error::Shape("q8 average pool: input length".into()));
    }
    let s8 = |v: u8| i32::from(v) - 128;
    let mut y = vec![0u8; n * c];
    for b in 0..n {
        for ch in 0..c {
            let px = (0..hw).map(|p| x[(b * hw + p) * c + ch]);
            y[b * c + ch] = match mode {
                Q8PoolMode::Requantize => {
                    let acc = px.fold(0i32, |a, v| a.wrapping_add(i32::from(v) - zp_in));
                    requantize(acc, scale, out)
                }
                Q8PoolMode::TfliteMean {
                    ordinary,
                    scale,
                    bias,
                } => {
                    // A f32 running sum of the s8 codes, divided in f32.
                    let sum = px.fold(0f32, |a, v| a + s8(v) as f32);
                    let mean = sum / hw as f32;
                    // C's round() (half away from zero, in f64), then a conversion to s8
                    // that keeps the low byte, plus the zero point, wrapping again.
                    let r = if ordinary {
                        f64::from(mean).round() as i32 as i8
                    } else {
                        let r = f64::from(mean * scale + bias).round() as i32 as i8;
                        (i32::from(r) + out.zero_point - 128) as i8
                    };
                    (i32::from(r) + 128) as u8
                }
                Q8PoolMode::TfliteMeanGeneral { scale, bias } => {
                    let acc: i32 = px.map(s8).sum();
                    let mean = acc as f32 / hw as f32;
                    let r = (mean * scale + bias).round() + (out.zero_point - 128) as f32;
                    (r.clamp(-128.0, 127.0) as i32 + 128) as u8
                }
                Q8PoolMode::TfliteAvgPool => {
                    let acc: i32 = px.map(s8).sum();
                    let count = hw as i32;
                    // Rounding half away from zero with C's truncating division.
                    let avg = if acc > 0 {
                        (acc + count / 2) / count
                    } else {
                        (acc - count / 2) / count
                    };
                    let v = avg.clamp(i32::from(out.lo) - 128, i32::from(out.hi) - 128);
                    (v + 128) as u8
                }
            };
        }
    }
    Ok(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-computed depthwise output: one channel, 2x2 image, SAME-like pads.
    #[test]
    fn depthwise_by_hand() {
        let x = [10u8, 20, 30, 40];
        let input = Q8Input {
            data: &x,
            n: 1,
            h: 2,
            w: 2,
            c: 1,
            zp: 10,
        };
        // Taps 1..=9; output (0, 0) with pad 1 sees the image at taps (1,1) (1,2) (2,1)
        // (2,2) = weights 5, 6, 8, 9 on x - zp = 0, 10, 20, 30: 0 + 60 + 160 + 270 = 490.
        let w: Vec<i8> = (1..=9).collect();
        let (y, oh, ow) = q8_depthwise3x3(
            input,
            1,
            Padding::symmetric(1),
            &w,
            &[10],
            &[0.1],
            OutQ::full(3),
        )
        .unwrap();
        assert_eq!((oh, ow), (2, 2));
        // (490 + 10) * 0.1 = 50, + 3.
        assert_eq!(y[0], 53);
    }

    #[test]
    fn pointwise_and_fc_by_hand() {
        let x = [130u8, 126, 128]; // zp 128: 2, -2, 0
        let w = [3i8, 1, 7, -1, -1, -1];
        let acc = q8_accumulators(&x, 1, 3, 128, &w, &[5, -5]).unwrap();
        assert_eq!(acc, vec![5 + 6 - 2, -5 - 2 + 2]);
        let y = q8_pointwise(&x, 1, 3, 128, &w, &[5, -5], &[1.0, 1.0], OutQ::full(100)).unwrap();
        assert_eq!(y, vec![109, 95]);
        let f = q8_fully_connected_f32(&x, 1, 3, 128, &w, &[5, -5], &[0.5, 2.0]).unwrap();
        assert_eq!(f, vec![4.5, -10.0]);
    }

    #[test]
    fn tflite_pools_by_hand() {
        // s8 codes 10, 11 (u8 138, 139), then -3, -4 (u8 125, 124): hw 2, c 1.
        let x = [138u8, 139, 125, 124];
        let q = |s: f32, zp: i32| crate::quant::QParams::new(s, zp, "t").unwrap();
        // Ordinary mean: 10.5 -> 11, -3.5 -> -4 (half away from zero).
        let m = Q8PoolMode::tflite_mean(q(0.5, 130), q(0.5, 130));
        let y = q8_global_avg_pool_mode(&x, 2, 2, 1, 130, 1.0, OutQ::full(130), m).unwrap();
        assert_eq!(y, vec![139, 124]);
        // scale 2, zp_in 2 (s8): bias = -4 + 0.5; mean 10.5 -> 21 - 3.5 = 17.5 -> 18, + zp_out
        // -1 = 17; mean -3.5 -> -7 - 3.5 = -10.5 -> -11, -1 = -12.
        let m = Q8PoolMode::tflite_mean(q(1.0, 130), q(0.5, 127));
        let y = q8_global_avg_pool_mode(&x, 2, 2, 1, 130, 1.0, OutQ::full(127), m).unwrap();
        assert_eq!(y, vec![128 + 17, 128 - 12]);
        // Wrapping, not saturating: 127 * 2 - 0 + 0.5 = 254.5 -> 255 -> -1, + zp 0.
        let big = [255u8, 255];
        let m = Q8PoolMode::tflite_mean(q(1.0, 128), q(0.5, 128));
        let y = q8_global_avg_pool_mode(&big, 1, 2, 1, 128, 1.0, OutQ::full(128), m).unwrap();
        assert_eq!(y, vec![127]);
        // Average pool: 21 / 2 -> 11, -7 / 2 -> -4; clamp at s8 0 (ReLU).
        let p = Q8PoolMode::TfliteAvgPool;
        let y = q8_global_avg_pool_mode(&x, 2, 2, 1, 128, 1.0, OutQ::full(128), p).unwrap();
        assert_eq!(y, vec![139, 124]);
        let relu = OutQ::new(128, 128, 255).unwrap();
        let y = q8_global_avg_pool_mode(&x, 2, 2, 1, 128, 1.0, relu, p).unwrap();
        assert_eq!(y, vec![139, 128]);
    }

    #[test]
    fn pool_by_hand() {
        let x = [1u8, 2, 3, 4, 5, 6]; // hw 3, c 2
        let y = q8_global_avg_pool(&x, 1, 3, 2, 1, 1.0 / 3.0, OutQ::full(0)).unwrap();
        // channel 0: 0 + 2 + 4 = 6 -> 2; channel 1: 1 + 3 + 5 = 9 -> 3.
        assert_eq!(y, vec![2, 3]);
    }
}
