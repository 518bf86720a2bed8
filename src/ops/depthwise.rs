//! STAND-IN (replaced by the dw branch at merge): the agreed API over a scalar loop.

use crate::activation::Clamp;
use crate::geometry::{conv_output_len, Padding};
use crate::kernels::KernelSet;
use crate::{Error, Result};
use std::ops::Range;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DepthwiseParams {
    pub batch: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub channels: usize,
    pub stride: usize,
    pub padding: Padding,
    pub clamp: Clamp,
}

impl DepthwiseParams {
    pub fn out_h(&self) -> usize {
        conv_output_len(
            self.in_h,
            3,
            self.stride,
            self.padding.top,
            self.padding.bottom,
        )
        .unwrap_or(0)
    }
    pub fn out_w(&self) -> usize {
        conv_output_len(
            self.in_w,
            3,
            self.stride,
            self.padding.left,
            self.padding.right,
        )
        .unwrap_or(0)
    }
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
}

pub struct PackedDepthwise {
    channels: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl PackedDepthwise {
    pub fn new(
        _k: &'static KernelSet,
        channels: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        if weights.len() != channels * 9 || bias.len() != channels {
            return Err(Error::Shape("dw".into()));
        }
        Ok(PackedDepthwise {
            channels,
            w: weights.to_vec(),
            b: bias.to_vec(),
        })
    }
    pub fn channels(&self) -> usize {
        self.channels
    }
}

pub fn depthwise3x3(
    p: &DepthwiseParams,
    w: &PackedDepthwise,
    input: &[f32],
    output: &mut [f32],
) -> Result<()> {
    let (ii, oi) = (
        p.in_h * p.in_w * p.channels,
        p.out_h() * p.out_w() * p.channels,
    );
    for n in 0..p.batch {
        depthwise3x3_rows(
            p,
            w,
            &input[n * ii..(n + 1) * ii],
            0..p.out_h(),
            &mut output[n * oi..(n + 1) * oi],
        )?;
    }
    Ok(())
}

pub fn depthwise3x3_rows(
    p: &DepthwiseParams,
    w: &PackedDepthwise,
    image: &[f32],
    rows: Range<usize>,
    output: &mut [f32],
) -> Result<()> {
    let c = p.channels;
    let ow = p.out_w();
    for (r, oy) in rows.enumerate() {
        for ox in 0..ow {
            for ch in 0..c {
                let mut acc = w.b[ch];
                for ky in 0..3 {
                    for kx in 0..3 {
                        let iy = (oy * p.stride + ky) as isize - p.padding.top as isize;
                        let ix = (ox * p.stride + kx) as isize - p.padding.left as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < p.in_h && (ix as usize) < p.in_w {
                            acc += image[((iy as usize) * p.in_w + ix as usize) * c + ch]
                                * w.w[ch * 9 + ky * 3 + kx];
                        }
                    }
                }
                output[(r * ow + ox) * c + ch] = p.clamp.apply(acc);
            }
        }
    }
    Ok(())
}
