//! MobileNet V1 weights as they come from a model file or a seeded generator: per layer
//! OHWI weights, a bias, and optionally an unfolded inference BatchNorm.

use super::config::{LayerSpec, MobileNetConfig};
use crate::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Inference BatchNorm parameters of one layer.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNormParams {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub mean: Vec<f32>,
    pub var: Vec<f32>,
    pub eps: f32,
}

/// One convolution: y = bn(conv(x, weights) + bias), then the activation.
/// Weights are OHWI (depthwise: [c][3][3][1], pointwise: [out][1][1][in]).
#[derive(Clone, Debug, PartialEq)]
pub struct ConvWeights {
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
    pub bn: Option<BatchNormParams>,
}

/// A depthwise-separable block.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockWeights {
    pub dw: ConvWeights,
    pub pw: ConvWeights,
}

/// All weights of a MobileNet V1.
#[derive(Clone, Debug, PartialEq)]
pub struct MobileNetWeights {
    pub conv0: ConvWeights,
    pub blocks: Vec<BlockWeights>,
    /// Classifier, [classes][features] row-major.
    pub fc_weights: Vec<f32>,
    pub fc_bias: Vec<f32>,
}

impl MobileNetWeights {
    /// Seeded random weights for `config` (He-uniform, so activations keep their scale
    /// through 27 layers), with unfolded BatchNorm when `batch_norm`.
    pub fn random(config: &MobileNetConfig, seed: u64, batch_norm: bool) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let layers = config.layers()?;
        let mut conv = |spec: &LayerSpec| random_conv(&mut rng, spec, batch_norm);
        let conv0 = conv(&layers[0]);
        let blocks = layers[1..]
            .chunks(2)
            .map(|pair| BlockWeights {
                dw: conv(&pair[0]),
                pw: conv(&pair[1]),
            })
            .collect();
        let features = config.feature_channels();
        let bound = (6.0 / features as f32).sqrt();
        Ok(MobileNetWeights {
            conv0,
            blocks,
            fc_weights: (0..config.classes * features)
                .map(|_| rng.random_range(-bound..bound))
                .collect(),
            fc_bias: (0..config.classes)
                .map(|_| rng.random_range(-0.1..0.1))
                .collect(),
        })
    }

    /// The convolutions in plan order: conv0, dw1, pw1, ..., dw13, pw13.
    pub fn convs(&self) -> impl Iterator<Item = &ConvWeights> {
        std::iter::once(&self.conv0).chain(self.blocks.iter().flat_map(|b| [&b.dw, &b.pw]))
    }

    /// Checks every tensor's length against `config` and that every value is finite; the
    /// error names the layer and tensor.
    pub fn validate(&self, config: &MobileNetConfig) -> Result<()> {
        let layers = config.layers()?;
        if self.blocks.len() != 13 {
            return Err(Error::Model(format!(
                "MobileNet V1 has 13 depthwise-separable blocks, got {}",
                self.blocks.len()
            )));
        }
        for (spec, w) in layers.iter().zip(self.convs()) {
            check_conv(spec, w)?;
        }
        check_fc(
            config.classes,
            config.feature_channels(),
            &self.fc_weights,
            &self.fc_bias,
        )
    }
}

/// Seeded He-uniform weights for one layer, with an unfolded BatchNorm if `batch_norm`.
pub(super) fn random_conv(rng: &mut ChaCha8Rng, spec: &LayerSpec, batch_norm: bool) -> ConvWeights {
    let fan_in = spec.weight_len() / spec.out_c;
    let bound = (6.0 / fan_in as f32).sqrt();
    let c = spec.out_c;
    ConvWeights {
        weights: (0..spec.weight_len())
            .map(|_| rng.random_range(-bound..bound))
            .collect(),
        bias: (0..c).map(|_| rng.random_range(-0.1..0.1)).collect(),
        bn: batch_norm.then(|| BatchNormParams {
            gamma: (0..c).map(|_| rng.random_range(0.5..1.5)).collect(),
            beta: (0..c).map(|_| rng.random_range(-0.2..0.2)).collect(),
            mean: (0..c).map(|_| rng.random_range(-0.2..0.2)).collect(),
            var: (0..c).map(|_| rng.random_range(0.5..2.0)).collect(),
            eps: 1e-3,
        }),
    }
}

/// Checks one layer's tensors: lengths for `spec`, finite values, a positive BN variance.
pub(super) fn check_conv(spec: &LayerSpec, w: &ConvWeights) -> Result<()> {
    let check = |what: &str, v: &[f32], want: usize| {
        if v.len() != want {
            return Err(Error::Model(format!(
                "{} {what}: expected {want} values, got {}",
                spec.name,
                v.len()
            )));
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::Model(format!(
                "{} {what}: value {i} is not finite ({})",
                spec.name, v[i]
            )));
        }
        Ok(())
    };
    check("weights", &w.weights, spec.weight_len())?;
    check("bias", &w.bias, spec.out_c)?;
    if let Some(bn) = &w.bn {
        check("bn gamma", &bn.gamma, spec.out_c)?;
        check("bn beta", &bn.beta, spec.out_c)?;
        check("bn mean", &bn.mean, spec.out_c)?;
        check("bn var", &bn.var, spec.out_c)?;
        if let Some(i) = bn.var.iter().position(|&v| v + bn.eps <= 0.0) {
            return Err(Error::Model(format!(
                "{} bn var: value {i} plus eps {} is not positive",
                spec.name, bn.eps
            )));
        }
    }
    Ok(())
}

/// Checks the classifier: [classes][features] weights, one bias per class, all finite.
pub(super) fn check_fc(classes: usize, features: usize, w: &[f32], b: &[f32]) -> Result<()> {
    let fc_len = classes * features;
    if w.len() != fc_len {
        return Err(Error::Model(format!(
            "fc weights: expected {fc_len} values ({classes} classes x {features}), got {}",
            w.len()
        )));
    }
    if b.len() != classes {
        return Err(Error::Model(format!(
            "fc bias: expected {classes} values, got {}",
            b.len()
        )));
    }
    for (what, v) in [("fc weights", w), ("fc bias", b)] {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::Model(format!("{what}: value {i} is not finite")));
        }
    }
    Ok(())
}
