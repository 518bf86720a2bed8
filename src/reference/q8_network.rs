//! A quantized network's forward pass composed of the naive q8 operators: the f32 input
//! quantized, every layer, the pool, the classifier's f32 logits and the softmax, or the
//! dequantized features when the network stops earlier. The oracle of `net::q8::Q8Model`.

use super::q8::{
    q8_accumulators, q8_conv2d, q8_fully_connected_f32, q8_global_avg_pool_mode, Q8Conv, Q8Input,
};
use super::softmax;
use crate::net::q8::Q8Network;
use crate::net::LayerKind;
use crate::quant::{requantize, OutQ};
use crate::tensor::{Shape, Tensor};
use crate::{Error, Result};

/// Runs `q` on an f32 NHWC batch; the output is `[n, 1, 1, classes]` (or the pooled
/// channels, or the last feature map), as the f32 network's.
pub fn q8_network_forward(q: &Q8Network, input: &Tensor) -> Result<Tensor> {
    q.validate()?;
    let net = &q.network;
    let s = input.shape;
    if (s.h, s.w, s.c) != (net.in_h, net.in_w, net.in_c) || s.n == 0 {
        return Err(Error::Shape(format!("input {s} does not fit the network")));
    }
    let mut x: Vec<u8> = input
        .data
        .iter()
        .map(|&v| q.input_rounding.quantize(q.input, v))
        .collect();
    let (mut h, mut w, mut c) = (s.h, s.w, s.c);
    for (layer, ql) in net.layers.iter().zip(&q.layers) {
        let spec = &layer.spec;
        let (kernel, groups) = match spec.kind {
            LayerKind::Conv0 => (3, 1),
            LayerKind::Depthwise => (3, c),
            LayerKind::Pointwise => (1, 1),
        };
        let conv = Q8Conv {
            kernel: (kernel, kernel),
            stride: spec.stride,
            pad: spec.padding,
            groups,
            out_c: spec.out_c,
        };
        let xin = Q8Input {
            data: &x,
            n: s.n,
            h,
            w,
            c,
            zp: ql.input.zero_point,
        };
        let (y, oh, ow) = q8_conv2d(xin, conv, &ql.weights, &ql.bias, &ql.scale, ql.out)?;
        (x, h, w, c) = (y, oh, ow, spec.out_c);
    }
    let last = q.layers.last().map_or(q.input, |l| l.output);
    let Some(pool) = &q.pool else {
        let data = x.iter().map(|&v| last.dequantize(v)).collect();
        return Tensor::from_vec(Shape::new(s.n, h, w, c), data);
    };
    let pooled = q8_global_avg_pool_mode(
        &x,
        s.n,
        h * w,
        c,
        pool.input.zero_point,
        pool.scale,
        pool.out,
        pool.mode,
    )?;
    let out = match &q.fc {
        // int8 logits: requantized to the output grid, then dequantized.
        Some(fc) if fc.output.is_some() => {
            let (o, rs) = (
                fc.output.expect("checked"),
                fc.requant_scales().expect("output"),
            );
            let k = fc.bias.len();
            let acc = q8_accumulators(&pooled, s.n, c, fc.input.zero_point, &fc.weights, &fc.bias)?;
            let logits = acc
                .iter()
                .enumerate()
                .map(|(i, &a)| o.dequantize(requantize(a, rs[i % k], OutQ::full(o.zero_point))))
                .collect();
            Tensor::from_vec(Shape::new(s.n, 1, 1, k), logits)?
        }
        Some(fc) => {
            let logits = q8_fully_connected_f32(
                &pooled,
                s.n,
                c,
                fc.input.zero_point,
                &fc.weights,
                &fc.bias,
                &fc.scale,
            )?;
            Tensor::from_vec(Shape::new(s.n, 1, 1, fc.bias.len()), logits)?
        }
        None => {
            let data = pooled.iter().map(|&v| pool.output.dequantize(v)).collect();
            Tensor::from_vec(Shape::new(s.n, 1, 1, c), data)?
        }
    };
    Ok(if net.head.softmax { softmax(&out) } else { out })
}
