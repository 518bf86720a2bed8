//! General 2-D convolution: any kernel size, stride, per-side padding and group count, so
//! it covers standard, depthwise (groups = channels) and pointwise (1x1) convolutions.

use crate::activation::Clamp;
use crate::geometry::{conv_output_len, Padding};
use crate::tensor::{Shape, Tensor};
use crate::{Error, Result};

/// A convolution's hyper-parameters. Weights are OHWI:
/// `w[((o * kernel_h + ky) * kernel_w + kx) * (in_channels / groups) + i]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub padding: Padding,
    pub groups: usize,
}

impl Conv2d {
    /// Output shape for `input`, checking that channels split into the groups.
    pub fn output_shape(&self, input: Shape) -> Result<Shape> {
        if self.groups == 0
            || !input.c.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return Err(Error::Shape(format!(
                "{} input and {} output channels do not split into {} groups",
                input.c, self.out_channels, self.groups
            )));
        }
        let p = self.padding;
        Ok(Shape::new(
            input.n,
            conv_output_len(input.h, self.kernel_h, self.stride_h, p.top, p.bottom)?,
            conv_output_len(input.w, self.kernel_w, self.stride_w, p.left, p.right)?,
            self.out_channels,
        ))
    }

    /// Number of weights: out_channels x kernel_h x kernel_w x in_channels / groups.
    pub fn weight_len(&self, in_channels: usize) -> usize {
        self.out_channels * self.kernel_h * self.kernel_w * (in_channels / self.groups.max(1))
    }
}

/// y = clamp(conv(x, w) + bias). `bias` may be `None` (zero).
pub fn conv2d(
    input: &Tensor,
    weights: &[f32],
    bias: Option<&[f32]>,
    conv: &Conv2d,
    clamp: Clamp,
) -> Result<Tensor> {
    let out_shape = conv.output_shape(input.shape)?;
    let cin_g = input.shape.c / conv.groups;
    let cout_g = conv.out_channels / conv.groups;
    if weights.len() != conv.weight_len(input.shape.c) {
        return Err(Error::Shape(format!(
            "convolution needs {} weights, got {}",
            conv.weight_len(input.shape.c),
            weights.len()
        )));
    }
    if let Some(b) = bias {
        if b.len() != conv.out_channels {
            return Err(Error::Shape(format!(
                "convolution needs {} biases, got {}",
                conv.out_channels,
                b.len()
            )));
        }
    }

    let mut out = Tensor::zeros(out_shape);
    for n in 0..out_shape.n {
        for oy in 0..out_shape.h {
            for ox in 0..out_shape.w {
                for o in 0..conv.out_channels {
                    let group = o / cout_g;
                    let mut acc = bias.map_or(0.0, |b| b[o]);
                    for ky in 0..conv.kernel_h {
                        for kx in 0..conv.kernel_w {
                            // Input coordinates in the padded image, shifted back.
                            let iy = (oy * conv.stride_h + ky) as isize - conv.padding.top as isize;
                            let ix =
                                (ox * conv.stride_w + kx) as isize - conv.padding.left as isize;
                            if iy < 0
                                || ix < 0
                                || iy >= input.shape.h as isize
                                || ix >= input.shape.w as isize
                            {
                                continue; // zero padding
                            }
                            for i in 0..cin_g {
                                let x = input.at(n, iy as usize, ix as usize, group * cin_g + i);
                                let w = weights
                                    [((o * conv.kernel_h + ky) * conv.kernel_w + kx) * cin_g + i];
                                acc += x * w;
                            }
                        }
                    }
                    out.data[out_shape.index(n, oy, ox, o)] = clamp.apply(acc);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;

    fn t(h: usize, w: usize, c: usize, data: &[f32]) -> Tensor {
        Tensor::from_vec(Shape::new(1, h, w, c), data.to_vec()).unwrap()
    }

    fn conv3x3(stride: usize, padding: Padding, groups: usize, out: usize) -> Conv2d {
        Conv2d {
            out_channels: out,
            kernel_h: 3,
            kernel_w: 3,
            stride_h: stride,
            stride_w: stride,
            padding,
            groups,
        }
    }

    #[test]
    fn all_ones_3x3_counts_neighbours_with_symmetric_padding() {
        // 3x3 image of ones, 3x3 kernel of ones, pad 1: each output counts the in-image
        // pixels of its window: corners 4, edges 6, centre 9.
        let x = t(3, 3, 1, &[1.0; 9]);
        let y = conv2d(
            &x,
            &[1.0; 9],
            None,
            &conv3x3(1, Padding::symmetric(1), 1, 1),
            Clamp::NONE,
        )
        .unwrap();
        assert_eq!(y.data, vec![4., 6., 4., 6., 9., 6., 4., 6., 4.]);
    }

    #[test]
    fn stride2_tf_same_versus_symmetric_padding() {
        // 4x4 image with value = 1 + index (row-major), 3x3 kernel of ones, stride 2.
        // TF SAME pads only bottom/right: windows start at rows/cols 0 and 2.
        //   out(0,0) = 1+2+3 + 5+6+7 + 9+10+11 = 54
        //   out(0,1) = 3+4 + 7+8 + 11+12 (column 4 is padding) = 45
        //   out(1,0) = 9+10+11 + 13+14+15 (row 4 is padding) = 72
        //   out(1,1) = 11+12 + 15+16 = 54
        // Symmetric pad 1: windows start at -1 and 1.
        //   out(0,0) = 1+2 + 5+6 = 14
        //   out(0,1) = 2+3+4 + 6+7+8 = 30
        //   out(1,0) = 5+6 + 9+10 + 13+14 = 57
        //   out(1,1) = 6+7+8 + 10+11+12 + 14+15+16 = 99
        let data: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let x = t(4, 4, 1, &data);
        let same = Padding::tf_same(4, 4, 3, 2);
        assert_eq!(same, Padding::new(0, 0, 1, 1));
        let y = conv2d(&x, &[1.0; 9], None, &conv3x3(2, same, 1, 1), Clamp::NONE).unwrap();
        assert_eq!(y.data, vec![54., 45., 72., 54.]);
        let y = conv2d(
            &x,
            &[1.0; 9],
            None,
            &conv3x3(2, Padding::symmetric(1), 1, 1),
            Clamp::NONE,
        )
        .unwrap();
        assert_eq!(y.data, vec![14., 30., 57., 99.]);
    }

    #[test]
    fn depthwise_keeps_channels_apart() {
        // 1x1 image, 2 channels (3, 5), depthwise 3x3 pad 1: only the centre tap sees data.
        // Channel 0 centre tap 2, channel 1 centre tap -1; bias 1, 0.
        let x = t(1, 1, 2, &[3.0, 5.0]);
        let mut w = [0.0; 18];
        w[4] = 2.0; // o = 0, ky = 1, kx = 1
        w[9 + 4] = -1.0; // o = 1
        let y = conv2d(
            &x,
            &w,
            Some(&[1.0, 0.0]),
            &conv3x3(1, Padding::symmetric(1), 2, 2),
            Clamp::NONE,
        )
        .unwrap();
        assert_eq!(y.data, vec![7.0, -5.0]);
    }

    #[test]
    fn pointwise_is_a_matrix_product_with_bias_and_relu6() {
        // 1x2 image, 2 channels: pixels (1, 2) and (3, 4).
        // Weights OHWI with 1x1: o0 = [1, 1], o1 = [2, -1], o2 = [10, 0]. Bias (0, 1, 0).
        // Pixel 0: o0 = 3, o1 = 2*1 - 2 + 1 = 1, o2 = 10 -> ReLU6 6.
        // Pixel 1: o0 = 7 -> 6, o1 = 6 - 4 + 1 = 3, o2 = 30 -> 6.
        let x = t(1, 2, 2, &[1., 2., 3., 4.]);
        let conv = Conv2d {
            out_channels: 3,
            kernel_h: 1,
            kernel_w: 1,
            stride_h: 1,
            stride_w: 1,
            padding: Padding::default(),
            groups: 1,
        };
        let y = conv2d(
            &x,
            &[1., 1., 2., -1., 10., 0.],
            Some(&[0., 1., 0.]),
            &conv,
            Activation::Relu6.clamp(),
        )
        .unwrap();
        assert_eq!(y.data, vec![3., 1., 6., 6., 3., 6.]);
    }

    #[test]
    fn relu_clamps_negative_outputs() {
        let x = t(1, 1, 1, &[2.0]);
        let conv = Conv2d {
            out_channels: 2,
            kernel_h: 1,
            kernel_w: 1,
            stride_h: 1,
            stride_w: 1,
            padding: Padding::default(),
            groups: 1,
        };
        let y = conv2d(&x, &[-1.0, 1.5], None, &conv, Activation::Relu.clamp()).unwrap();
        assert_eq!(y.data, vec![0.0, 3.0]);
    }

    #[test]
    fn rejects_mismatched_weights_and_groups() {
        let x = t(2, 2, 3, &[0.0; 12]);
        let c = conv3x3(1, Padding::symmetric(1), 2, 4);
        assert!(conv2d(&x, &[0.0; 36], None, &c, Clamp::NONE).is_err());
        let c = conv3x3(1, Padding::symmetric(1), 1, 1);
        assert!(conv2d(&x, &[0.0; 26], None, &c, Clamp::NONE).is_err());
    }
}
