//! The proptest strategies and shape helpers the kernel suites share: sizes around tile
//! multiples, channel counts (small, MobileNet's, or within the range a kernel serves),
//! paddings as 4 bits, activations, clamp bounds.

use proptest::prelude::*;
use sepconv::{Activation, Clamp, Padding};

/// A size in 1..=max: small, any, or a multiple of one of `multiples` (tile widths) or
/// one off it.
pub fn dim(max: usize, multiples: &'static [usize]) -> impl Strategy<Value = usize> {
    prop_oneof![
        1..=8usize,
        1..=max,
        (prop::sample::select(multiples), 1..=8usize, -1i64..=1)
            .prop_map(move |(t, q, d)| ((t * q) as i64 + d).clamp(1, max as i64) as usize),
    ]
}

/// A channel count in `lo..=hi`: mostly up to 70 past `lo` (every block remainder), else
/// one of `common` (MobileNet's widths) that lies in the range.
pub fn channels_in(lo: usize, hi: usize, common: &[usize]) -> BoxedStrategy<usize> {
    let any = (lo..=hi.min(lo + 69)).boxed();
    let common: Vec<usize> = common
        .iter()
        .copied()
        .filter(|c| (lo..=hi).contains(c))
        .collect();
    if common.is_empty() {
        any
    } else {
        prop_oneof![3 => any, 1 => prop::sample::select(common)].boxed()
    }
}

/// None, ReLU or ReLU6.
pub fn activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(&ACTIVATIONS[..])
}

pub const ACTIVATIONS: [Activation; 3] = [Activation::None, Activation::Relu, Activation::Relu6];

/// Clamp bounds `lo <= hi` within +-10.
pub fn clamp() -> impl Strategy<Value = Clamp> {
    (-10.0f32..10.0, -10.0f32..10.0).prop_map(|(a, b)| Clamp::new(a.min(b), a.max(b)).unwrap())
}

/// Whether a 3x3 window fits the padded image (else the reference rejects the shape).
pub fn fits(in_h: usize, in_w: usize, p: Padding) -> bool {
    in_h + p.top + p.bottom >= 3 && in_w + p.left + p.right >= 3
}
