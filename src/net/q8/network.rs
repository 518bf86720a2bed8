//! A quantized [`Network`] as plain data ([`Q8Network`]): per layer s8 weights (per output
//! channel scales), i32 bias, requantization scales and the input and output quantization;
//! then the pool's and the classifier's. What a quantizer or a quantized model file makes,
//! what [`super::Q8Model`] packs, and what `reference::q8_network_forward` runs.

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

/// The quantized global average pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Pool {
    pub input: QParams,
    pub output: QParams,
    /// `s_in / (s_out * h * w)`.
    pub scale: f32,
    pub out: OutQ,
}

/// The quantized classifier, with f32 (dequantized) logits.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Fc {
    /// `[classes][features]`.
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    /// `s_in * s_w[c]`: the real value of one accumulator step.
    pub scale: Vec<f32>,
    pub input: QParams,
}

/// A quantized network: the f32 network's shapes and activations, and its q8 parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Q8Network {
    pub network: Network,
    /// How the f32 input is quantized.
    pub input: QParams,
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
