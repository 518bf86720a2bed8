//! A quantized [`Network`] as plain data ([`Q8Network`]): per layer s8 weights (per output
//! channel scales), i32 bias, requantization scales and the input and output quantization;
//! then the pool's and the classifier's. What a quantizer or a quantized model file makes,
//! what [`super::Q8Model`] packs, and what `reference::q8_network_forward` runs.

pub use super::dtype::EdgeType;
use crate::activation::Activation;
use crate::net::{LayerKind, Network};
use crate::quant::{OutQ, QParams};
use crate::{Error, Result};

/// One quantized convolution. Weights in the f32 layer's OHWI order.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Layer {
    pub weights: Vec<i8>,
    /// Per output channel, scale `s_in * s_w[c]`.
    pub bias: Vec<i32>,
    /// Per output channel, `s_in * s_w[c] / s_out`.
    pub scale: Vec<f32>,
    /// Per output channel weight scales (for `info` and dequantization).
    pub weight_scale: Vec<f32>,
    /// The input's quantization (the previous layer's output).
    pub input: QParams,
    /// The output's quantization.
    pub output: QParams,
    /// The output zero point and the clamp of the fused activation.
    pub out: OutQ,
}

/// The arithmetic of the quantized global average pool. Peers differ here: XNNPACK
/// requantizes the zero-point-corrected sum like a convolution, LiteRT runs its own int8
/// MEAN and AVERAGE_POOL_2D kernels (XNNPACK's delegate takes only float pools).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Q8PoolMode {
    /// `requantize(sum (x - zp_in), scale, out)`, `scale = s_in / (s_out * h * w)`.
    Requantize,
    /// TFLite's optimized int8 MEAN over H and W (kept dims), from
    /// `optimized_integer_ops::MeanImpl`: the f32 sum of the s8 codes divided by `h * w`
    /// in f32; when the input and output quantization are equal ("ordinary mean") rounded
    /// half away from zero, else `round_half_away(mean * scale + bias) + zp_out_s8`
    /// with `scale = s_in / s_out` (f32) and `bias = -zp_in_s8 * scale + 0.5` (the `0.5`
    /// added in f64, stored in f32), the result wrapping to s8 (no clamp).
    TfliteMean {
        ordinary: bool,
        scale: f32,
        bias: f32,
    },
    /// TFLite's reference int8 MEAN without kept dims (`reference_ops::QuantizedMeanOrSum`
    /// in `internal/reference/reduce.h`): the i32 sum of the s8 codes converted to f32 and
    /// divided by `h * w`, then `roundf(mean * scale + bias) + zp_out_s8` saturated to s8,
    /// `scale = s_in / s_out`, `bias = -zp_in_s8 * scale + 0.5` (all f32).
    TfliteMeanGeneral { scale: f32, bias: f32 },
    /// TFLite's int8 AVERAGE_POOL_2D (input and output share their quantization): the
    /// i32 sum of the s8 codes divided by `h * w` rounding half away from zero, clamped
    /// to `out`'s bounds.
    TfliteAvgPool,
}

impl Q8PoolMode {
    /// The [`Q8PoolMode::TfliteMeanGeneral`] of a pool from `input` to `output`.
    pub fn tflite_mean_general(input: QParams, output: QParams) -> Q8PoolMode {
        let scale = input.scale / output.scale;
        let zp_s8 = (input.zero_point - 128) as f32;
        Q8PoolMode::TfliteMeanGeneral {
            scale,
            bias: -zp_s8 * scale + 0.5,
        }
    }

    /// The [`Q8PoolMode::TfliteMean`] of a pool from `input` to `output`.
    pub fn tflite_mean(input: QParams, output: QParams) -> Q8PoolMode {
        let ordinary = input == output;
        let (scale, bias) = if ordinary {
            (0.0, 0.0)
        } else {
            let scale = input.scale / output.scale;
            let zp_s8 = (input.zero_point - 128) as f32;
            (scale, (f64::from(-zp_s8 * scale) + 0.5) as f32)
        };
        Q8PoolMode::TfliteMean {
            ordinary,
            scale,
            bias,
        }
    }
}

/// How an f32 input value becomes a u8 code (round half to even, plus the zero point,
/// saturated either way). Peers differ: XNNPACK (so LiteRT) multiplies by the reciprocal
/// of the scale, ONNX Runtime's QuantizeLinear (MLAS) divides by the scale; the two differ
/// for a few values in a million when the reciprocal is inexact, and a code off by one at
/// the input can reach the logits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputRounding {
    /// `x * (1 / scale)` ([`QParams::quantize`]).
    #[default]
    Reciprocal,
    /// `x / scale`.
    Divide,
}

impl InputRounding {
    /// `x` quantized as `q`.
    pub fn quantize(self, q: QParams, x: f32) -> u8 {
        match self {
            InputRounding::Reciprocal => q.quantize(x),
            InputRounding::Divide => divide_code(x, q.scale, q.zero_point as f32),
        }
    }

    /// [`InputRounding::quantize`] over a slice.
    pub fn quantize_slice(self, q: QParams, src: &[f32], dst: &mut [u8]) {
        match self {
            InputRounding::Reciprocal => q.quantize_slice(src, dst),
            InputRounding::Divide => {
                let (s, zp) = (q.scale, q.zero_point as f32);
                for (d, &x) in dst.iter_mut().zip(src) {
                    *d = divide_code(x, s, zp);
                }
            }
        }
    }
}

/// `round_half_even(x / s) + zp` saturated to u8, as [`QParams::quantize`] rounds.
#[inline]
fn divide_code(x: f32, s: f32, zp: f32) -> u8 {
    let q = (x / s).clamp(-512.0, 512.0);
    (((q + 12582912.0) - 12582912.0) + zp).clamp(0.0, 255.0) as u8
}

/// The quantized global average pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Pool {
    pub input: QParams,
    pub output: QParams,
    /// `s_in / (s_out * h * w)` (read by [`Q8PoolMode::Requantize`]).
    pub scale: f32,
    pub out: OutQ,
    pub mode: Q8PoolMode,
}

/// The quantized classifier: f32 logits straight from the i32 accumulators, or (with
/// `output`) int8 logits as TFLite and XNNPACK produce them, requantized with `s_in *
/// s_w[c] / s_out` and then dequantized.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Fc {
    /// `[classes][features]`.
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    /// `s_in * s_w[c]`: the real value of one accumulator step.
    pub scale: Vec<f32>,
    pub input: QParams,
    /// The logits' quantization, when the file quantizes them.
    pub output: Option<QParams>,
}

impl Q8Fc {
    /// With `output`, the requantization scales `scale[c] / s_out`: XNNPACK's
    /// `input_scale * kernel_scale[c] / output_scale` in that f32 order, `scale[c]` being
    /// the product.
    pub fn requant_scales(&self) -> Option<Vec<f32>> {
        let out = self.output?;
        Some(self.scale.iter().map(|s| s / out.scale).collect())
    }
}

/// A quantized network: the f32 network's shapes and activations, and its q8 parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Network {
    pub network: Network,
    /// How the f32 input is quantized.
    pub input: QParams,
    /// And rounded.
    pub input_rounding: InputRounding,
    /// What the file takes and gives at its edges (informational: the runner takes f32
    /// and gives f32 either way).
    pub input_type: EdgeType,
    pub output_type: EdgeType,
    pub layers: Vec<Q8Layer>,
    /// With `network.head.pool`.
    pub pool: Option<Q8Pool>,
    /// With `network.head.classes`.
    pub fc: Option<Q8Fc>,
}

/// The output stage of an activation on a tensor quantized as `q`: ReLU clamps at the
/// zero point, ReLU6 also at the code of 6.
pub fn activation_bounds(act: Activation, q: QParams) -> OutQ {
    let code = |x: f32| q.quantize(x);
    let (lo, hi) = match act {
        Activation::None => (0, 255),
        Activation::Relu => (code(0.0), 255),
        Activation::Relu6 => (code(0.0), code(6.0)),
    };
    OutQ {
        zero_point: q.zero_point,
        lo,
        hi,
    }
}

/// The output stage of a fused activation clamping to `[min, max]` (real values, infinite
/// for no bound) on a tensor quantized as `q`, as XNNPACK computes it when its subgraph
/// creates a qs8 operator (`xnn_qs8_quantize` in `src/xnnpack/math.h`, called by
/// `src/subgraph/convolution-2d.c` and the other nodes): `lrintf(clamp(v / scale +
/// zp_s8, -128, 127))` in f32, a division (not a multiply by the reciprocal) and the s8
/// zero point added before rounding half to even; then shifted to sepconv's u8 grid.
pub fn xnnpack_bounds(min: f32, max: f32, q: QParams) -> OutQ {
    let zp_s8 = (q.zero_point - 128) as f32;
    let code = |v: f32| {
        let c = (v / q.scale + zp_s8).clamp(-128.0, 127.0);
        (c.round_ties_even() as i32 + 128) as u8
    };
    OutQ {
        zero_point: q.zero_point,
        lo: code(min),
        hi: code(max),
    }
}

impl Q8Network {
    /// Checks every tensor's length against the network and the quantization parameters;
    /// the error names the layer and what is wrong.
    pub fn validate(&self) -> Result<()> {
        let net = &self.network;
        net.validate()?;
        if self.layers.len() != net.layers.len() {
            return Err(Error::Model(format!(
                "{} quantized layers for {} layers",
                self.layers.len(),
                net.layers.len()
            )));
        }
        let mut prev = self.input;
        for (l, q) in net.layers.iter().zip(&self.layers) {
            let s = &l.spec;
            let bad = |what: String| Err(Error::Model(format!("layer {}: {what}", s.name)));
            if q.weights.len() != s.weight_len()
                || q.bias.len() != s.out_c
                || q.scale.len() != s.out_c
                || q.weight_scale.len() != s.out_c
            {
                return bad(format!(
                    "{} weights, {} biases, {} scales for {} outputs",
                    q.weights.len(),
                    q.bias.len(),
                    q.scale.len(),
                    s.out_c
                ));
            }
            if q.input != prev {
                return bad("input quantization differs from the previous output's".into());
            }
            crate::quant::check_scales(&q.scale, s.out_c, &s.name)?;
            QParams::new(q.output.scale, q.output.zero_point, &s.name)?;
            OutQ::new(q.out.zero_point, q.out.lo, q.out.hi)?;
            if q.out.zero_point != q.output.zero_point {
                return bad("the clamp's zero point is not the output's".into());
            }
            if s.kind == LayerKind::Depthwise && s.in_c != s.out_c {
                return bad("depthwise with a channel multiplier".into());
            }
            prev = q.output;
        }
        match (&self.pool, net.head.pool) {
            (Some(p), true) => {
                if p.input != prev || !(p.scale.is_finite() && p.scale > 0.0) {
                    return Err(Error::Model("pool: bad quantization".into()));
                }
                QParams::new(p.output.scale, p.output.zero_point, "pool")?;
                OutQ::new(p.out.zero_point, p.out.lo, p.out.hi)?;
                match p.mode {
                    Q8PoolMode::Requantize => {}
                    Q8PoolMode::TfliteMean {
                        ordinary,
                        scale,
                        bias,
                    } => {
                        if ordinary != (p.input == p.output)
                            || !(ordinary || (scale.is_finite() && bias.is_finite()))
                        {
                            return Err(Error::Model(
                                "pool: TFLite mean parameters do not match its quantization".into(),
                            ));
                        }
                    }
                    Q8PoolMode::TfliteMeanGeneral { scale, bias } => {
                        if !(scale.is_finite() && bias.is_finite()) {
                            return Err(Error::Model("pool: TFLite mean parameters".into()));
                        }
                    }
                    Q8PoolMode::TfliteAvgPool => {
                        if p.input != p.output {
                            return Err(Error::Model(
                                "pool: a TFLite average pool must keep its input's \
                                 quantization"
                                    .into(),
                            ));
                        }
                    }
                }
                prev = p.output;
            }
            (None, false) => {}
            _ => {
                return Err(Error::Model(
                    "pool: quantization does not match the head".into(),
                ))
            }
        }
        let features = net.features().2;
        match (&self.fc, net.head.classes) {
            (Some(fc), Some(k)) => {
                if fc.weights.len() != k * features || fc.bias.len() != k || fc.input != prev {
                    return Err(Error::Model(format!(
                        "classifier: {} weights and {} biases for {k} x {features}",
                        fc.weights.len(),
                        fc.bias.len()
                    )));
                }
                crate::quant::check_scales(&fc.scale, k, "classifier")?;
                if let Some(o) = fc.output {
                    QParams::new(o.scale, o.zero_point, "classifier output")?;
                    let r = fc.requant_scales().unwrap_or_default();
                    crate::quant::check_scales(&r, k, "classifier output")?;
                }
            }
            (None, None) => {}
            _ => {
                return Err(Error::Model(
                    "classifier: quantization does not match the head".into(),
                ))
            }
        }
        Ok(())
    }

    /// The quantization of the last tensor before the classifier (or of the output).
    pub fn last_q(&self) -> QParams {
        self.pool
            .as_ref()
            .map(|p| p.output)
            .or(self.layers.last().map(|l| l.output))
            .unwrap_or(self.input)
    }
}
