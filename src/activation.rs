//! Activations as the clamp(min, max) every kernel fuses into its epilogue.

use crate::{Error, Result};

/// The activation after a convolution. Every one is a clamp, so kernels take [`Clamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// Identity.
    None,
    /// max(x, 0).
    #[default]
    Relu,
    /// min(max(x, 0), 6).
    Relu6,
}

impl Activation {
    /// The clamp bounds this activation is.
    pub fn clamp(self) -> Clamp {
        match self {
            Activation::None => Clamp::NONE,
            Activation::Relu => Clamp {
                min: 0.0,
                max: f32::INFINITY,
            },
            Activation::Relu6 => Clamp { min: 0.0, max: 6.0 },
        }
    }
}

/// Output bounds fused into a kernel: y = min(max(x, min), max).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clamp {
    pub min: f32,
    pub max: f32,
}

impl Clamp {
    /// No clamping.
    pub const NONE: Clamp = Clamp {
        min: f32::NEG_INFINITY,
        max: f32::INFINITY,
    };

    /// Bounds checked for kernels: neither NaN, min <= max, min below +inf and max above
    /// -inf.
    pub fn new(min: f32, max: f32) -> Result<Clamp> {
        let c = Clamp { min, max };
        c.check()?;
        Ok(c)
    }

    /// Rejects NaN bounds and min > max, which the SIMD kernels could not honour, and a
    /// lower bound of +inf or an upper bound of -inf, which would turn every output,
    /// whatever the input, into that infinity.
    pub fn check(&self) -> Result<()> {
        if self.min.is_nan() || self.max.is_nan() || self.min > self.max {
            return Err(Error::Config(format!(
                "clamp bounds must be ordered numbers, got min {} max {}",
                self.min, self.max
            )));
        }
        if self.min == f32::INFINITY || self.max == f32::NEG_INFINITY {
            return Err(Error::Config(format!(
                "clamp bounds min {} max {} send every output to infinity",
                self.min, self.max
            )));
        }
        Ok(())
    }

    /// Applies the clamp to one value (`f32::max` semantics: a NaN input becomes `min`).
    #[inline(always)]
    pub fn apply(&self, x: f32) -> f32 {
        x.max(self.min).min(self.max)
    }
}
