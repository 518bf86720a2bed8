//! Post-training quantization of an f32 [`Network`]: run the f32 network on calibration
//! images, take each tensor's range (min/max, or a percentile of a histogram; widened to
//! hold 0), and quantize weights symmetrically per output channel to [-127, 127],
//! activations asymmetrically per tensor to u8, biases to i32 at `s_in * s_w`.
//!
//! [`calibrate`] runs the naive f32 reference (slow: seconds per image at 1.0-224);
//! [`calibrate_with`] runs each layer as its own one-layer f32 [`Model`] (the packed
//! kernels, no fusion), so every layer's output is observed at the kernels' speed. On the
//! scalar kernels ([`portable_cpu`]) the observed ranges are the same bits on every CPU,
//! which keeps a quantized file reproducible across machines.
//!
//! Scales are computed in f32 in the order XNNPACK computes its requantization scale
//! (`s_in * s_w / s_out`), so a model quantized elsewhere and loaded with the same
//! parameters requantizes alike.

use super::network::{
    activation_bounds, EdgeType, InputRounding, Q8Fc, Q8Layer, Q8Network, Q8Pool, Q8PoolMode,
};
use crate::net::{fold_batch_norm, Fuse, Head, Model, Network, NetworkWeights, Options};
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
    range_of(&t.data)
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
    // With zero point 0 the top code's real value `255 * scale` must not pass `max`, so
    // that a clamp at `max` (ReLU6's 6) is redundant with the u8 range in f32 arithmetic
    // too: ONNX Runtime drops a Clip before a QuantizeLinear only then, and fuses the
    // convolution into QLinearConv only without it.
    let mut scale = scale;
    if zp == 0 && max > 0.0 {
        while scale * 255.0 > max {
            scale = scale.next_down();
        }
    }
    QParams::new(scale, zp, what)
}

/// How [`calibrate_with`] turns the observed values of a tensor into its range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The smallest and largest value.
    MinMax,
    /// The `p` and `100 - p` percentiles (`p` in (50, 100]) of a histogram of
    /// [`HISTOGRAM_BINS`] bins between the min and the max: outliers beyond them saturate,
    /// for a finer step on the rest.
    Percentile(f32),
}

/// Bins of the percentile method's histograms.
pub const HISTOGRAM_BINS: usize = 2048;

impl Method {
    /// The method's default percentile.
    pub const DEFAULT_PERCENTILE: f32 = 99.99;

    fn check(self) -> Result<Method> {
        match self {
            Method::Percentile(p) if !(p > 50.0 && p <= 100.0) => Err(Error::Config(format!(
                "percentile must be in (50, 100], got {p}"
            ))),
            m => Ok(m),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Method::MinMax => f.write_str("minmax"),
            Method::Percentile(p) => write!(f, "percentile={p}"),
        }
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    /// `minmax`, `percentile` (99.99) or `percentile=P`.
    fn from_str(s: &str) -> Result<Method> {
        let bad = || {
            Error::Config(format!(
                "calibration method must be minmax, percentile or percentile=P, got {s:?}"
            ))
        };
        match s.split_once('=') {
            None if s == "minmax" => Ok(Method::MinMax),
            None if s == "percentile" => Ok(Method::Percentile(Method::DEFAULT_PERCENTILE)),
            Some(("percentile", p)) => {
                Method::Percentile(p.trim().parse().map_err(|_| bad())?).check()
            }
            _ => Err(bad()),
        }
    }
}

/// The CPU whose f32 kernels give the same bits everywhere: the portable scalar ones.
pub fn portable_cpu() -> crate::Cpu {
    crate::Cpu::with_isa(crate::Isa::Scalar).expect("the scalar ISA runs on every CPU")
}

/// One layer as its own network, so that its output can be read.
fn layer_model(
    net: &Network,
    i: usize,
    weights: &NetworkWeights,
    options: Options,
) -> Result<Model> {
    let layer = &net.layers[i];
    let s = &layer.spec;
    let one = Network {
        in_h: s.in_h,
        in_w: s.in_w,
        in_c: s.in_c,
        layers: vec![layer.clone()],
        head: Head::default(),
    };
    let w = NetworkWeights {
        convs: vec![weights.convs[i].clone()],
        fc: None,
    };
    Model::build_network(
        &one,
        &w,
        Options {
            threads: 1,
            fuse: Fuse::Never,
            depth_first: Some(0),
            ..options
        },
    )
}

/// Checks a calibration image against the network: shape and finite values.
fn check_image(net: &Network, i: usize, image: &Tensor) -> Result<()> {
    let s = image.shape;
    if (s.h, s.w, s.c) != (net.in_h, net.in_w, net.in_c) || s.n == 0 {
        return Err(Error::Shape(format!(
            "calibration image {i}: shape {s} is not [n, {}, {}, {}]",
            net.in_h, net.in_w, net.in_c
        )));
    }
    if let Some(at) = image.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::Shape(format!(
            "calibration image {i}: value {} at index {at} is not finite",
            image.data[at]
        )));
    }
    Ok(())
}

/// Runs every image through the per-layer models and hands each tensor's values to `f`:
/// tensor 0 is the input, `1 + i` layer `i`'s output, `1 + layers` the pool's.
fn observe(
    net: &Network,
    models: &[Model],
    images: &[Tensor],
    f: &mut dyn FnMut(usize, &[f32]),
) -> Result<()> {
    let batch = images.iter().map(|t| t.shape.n).max().unwrap_or(1);
    let mut ws = Vec::with_capacity(models.len());
    for m in models {
        ws.push(m.workspace(batch)?);
    }
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for image in images {
        let n = image.shape.n;
        f(0, &image.data);
        x.clone_from(&image.data);
        for (i, (m, w)) in models.iter().zip(&mut ws).enumerate() {
            y.resize(n * m.output_len(), 0.0);
            m.run(w, &x, n, &mut y)?;
            f(1 + i, &y);
            std::mem::swap(&mut x, &mut y);
        }
        if net.head.pool {
            let (h, w, c) = net.features();
            let mut pooled = vec![0.0f32; n * c];
            for (b, p) in pooled.chunks_exact_mut(c).enumerate() {
                for ch in 0..c {
                    let sum: f64 = (0..h * w)
                        .map(|i| f64::from(x[(b * h * w + i) * c + ch]))
                        .sum();
                    p[ch] = (sum / (h * w) as f64) as f32;
                }
            }
            f(1 + models.len(), &pooled);
        }
    }
    Ok(())
}

/// A histogram of one tensor's values over its observed range.
struct Histogram {
    lo: f64,
    width: f64,
    counts: Vec<u64>,
}

impl Histogram {
    fn new((lo, hi): (f32, f32)) -> Histogram {
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        Histogram {
            lo,
            width: ((hi - lo) / HISTOGRAM_BINS as f64).max(f64::MIN_POSITIVE),
            counts: vec![0; HISTOGRAM_BINS],
        }
    }

    fn add(&mut self, values: &[f32]) {
        for &v in values {
            let b = ((f64::from(v) - self.lo) / self.width) as usize;
            self.counts[b.min(HISTOGRAM_BINS - 1)] += 1;
        }
    }

    /// The range holding the central `p` percent, within `full` (the min and max).
    fn percentile(&self, p: f32, full: (f32, f32)) -> (f32, f32) {
        let total: u64 = self.counts.iter().sum();
        let keep = (f64::from(p) / 100.0 * total as f64).ceil() as u64;
        let (mut hi_bin, mut acc) = (HISTOGRAM_BINS - 1, 0u64);
        for (b, &c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= keep {
                hi_bin = b;
                break;
            }
        }
        let (mut lo_bin, mut acc) = (0, 0u64);
        for (b, &c) in self.counts.iter().enumerate().rev() {
            acc += c;
            if acc >= keep {
                lo_bin = b;
                break;
            }
        }
        let edge = |b: usize| (self.lo + b as f64 * self.width) as f32;
        (
            edge(lo_bin).clamp(full.0, full.1),
            edge(hi_bin + 1).clamp(full.0, full.1),
        )
    }
}

/// Calibrates `net` on `images` (each `[n, h, w, c]` of the network's input, finite) by
/// `method`, running each layer as a one-layer f32 [`Model`] built with `options`' CPU
/// (see [`portable_cpu`] for ranges that are the same on every machine). The percentile
/// method runs the images twice: once for the ranges its histograms span, once to fill
/// them.
pub fn calibrate_with(
    net: &Network,
    weights: &NetworkWeights,
    images: &[Tensor],
    method: Method,
    options: Options,
) -> Result<Calibration> {
    net.validate()?;
    weights.validate(net)?;
    let method = method.check()?;
    if images.is_empty() {
        return Err(Error::Shape("calibration needs at least one image".into()));
    }
    for (i, image) in images.iter().enumerate() {
        check_image(net, i, image)?;
    }
    let models = (0..net.layers.len())
        .map(|i| layer_model(net, i, weights, options))
        .collect::<Result<Vec<_>>>()?;
    let tensors = net.layers.len() + 1 + usize::from(net.head.pool);
    let mut ranges = vec![(f32::INFINITY, f32::NEG_INFINITY); tensors];
    observe(net, &models, images, &mut |t, v| {
        ranges[t] = widen(ranges[t], range_of(v))
    })?;
    if let Some((t, r)) = ranges
        .iter()
        .enumerate()
        .find(|(_, r)| !(r.0.is_finite() && r.1.is_finite()))
    {
        return Err(Error::Model(format!(
            "calibration: tensor {t} has range {}..{} (an overflow in the f32 network?)",
            r.0, r.1
        )));
    }
    if let Method::Percentile(p) = method {
        let mut hists: Vec<Histogram> = ranges.iter().map(|&r| Histogram::new(r)).collect();
        observe(net, &models, images, &mut |t, v| hists[t].add(v))?;
        for (r, h) in ranges.iter_mut().zip(&hists) {
            *r = h.percentile(p, *r);
        }
    }
    Ok(Calibration {
        input: ranges[0],
        layers: ranges[1..=net.layers.len()].to_vec(),
        pool: net.head.pool.then(|| ranges[net.layers.len() + 1]),
    })
}

fn range_of(v: &[f32]) -> (f32, f32) {
    v.iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
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
        // Clamped first, then rounded half to even by adding 1.5 * 2^23, whose sum has
        // an ulp of 1 and the integer in its low mantissa bits: the same codes as
        // `round_ties_even` then clamp (the weights are finite), but vectorised, where
        // `round_ties_even` is a libm call per weight on baseline x86-64 (no SSE4.1) and
        // the float-to-int cast a scalar one; those were most of 1.0-224's quantization.
        const ROUND: f32 = 12_582_912.0;
        q.extend(row.iter().map(|w| {
            let v = (w / s).clamp(-127.0, 127.0);
            ((v + ROUND).to_bits() as i32 - ROUND.to_bits() as i32) as i8
        }));
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
        // Without BatchNorm the weights as they are (folding would copy them).
        let folded = w.bn.as_ref().map(|_| fold_batch_norm(w));
        let (fw, fb) = match &folded {
            Some((fw, fb)) => (fw.as_slice(), fb.as_slice()),
            None => (w.weights.as_slice(), w.bias.as_slice()),
        };
        let (q, weight_scale) = quantize_rows(fw, s.out_c);
        let output = range_params(*r, &s.name)?;
        layers.push(Q8Layer {
            bias: quantize_bias(fb, prev.scale, &weight_scale),
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
        // What ONNX Runtime does with the QuantizeLinear of the written file.
        input_rounding: InputRounding::Divide,
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
