//! Convolution geometry shared by the reference, the kernels and the runner: explicit
//! per-side padding and output sizes.

use crate::{Error, Result};

/// Explicit zero padding on each side of an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Padding {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Padding {
    pub const fn new(top: usize, left: usize, bottom: usize, right: usize) -> Padding {
        Padding {
            top,
            left,
            bottom,
            right,
        }
    }

    /// The same padding on every side (PyTorch's `padding=p`).
    pub const fn symmetric(p: usize) -> Padding {
        Padding::new(p, p, p, p)
    }

    /// TensorFlow's SAME padding for an `in_h` x `in_w` input: the output is
    /// ceil(in / stride), the total padding is split with the odd pixel at the bottom/right.
    /// At stride 2 on even sizes this pads only bottom and right.
    pub fn tf_same(in_h: usize, in_w: usize, kernel: usize, stride: usize) -> Padding {
        let total = |input: usize| {
            let out = input.div_ceil(stride);
            ((out - 1) * stride + kernel).saturating_sub(input)
        };
        let (th, tw) = (total(in_h), total(in_w));
        Padding::new(th / 2, tw / 2, th - th / 2, tw - tw / 2)
    }
}

/// Output length of a convolution along one axis, or an error if the kernel does not fit.
pub fn conv_output_len(
    input: usize,
    kernel: usize,
    stride: usize,
    pad_before: usize,
    pad_after: usize,
) -> Result<usize> {
    if kernel == 0 || stride == 0 {
        return Err(Error::Shape(format!(
            "kernel size {kernel} and stride {stride} must be at least 1"
        )));
    }
    let padded = input + pad_before + pad_after;
    if padded < kernel {
        return Err(Error::Shape(format!(
            "kernel size {kernel} is larger than the padded input {padded} \
             ({input} + {pad_before} + {pad_after})"
        )));
    }
    Ok((padded - kernel) / stride + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tf_same_stride2_even_pads_bottom_right_only() {
        assert_eq!(Padding::tf_same(224, 224, 3, 2), Padding::new(0, 0, 1, 1));
        assert_eq!(Padding::tf_same(8, 6, 3, 2), Padding::new(0, 0, 1, 1));
    }

    #[test]
    fn tf_same_stride2_odd_pads_both_sides() {
        // in 7 -> out 4: (4-1)*2+3-7 = 2 -> 1 each side.
        assert_eq!(Padding::tf_same(7, 7, 3, 2), Padding::new(1, 1, 1, 1));
    }

    #[test]
    fn tf_same_stride1_pads_one_each_side() {
        assert_eq!(Padding::tf_same(5, 9, 3, 1), Padding::symmetric(1));
    }

    #[test]
    fn output_len_matches_hand_computation() {
        // 224 padded to 225 -> (225-3)/2+1 = 112.
        assert_eq!(conv_output_len(224, 3, 2, 0, 1).unwrap(), 112);
        // symmetric pad 1: (226-3)/2+1 = 112 too.
        assert_eq!(conv_output_len(224, 3, 2, 1, 1).unwrap(), 112);
        assert_eq!(conv_output_len(1, 3, 1, 1, 1).unwrap(), 1);
        assert!(conv_output_len(1, 3, 1, 0, 0).is_err());
        assert!(conv_output_len(4, 3, 0, 0, 0).is_err());
    }
}
