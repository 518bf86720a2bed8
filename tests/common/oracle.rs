//! The one way the tests, benches and fuzz targets call the naive reference
//! (`sepconv::reference`) for an op and compare an output with it: what the reference
//! gives, the scale of each output's rounding error, a named [`Tolerance`], and messages
//! that name the kernel or ISA under test. It uses nothing but `sepconv`, so the fuzz
//! crate includes it too (`#[path = "../../tests/common/oracle.rs"]`).
#![allow(dead_code)]

use sepconv::ops::conv0::Conv0Params;
use sepconv::ops::depthwise::DepthwiseParams;
use sepconv::reference::{self, conv2d, Conv2d};
use sepconv::{Clamp, Padding, Shape, Tensor};
use std::sync::OnceLock;

/// How close an output must be to the reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tolerance {
    /// Equal values (0.0 and -0.0 alike): the clamp, and GEMMs of small integers / 8
    /// (every sum exact in f32).
    Exact,
    /// The error bound of a dot product of `terms` products plus a bias in f32, in any
    /// summation order, with or without FMA: (terms + 1) * eps * the sum of the absolute
    /// values of the terms, doubled for slack.
    Dot { terms: usize },
}

impl Tolerance {
    /// The largest difference allowed for an output whose terms sum to `magnitude` in
    /// absolute value.
    pub fn bound(self, magnitude: f32) -> f32 {
        match self {
            Tolerance::Exact => 0.0,
            Tolerance::Dot { terms } => {
                2.0 * (terms + 1) as f32 * f32::EPSILON * magnitude + f32::MIN_POSITIVE
            }
        }
    }
}

/// The reference output of one call, with what a kernel's output is checked by.
#[derive(Debug)]
pub struct Expected {
    /// The reference output, NHWC.
    pub want: Tensor,
    pub clamp: Clamp,
    pub tol: Tolerance,
    /// The reference on absolute values without clamp (the scale of each output's
    /// rounding error), computed on the first output that needs it.
    mag: OnceLock<Vec<f32>>,
    /// What the magnitude is computed from: the convolution and its operands.
    operands: Option<(Conv2d, Tensor, Vec<f32>, Vec<f32>)>,
}

impl Expected {
    /// Whether `got` passes as output `i`.
    #[inline]
    fn passes(&self, i: usize, got: f32) -> bool {
        let want = self.want.data[i];
        let Clamp { min, max } = self.clamp;
        let in_clamp = got >= min && got <= max;
        if got == want || self.tol == Tolerance::Exact {
            return got == want && in_clamp;
        }
        // |want| is at most the magnitude where the clamp did not move it or moved it
        // towards 0, so a difference within its bound passes without computing the
        // magnitude.
        let diff = (got - want).abs();
        let lower = if (want > min && want < max) || (min <= 0.0 && max >= 0.0) {
            want.abs()
        } else {
            0.0
        };
        in_clamp && (diff <= self.tol.bound(lower) || diff <= self.tol.bound(self.mag(i)))
    }

    /// Output `i` of the reference compared with `got`: the error says why not.
    pub fn check_at(&self, i: usize, got: f32) -> Result<(), String> {
        if self.passes(i, got) {
            return Ok(());
        }
        let want = self.want.data[i];
        let (mag, bound) = (self.mag(i), self.tol.bound(self.mag(i)));
        if (got - want).abs() > bound || self.tol == Tolerance::Exact {
            return Err(format!(
                "element {i}: got {got}, reference {want} ({:?}: magnitude {mag}, bound {bound:e})",
                self.tol
            ));
        }
        Err(format!(
            "element {i} = {got} outside the clamp {:?}",
            self.clamp
        ))
    }

    /// The input, weights and bias the reference was computed from (not kept for
    /// [`Tolerance::Exact`]).
    pub fn operands(&self) -> (&[f32], &[f32], &[f32]) {
        let (_, input, weights, bias) = self.operands.as_ref().expect("kept operands");
        (&input.data, weights, bias)
    }

    /// The magnitude of output `i` (0 for [`Tolerance::Exact`]).
    pub fn mag(&self, i: usize) -> f32 {
        let Some((conv, input, weights, bias)) = &self.operands else {
            return 0.0;
        };
        let mag = self.mag.get_or_init(|| {
            let input = Tensor::from_vec(input.shape, abs(&input.data)).unwrap();
            conv2d(&input, &abs(weights), Some(&abs(bias)), conv, Clamp::NONE)
                .unwrap()
                .data
        });
        mag[i]
    }

    /// `got` against the reference outputs `start..start + got.len()`; the error begins
    /// with `what` (the kernel or ISA and the shape).
    pub fn check_from(&self, start: usize, got: &[f32], what: &str) -> Result<(), String> {
        let end = start + got.len();
        if end > self.want.data.len() {
            return Err(format!(
                "{what}: {} outputs from {start}, the reference has {}",
                got.len(),
                self.want.data.len()
            ));
        }
        // The common case inline: within the clamp and within the bound of |want|.
        let Clamp { min, max } = self.clamp;
        let zero_inside = min <= 0.0 && max >= 0.0;
        let f = match self.tol {
            Tolerance::Exact => 0.0,
            Tolerance::Dot { terms } => 2.0 * (terms + 1) as f32 * f32::EPSILON,
        };
        // The magnitude sums |bias| and the terms' absolute values, so it is at least
        // |bias| of the output's channel (and more, below).
        let bias = match &self.operands {
            Some((_, _, _, bias)) if !bias.is_empty() => &bias[..],
            _ => &[0.0][..],
        };
        let bias = bias.iter().cycle().skip(start % bias.len());
        let want = &self.want.data[start..end];
        for (i, ((&g, &w), b)) in got.iter().zip(want).zip(bias).enumerate() {
            // Within the clamp, want = sum + b, so mag = sum |terms| + |b| >= |want - b| + |b|.
            let lower = if w > min && w < max {
                (w - b).abs() + b.abs()
            } else if zero_inside {
                w.abs().max(b.abs())
            } else {
                b.abs()
            };
            let quick = g >= min
                && g <= max
                && (g.to_bits() == w.to_bits()
                    || (f > 0.0 && (g - w).abs() <= f * lower + f32::MIN_POSITIVE));
            if !quick && !self.passes(start + i, g) {
                return self
                    .check_at(start + i, g)
                    .map_err(|e| format!("{what}: {e}"));
            }
        }
        Ok(())
    }

    /// [`Expected::check_from`] over the whole output.
    pub fn check(&self, got: &[f32], what: &str) -> Result<(), String> {
        if got.len() != self.want.data.len() {
            return Err(format!(
                "{what}: {} outputs, the reference has {}",
                got.len(),
                self.want.data.len()
            ));
        }
        self.check_from(0, got, what)
    }

    /// [`Expected::check`], panicking with its message.
    pub fn assert(&self, got: &[f32], what: &str) {
        if let Err(e) = self.check(got, what) {
            panic!("{e}");
        }
    }
}

/// Zero or one pixel of padding on each side, from bits 0..4 of `bits` (top, left,
/// bottom, right): `0..16` gives every combination.
pub fn padding(bits: u8) -> Padding {
    let bit = |i: u8| usize::from(bits >> i & 1);
    Padding::new(bit(0), bit(1), bit(2), bit(3))
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// The reference convolution of `input` and what an output of it is checked by (errors
/// are the reference's: shapes it rejects).
pub fn conv(
    conv: &Conv2d,
    input: &Tensor,
    weights: &[f32],
    bias: &[f32],
    clamp: Clamp,
    tol: Tolerance,
) -> sepconv::Result<Expected> {
    let want = conv2d(input, weights, Some(bias), conv, clamp)?;
    let operands = match tol {
        Tolerance::Exact => None,
        Tolerance::Dot { .. } => Some((*conv, input.clone(), weights.to_vec(), bias.to_vec())),
    };
    Ok(Expected {
        want,
        clamp,
        tol,
        mag: OnceLock::new(),
        operands,
    })
}

/// The depthwise 3x3 layer of `p` as a reference convolution (groups = channels).
pub fn depthwise_conv(p: &DepthwiseParams) -> Conv2d {
    Conv2d {
        out_channels: p.channels,
        kernel_h: 3,
        kernel_w: 3,
        stride_h: p.stride,
        stride_w: p.stride,
        padding: p.padding,
        groups: p.channels,
    }
}

/// Depthwise 3x3: `input` [batch, in_h, in_w, C], `weights` [C][3][3], `bias` [C].
pub fn depthwise(
    p: &DepthwiseParams,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
) -> sepconv::Result<Expected> {
    let shape = Shape::new(p.batch, p.in_h, p.in_w, p.channels);
    let x = Tensor::from_vec(shape, input.to_vec())?;
    let tol = Tolerance::Dot { terms: 9 };
    conv(&depthwise_conv(p), &x, weights, bias, p.clamp, tol)
}

/// conv0 (3x3 stride 2 from 3 channels) as a reference convolution.
pub fn conv0_conv(p: &Conv0Params) -> Conv2d {
    Conv2d {
        out_channels: p.out_c,
        kernel_h: 3,
        kernel_w: 3,
        stride_h: 2,
        stride_w: 2,
        padding: p.padding,
        groups: 1,
    }
}

/// conv0: `input` [batch, in_h, in_w, 3], `weights` [C][3][3][3], `bias` [C].
pub fn conv0(
    p: &Conv0Params,
    input: &[f32],
    weights: &[f32],
    bias: &[f32],
) -> sepconv::Result<Expected> {
    let shape = Shape::new(p.batch, p.in_h, p.in_w, 3);
    let x = Tensor::from_vec(shape, input.to_vec())?;
    let tol = Tolerance::Dot { terms: 27 };
    conv(&conv0_conv(p), &x, weights, bias, p.clamp, tol)
}

/// The pointwise GEMM C = A W^T + bias as a reference 1x1 convolution: A is m x k at row
/// stride `lda` (what lies between rows is never read), `w` [n][k]. The reference output
/// is m x n dense.
#[allow(clippy::too_many_arguments)]
pub fn pointwise(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    lda: usize,
    w: &[f32],
    bias: &[f32],
    clamp: Clamp,
    tol: Tolerance,
) -> Expected {
    let dense: Vec<f32> = (0..m)
        .flat_map(|i| a[i * lda..i * lda + k].iter().copied())
        .collect();
    let c = Conv2d {
        out_channels: n,
        kernel_h: 1,
        kernel_w: 1,
        stride_h: 1,
        stride_w: 1,
        padding: Padding::new(0, 0, 0, 0),
        groups: 1,
    };
    let x = Tensor::from_vec(Shape::new(1, 1, m, k), dense).expect("m x k floats");
    conv(&c, &x, w, bias, clamp, tol).expect("a 1x1 convolution of any shape")
}

/// The reference clamp of `data` (compared bit for bit).
pub fn clamp(data: &[f32], c: Clamp) -> Expected {
    let x = Tensor::from_vec(Shape::new(1, 1, 1, data.len()), data.to_vec()).expect("a row");
    Expected {
        want: reference::clamp(&x, c),
        clamp: c,
        tol: Tolerance::Exact,
        mag: OnceLock::new(),
        operands: None,
    }
}
