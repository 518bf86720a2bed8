//! The int8 ("q8") numerics that the reference and every q8 kernel share, so that each
//! kernel is bit-identical to the reference on every ISA.
//!
//! - **Activations are u8**, asymmetric per tensor: `real = scale * (q - zero_point)`,
//!   `q` and `zero_point` in 0..=255. TFLite's s8 activations are the same grid shifted:
//!   `q_u8 = q_s8 + 128` and `zp_u8 = zp_s8 + 128` (exact, no rounding), done once at the
//!   model's edges. u8 is what the x86 dot-product instruction takes on its unsigned side
//!   (`vpdpbusd` multiplies u8 by s8), so the VNNI inner loops read activations as they
//!   are stored; the NEON `sdot` kernels flip the top bit of A (an `eor`, amortised over a
//!   whole register of A) and fold the 128 into the bias.
//! - **Weights are s8**, symmetric per output channel (zero point 0).
//! - **Accumulators are i32**, wrapping (never saturating): `bias + sum (x - zp_in) * w`.
//!   Wrapping sums are associative, so the kernels' folded bias (`bias - zp_in * sum w`,
//!   computed at pack time) and any summation order give the same bits.
//! - **Requantization** is XNNPACK's "fp32" one, [`requantize`]: `acc` converted to f32,
//!   one f32 multiply by the channel's scale, clamped to the output bounds minus the zero
//!   point, rounded half to even, plus the zero point. Every kernel performs exactly these
//!   float operations (`cvtdq2ps`, `mulps`, `maxps`/`minps`, `cvtps2dq`; `scvtf`, `fmul`,
//!   `fmax`/`fmin`, `fcvtns` on NEON), so the result is the same bits everywhere.
//!
//! Padding of a quantized convolution is the input's zero point (real 0): the kernels read
//! padded taps as `zp_in` bytes, and the reference leaves them out of the sum; both give
//! the same accumulator because of the folded bias.

use crate::{Error, Result};

/// Quantization parameters of one u8 activation tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// Real value of one step; finite and positive.
    pub scale: f32,
    /// The u8 value that stands for real 0, 0..=255.
    pub zero_point: i32,
}

impl QParams {
    /// Checks the scale (finite, > 0) and the zero point (0..=255); `what` names the
    /// tensor in the error.
    pub fn new(scale: f32, zero_point: i32, what: &str) -> Result<QParams> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(Error::Model(format!(
                "{what}: quantization scale {scale} must be finite and positive"
            )));
        }
        if !(0..=255).contains(&zero_point) {
            return Err(Error::Model(format!(
                "{what}: zero point {zero_point} is outside the u8 range 0..=255"
            )));
        }
        Ok(QParams { scale, zero_point })
    }

    /// `x` quantized: round half to even of `x * (1 / scale)` plus the zero point,
    /// saturated.
    pub fn quantize(&self, x: f32) -> u8 {
        // Beyond +-512 every value saturates; within, adding 1.5 * 2^23 puts the units place
        // at the last mantissa bit, so the add rounds half to even (as `round_ties_even`,
        // which the baseline x86-64 target turns into a libm call per value).
        // Times the reciprocal (XNNPACK's f32 -> q8 conversion does the same): a division
        // per value would cost more than the first layer.
        let q = (x * (1.0 / self.scale)).clamp(-512.0, 512.0);
        let r = (q + 12582912.0) - 12582912.0;
        (r + self.zero_point as f32).clamp(0.0, 255.0) as u8
    }

    /// [`QParams::quantize`] over a slice (the compiler vectorises this loop).
    pub fn quantize_slice(&self, src: &[f32], dst: &mut [u8]) {
        let inv = 1.0 / self.scale;
        let zp = self.zero_point as f32;
        for (d, &x) in dst.iter_mut().zip(src) {
            let q = (x * inv).clamp(-512.0, 512.0);
            *d = (((q + 12582912.0) - 12582912.0) + zp).clamp(0.0, 255.0) as u8;
        }
    }

    /// The real value of `q`.
    pub fn dequantize(&self, q: u8) -> f32 {
        self.scale * (i32::from(q) - self.zero_point) as f32
    }
}

/// The output stage of a q8 op: the output tensor's zero point and the clamp bounds (the
/// fused activation: ReLU makes `lo` the zero point, ReLU6 makes `hi` the code of 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutQ {
    /// Output zero point, 0..=255.
    pub zero_point: i32,
    /// Smallest output code.
    pub lo: u8,
    /// Largest output code, `>= lo`.
    pub hi: u8,
}

impl OutQ {
    /// Checks `zero_point` in 0..=255 and `lo <= hi`.
    pub fn new(zero_point: i32, lo: u8, hi: u8) -> Result<OutQ> {
        if !(0..=255).contains(&zero_point) || lo > hi {
            return Err(Error::Shape(format!(
                "output quantization: zero point {zero_point} (0..=255) with bounds \
                 {lo}..={hi} (lo <= hi)"
            )));
        }
        Ok(OutQ { zero_point, lo, hi })
    }

    /// No clamp beyond the u8 range.
    pub const fn full(zero_point: i32) -> OutQ {
        OutQ {
            zero_point,
            lo: 0,
            hi: 255,
        }
    }

    /// The float bounds the scaled accumulator is clamped to before rounding: `lo - zp`
    /// and `hi - zp` (exact integers in f32).
    #[inline(always)]
    pub fn float_bounds(&self) -> (f32, f32) {
        (
            (i32::from(self.lo) - self.zero_point) as f32,
            (i32::from(self.hi) - self.zero_point) as f32,
        )
    }
}

/// The one requantization: `zp + clamp(round_half_even(acc as f32 * scale), lo - zp,
/// hi - zp)`. Clamping before rounding (as the kernels do, so that the float-to-int conversion
/// never overflows) gives the same value as after, the bounds being integers.
#[inline(always)]
pub fn requantize(acc: i32, scale: f32, out: OutQ) -> u8 {
    let (lo, hi) = out.float_bounds();
    let v = (acc as f32 * scale).max(lo).min(hi);
    // In range lo - zp ..= hi - zp, so the sum is in lo..=hi.
    (v.round_ties_even() as i32 + out.zero_point) as u8
}

/// The bias a kernel packs for one output channel: `bias - (zp_in - a_offset) * sum(w)`,
/// wrapping, where `a_offset` is what the kernel subtracts from every A byte before its
/// products (128 for the kernels that flip u8 to s8 for `sdot`, else 0).
pub fn fold_bias(
    bias: i32,
    weights: impl IntoIterator<Item = i8>,
    zp_in: i32,
    a_offset: i32,
) -> i32 {
    let sum = weights
        .into_iter()
        .fold(0i32, |s, w| s.wrapping_add(i32::from(w)));
    bias.wrapping_sub((zp_in - a_offset).wrapping_mul(sum))
}

/// Checks per-channel requantization scales: finite and positive, one per channel.
pub fn check_scales(scales: &[f32], channels: usize, what: &str) -> Result<()> {
    if scales.len() != channels {
        return Err(Error::Shape(format!(
            "{what}: {} requantization scales for {channels} channels",
            scales.len()
        )));
    }
    if let Some((c, s)) = scales
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(Error::Shape(format!(
            "{what}: requantization scale {s} of channel {c} must be finite and positive"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requantize_rounds_half_to_even_and_clamps() {
        let out = OutQ::full(10);
        assert_eq!(requantize(5, 0.5, out), 12); // 2.5 -> 2
        assert_eq!(requantize(7, 0.5, out), 14); // 3.5 -> 4
        assert_eq!(requantize(-5, 0.5, out), 8); // -2.5 -> -2
        assert_eq!(requantize(-7, 0.5, out), 6); // -3.5 -> -4
        assert_eq!(requantize(i32::MAX, 1.0, out), 255);
        assert_eq!(requantize(i32::MIN, 1.0, out), 0);
        let relu6 = OutQ::new(10, 10, 70).unwrap();
        assert_eq!(requantize(-100, 1.0, relu6), 10);
        assert_eq!(requantize(1000, 1.0, relu6), 70);
        assert_eq!(requantize(33, 1.0, relu6), 43);
    }

    #[test]
    fn fold_bias_matches_the_unfolded_sum() {
        let w = [3i8, -128, 127, -1];
        let x = [0u8, 255, 17, 200];
        let (zp, bias) = (131, 1000);
        let direct = w
            .iter()
            .zip(x)
            .fold(bias, |s, (&w, x)| s + (i32::from(x) - zp) * i32::from(w));
        for a_offset in [0, 128] {
            let folded = fold_bias(bias, w, zp, a_offset);
            let sum = w.iter().zip(x).fold(folded, |s, (&w, x)| {
                s + (i32::from(x) - a_offset) * i32::from(w)
            });
            assert_eq!(sum, direct, "a_offset {a_offset}");
        }
    }

    #[test]
    fn qparams_are_checked() {
        assert!(QParams::new(0.0, 0, "t").is_err());
        assert!(QParams::new(f32::NAN, 0, "t").is_err());
        assert!(QParams::new(1.0, 256, "t").is_err());
        assert!(QParams::new(1.0, -1, "t").is_err());
        let q = QParams::new(0.5, 128, "t").unwrap();
        assert_eq!(q.quantize(1.25), 130); // 2.5 -> 2
        assert_eq!(q.quantize(1e9), 255);
        assert_eq!(q.quantize(-1e9), 0);
        assert_eq!(q.quantize(f32::NAN), 0);
        for i in -2000..2000 {
            let x = i as f32 * 0.125;
            let want = ((x / 0.5).round_ties_even() + 128.0).clamp(0.0, 255.0) as u8;
            assert_eq!(q.quantize(x), want, "{x}");
        }
        let xs: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.37).collect();
        let mut got = vec![0u8; xs.len()];
        let q2 = QParams::new(0.3, 17, "t").unwrap();
        q2.quantize_slice(&xs, &mut got);
        assert!(xs.iter().zip(&got).all(|(&x, &g)| q2.quantize(x) == g));
        assert_eq!(q.dequantize(130), 1.0);
        assert!(OutQ::new(0, 5, 4).is_err());
        assert!(check_scales(&[1.0, 0.0], 2, "t").is_err());
        assert!(check_scales(&[1.0], 2, "t").is_err());
    }
}
