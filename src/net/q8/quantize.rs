//! Post-training quantization of an f32 [`Network`] by min/max calibration: run the f32
//! reference on calibration images, take each tensor's range (widened to hold 0), and
//! quantize weights symmetrically per output channel to [-127, 127], activations
//! asymmetrically per tensor to u8, biases to i32 at `s_in * s_w`.
//!
//! Scales are computed in f32 in the order XNNPACK computes its requantization scale
//! (`s_in * s_w / s_out`), so a model quantized elsewhere and loaded with the same
//! parameters requantizes alike.

use super::network::{activation_bounds, EdgeType, Q8Fc, Q8Layer, Q8Network, Q8Pool, Q8PoolMode};
use crate::net::{fold_batch_norm, Network, NetworkWeights};
use crate::quant::QParams;
use crate::reference::global_avg_pool;
use crate::reference::network::conv_layer;
use crate::tensor::Tensor;
use crate::{Error, Result};

/// The observed (min, max) of every tensor on the calibration images.
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    pub input: (f32, f32),
    /// One per layer (after its activation).
    pub layers: Vec<(f32, f32)>,
    pub pool: Option<(f32, f32)>,
}

fn range(t: &Tensor) -> (f32, f32) {
    t.data
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

fn widen(a: (f32, f32), b: (f32, f32)) -> (f32, f32) {
    (a.0.min(b.0), a.1.max(b.1))
}

/// Runs the f32 reference over `images` (each `[n, h, w, c]` of the network's input) and
/// records every tensor's range.
pub fn calibrate(
    net: &Network,
    weights: &NetworkWeights,
    images: &[Tensor],
) -> Result<Calibration> {
    net.validate()?;
    weights.validate(net)?;
    if images.is_empty() {
        return Err(Error::Shape("calibration needs at least one image".into()));
    }
    let empty = (f32::INFINITY, f32::NEG_INFINITY);
    let mut cal = Calibration {
        input: empty,
        layers: vec![empty; net.layers.len()],
        pool: net.head.pool.then_some(empty),
    };
    for image in images {
        let s = image.shape;
        if (s.h, s.w, s.c) != (net.in_h, net.in_w, net.in_c) {
            return Err(Error::Shape(format!(
                "calibration image {s} is not [n, {}, {}, {}]",
                net.in_h, net.in_w, net.in_c
            )));
        }
        cal.input = widen(cal.input, range(image));
        let mut x = image.clone();
        for (i, (layer, w)) in net.layers.iter().zip(&weights.convs).enumerate() {
            x = conv_layer(&x, &layer.spec, w, layer.activation.clamp())?;
            cal.layers[i] = widen(cal.layers[i], range(&x));
        }
        if let Some(p) = cal.pool.as_mut() {
            *p = widen(*p, range(&global_avg_pool(&x)));
        }
    }
    Ok(cal)
}

/// u8 parameters holding `(min, max)` widened to include 0 (so real 0, the padding, is
/// exact).
pub fn range_params((min, max): (f32, f32), what: &str) -> Result<QParams> {
    if !(min.is_finite() && max.is_finite()) {
        return Err(Error::Model(format!(
            "{what}: calibration range {min}..{max}"
        )));
    }
    let (min, max) = (min.min(0.0), max.max(0.0));
    let scale = if max > min { (max - min) / 255.0 } else { 1.0 };
    let zp = (-min / scale).round_ties_even().clamp(0.0, 255.0) as i32;
    QParams::new(scale, zp, what)
}

/// Symmetric per-channel weights: `rows` rows of `weights` (one per output channel).
fn quantize_rows(weights: &[f32], rows: usize) -> (Vec<i8>, Vec<f32>) {
    let per = weights.len() / rows.max(1);
    let mut q = Vec::with_capacity(weights.len());
    let mut scales = Vec::with_capacity(rows);
    for row in weights.chunks(per.max(1)).take(rows) {
        let m = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let s = if m > 0.0 { m / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(
            row.iter()
                .map(|w| (w / s).round_ties_even().clamp(-127.0, 127.0) as i8),
        );
    }
    (q, scales)
}

fn quantize_bias(bias: &[f32], s_in: f32, s_w: &[f32]) -> Vec<i32> {
    bias.iter()
        .zip(s_w)
        .map(|(b, s)| {
            (f64::from(*b) / f64::from(s_in * s))
                .round()
                .clamp(-2147483647.0, 2147483647.0) as i32
        })
        .collect()
}

/// Quantizes `net` with the ranges of `cal` (BatchNorm folded first).
pub fn quantize(net: &Network, weights: &NetworkWeights, cal: &Calibration) -> Result<Q8Network> {
    net.validate()?;
    weights.validate(net)?;
    let input = range_params(cal.input, "input")?;
    let mut prev = input;
    let mut layers = Vec::with_capacity(net.layers.len());
    for ((layer, w), r) in net.layers.iter().zip(&weights.convs).zip(&cal.layers) {
        let s = &layer.spec;
        let (fw, fb) = fold_batch_norm(w);
        let (q, weight_scale) = quantize_rows(&fw, s.out_c);
        let output = range_params(*r, &s.name)?;
        layers.push(Q8Layer {
            bias: quantize_bias(&fb, prev.scale, &weight_scale),
            scale: weight_scale
                .iter()
                .map(|sw| prev.scale * sw / output.scale)
                .collect(),
            weights: q,
            weight_scale,
            input: prev,
            output,
            out: activation_bounds(layer.activation, output),
        });
        prev = output;
    }
    let (h, w, _) = net.features();
    let pool = match cal.pool {
        Some(r) => {
            let output = range_params(r, "pool")?;
            let p = Q8Pool {
                input: prev,
                output,
                scale: prev.scale / (output.scale * (h * w) as f32),
                out: crate::quant::OutQ::full(output.zero_point),
                mode: Q8PoolMode::Requantize,
            };
            prev = output;
            Some(p)
        }
        None => None,
    };
    let fc = match (&weights.fc, net.head.classes) {
        (Some((fw, fb)), Some(k)) => {
            let (q, s_w) = quantize_rows(fw, k);
            Some(Q8Fc {
                bias: quantize_bias(fb, prev.scale, &s_w),
                scale: s_w.iter().map(|s| prev.scale * s).collect(),
                weights: q,
                input: prev,
                output: None,
            })
        }
        _ => None,
    };
    let q = Q8Network {
        network: net.clone(),
        input,
        input_type: EdgeType::F32,
        output_type: EdgeType::F32,
        layers,
        pool,
        fc,
    };
    q.validate()?;
    Ok(q)
}

/// `count` seeded calibration images in `[-1, 1)` for `net` (the bench's built-in model).
pub fn seeded_images(net: &Network, count: usize, seed: u64) -> Vec<Tensor> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| {
            let shape = crate::Shape::new(1, net.in_h, net.in_w, net.in_c);
            let data = (0..shape.len())
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            Tensor { shape, data }
        })
        .collect()
}
