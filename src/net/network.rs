//! Any sequential depthwise-separable network: a chain of 3x3 convolutions (full,
//! depthwise) and pointwise 1x1 layers, each with its own activation, then optionally a
//! global average pool, a classifier and a softmax. MobileNet V1 at any alpha and
//! resolution is one ([`Network::mobilenet`]); model importers produce the others.

use super::config::{LayerKind, LayerSpec, MobileNetConfig};
use super::weights::{ConvWeights, MobileNetWeights};
use crate::activation::Activation;
use crate::geometry::{conv_output_len, Padding};
use crate::{Error, Result};

/// Largest input channel count of a full 3x3 convolution: its weights are 9 x in_c per
/// output channel, the GEMM K of the im2col path.
pub const MAX_CONV_IN_CHANNELS: usize = 4096;

/// One convolution of a [`Network`] and the activation fused after it.
#[derive(Clone, Debug, PartialEq)]
pub struct NetLayer {
    pub spec: LayerSpec,
    pub activation: Activation,
}

/// What follows the last convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Head {
    /// Global average pool over H and W: the output is one vector of channels per image.
    pub pool: bool,
    /// A fully connected classifier to this many outputs (needs `pool`).
    pub classes: Option<usize>,
    /// Softmax over the output vector (needs `pool`).
    pub softmax: bool,
}

/// A sequential depthwise-separable network: its input, convolutions and head.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    /// Input height, width and channels of one image (NHWC).
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    /// The convolutions in order, each layer's input the previous one's output.
    pub layers: Vec<NetLayer>,
    pub head: Head,
}

/// The weights of a [`Network`]: one [`ConvWeights`] per layer, in order (OHWI), and the
/// classifier's [classes][features] weights and bias if it has one.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkWeights {
    pub convs: Vec<ConvWeights>,
    pub fc: Option<(Vec<f32>, Vec<f32>)>,
}

/// The shape of a layer of kind `kind` with output channels `out_c`, stride and padding,
/// over an `in_h` x `in_w` x `in_c` input; the error names the layer.
pub fn layer_spec(
    name: impl Into<String>,
    kind: LayerKind,
    (in_h, in_w, in_c): (usize, usize, usize),
    out_c: usize,
    stride: usize,
    padding: Padding,
) -> Result<LayerSpec> {
    let name = name.into();
    let k = match kind {
        LayerKind::Pointwise => 1,
        LayerKind::Conv0 | LayerKind::Depthwise => 3,
    };
    let len = |input, before, after| {
        conv_output_len(input, k, stride, before, after)
            .map_err(|e| Error::Shape(format!("layer {name}: {e}")))
    };
    Ok(LayerSpec {
        out_h: len(in_h, padding.top, padding.bottom)?,
        out_w: len(in_w, padding.left, padding.right)?,
        name,
        kind,
        in_h,
        in_w,
        in_c,
        out_c,
        stride,
        padding,
    })
}

impl Network {
    /// MobileNet V1 as `config` describes it: conv0, 13 blocks, pool, classifier, softmax
    /// if `config.softmax`, `config.activation` after every convolution.
    pub fn mobilenet(config: &MobileNetConfig) -> Result<Network> {
        let layers = config
            .layers()?
            .into_iter()
            .map(|spec| NetLayer {
                spec,
                activation: config.activation,
            })
            .collect();
        Ok(Network {
            in_h: config.resolution,
            in_w: config.resolution,
            in_c: 3,
            layers,
            head: Head {
                pool: true,
                classes: Some(config.classes),
                softmax: config.softmax,
            },
        })
    }

    /// The MobileNet V1 configuration this network is, if it is one: the layers of
    /// [`MobileNetConfig::layers`] for some alpha, square resolution and padding style,
    /// one activation throughout, a pool and a classifier.
    pub fn as_mobilenet(&self) -> Option<MobileNetConfig> {
        let first = self.layers.first()?;
        let activation = first.activation;
        let classes = self.head.classes?;
        if !self.head.pool
            || self.in_h != self.in_w
            || self.in_c != 3
            || self.layers.len() != 27
            || self.layers.iter().any(|l| l.activation != activation)
        {
            return None;
        }
        // Each layer of base width b and c channels allows alpha in [c / b, (c + 1) / b):
        // the shortest decimal inside all of them is what the model's author wrote (0.35),
        // else conv0 / 32, pw13 / 1024 or the middle.
        let bases = std::iter::once(super::config::CONV0_CHANNELS)
            .chain(super::config::BLOCKS.iter().flat_map(|&(c, _)| [0, c]));
        let widths: Vec<(usize, usize)> = bases
            .zip(&self.layers)
            .filter(|(b, _)| *b != 0)
            .map(|(b, l)| (b, l.spec.out_c))
            .collect();
        let lo = widths
            .iter()
            .map(|&(b, c)| c as f64 / b as f64)
            .fold(0.0, f64::max);
        let hi = widths
            .iter()
            .map(|&(b, c)| (c + 1) as f64 / b as f64)
            .fold(f64::INFINITY, f64::min);
        let mid = (lo + hi) / 2.0;
        let rounded = |digits: i32| (mid * 10f64.powi(digits)).round() / 10f64.powi(digits);
        let candidates = [
            rounded(1),
            rounded(2),
            rounded(3),
            first.spec.out_c as f64 / 32.0,
            self.layers.last()?.spec.out_c as f64 / 1024.0,
            mid,
        ]
        .map(|a| a as f32);
        for alpha in candidates {
            for padding in [
                super::config::PaddingStyle::TfSame,
                super::config::PaddingStyle::Symmetric,
            ] {
                let config = MobileNetConfig {
                    alpha,
                    resolution: self.in_h,
                    classes,
                    activation,
                    padding,
                    softmax: self.head.softmax,
                };
                let Ok(specs) = config.layers() else {
                    continue;
                };
                if specs.iter().zip(&self.layers).all(|(a, b)| {
                    let mut b = b.spec.clone();
                    b.name.clone_from(&a.name);
                    *a == b
                }) {
                    return Some(config);
                }
            }
        }
        None
    }

    /// Checks that the layers chain (each input the previous output), that each kind's
    /// constraints hold (3x3 windows padded by at most 1 per side, stride 1 or 2,
    /// depthwise keeping its channels, pointwise at stride 1 unpadded) and the head; the
    /// error names the layer at fault.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        for (what, v) in [
            ("input height", self.in_h),
            ("input width", self.in_w),
            ("input channels", self.in_c),
        ] {
            if v == 0 || v > 1 << 14 {
                return bad(format!("network {what} must be in 1..=16384, got {v}"));
            }
        }
        if self.layers.is_empty() {
            return bad("the network has no convolution".into());
        }
        let mut shape = (self.in_h, self.in_w, self.in_c);
        for l in &self.layers {
            let s = &l.spec;
            if (s.in_h, s.in_w, s.in_c) != shape {
                return bad(format!(
                    "layer {}: input {}x{}x{} does not match the previous output {}x{}x{}",
                    s.name, s.in_h, s.in_w, s.in_c, shape.0, shape.1, shape.2
                ));
            }
            if s.out_c == 0 || s.out_c > 1 << 16 {
                return bad(format!(
                    "layer {}: output channels must be in 1..=65536, got {}",
                    s.name, s.out_c
                ));
            }
            let p = s.padding;
            match s.kind {
                LayerKind::Conv0 | LayerKind::Depthwise => {
                    if !matches!(s.stride, 1 | 2) {
                        return bad(format!(
                            "layer {}: 3x3 stride must be 1 or 2, got {}",
                            s.name, s.stride
                        ));
                    }
                    if [p.top, p.left, p.bottom, p.right].iter().any(|&v| v > 1) {
                        return bad(format!(
                            "layer {}: 3x3 padding must be 0 or 1 per side, got {p:?}",
                            s.name
                        ));
                    }
                }
                LayerKind::Pointwise => {
                    if s.stride != 1 || p != Padding::default() {
                        return bad(format!(
                            "layer {}: pointwise layers run at stride 1 unpadded",
                            s.name
                        ));
                    }
                }
            }
            if s.kind == LayerKind::Depthwise && s.in_c != s.out_c {
                return bad(format!(
                    "layer {}: depthwise from {} to {} channels (multiplier > 1 is not \
                     supported)",
                    s.name, s.in_c, s.out_c
                ));
            }
            if s.kind == LayerKind::Conv0 && s.in_c > MAX_CONV_IN_CHANNELS {
                return bad(format!(
                    "layer {}: a full 3x3 convolution from {} channels is above the \
                     supported {MAX_CONV_IN_CHANNELS}",
                    s.name, s.in_c
                ));
            }
            let want = layer_spec(
                s.name.clone(),
                s.kind,
                (s.in_h, s.in_w, s.in_c),
                s.out_c,
                s.stride,
                p,
            )?;
            if (want.out_h, want.out_w) != (s.out_h, s.out_w) {
                return bad(format!(
                    "layer {}: output {}x{} should be {}x{}",
                    s.name, s.out_h, s.out_w, want.out_h, want.out_w
                ));
            }
            shape = (s.out_h, s.out_w, s.out_c);
        }
        let h = self.head;
        if !h.pool && (h.classes.is_some() || h.softmax) {
            return bad("a classifier or softmax needs the global average pool".into());
        }
        if let Some(c) = h.classes {
            if c == 0 || c > 1 << 20 {
                return bad(format!("classes must be in 1..=1048576, got {c}"));
            }
        }
        Ok(())
    }

    /// The last convolution's output shape (h, w, c).
    pub fn features(&self) -> (usize, usize, usize) {
        self.layers
            .last()
            .map_or((self.in_h, self.in_w, self.in_c), |l| {
                (l.spec.out_h, l.spec.out_w, l.spec.out_c)
            })
    }

    /// Floats of one input image.
    pub fn input_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Floats of one output: the classes, the pooled channels, or the last feature map.
    pub fn output_len(&self) -> usize {
        let (h, w, c) = self.features();
        match (self.head.classes, self.head.pool) {
            (Some(k), _) => k,
            (None, true) => c,
            (None, false) => h * w * c,
        }
    }

    /// The output's dimensions per image: [classes], [channels] or [h, w, c].
    pub fn output_dims(&self) -> Vec<usize> {
        let (h, w, c) = self.features();
        match (self.head.classes, self.head.pool) {
            (Some(k), _) => vec![k],
            (None, true) => vec![c],
            (None, false) => vec![h, w, c],
        }
    }

    /// Multiply-adds per image: every convolution plus the classifier.
    pub fn macs(&self) -> usize {
        let convs: usize = self.layers.iter().map(|l| l.spec.macs()).sum();
        convs + self.head.classes.map_or(0, |k| k * self.features().2)
    }
}

impl NetworkWeights {
    /// MobileNet V1's weights in plan order (a copy).
    pub fn from_mobilenet(w: &MobileNetWeights) -> NetworkWeights {
        NetworkWeights {
            convs: w.convs().cloned().collect(),
            fc: Some((w.fc_weights.clone(), w.fc_bias.clone())),
        }
    }

    /// Back to [`MobileNetWeights`], if these are 27 convolutions and a classifier.
    pub fn into_mobilenet(self) -> Option<MobileNetWeights> {
        let (fc_weights, fc_bias) = self.fc?;
        if self.convs.len() != 27 {
            return None;
        }
        let mut convs = self.convs.into_iter();
        let conv0 = convs.next()?;
        let mut blocks = Vec::with_capacity(13);
        while let (Some(dw), Some(pw)) = (convs.next(), convs.next()) {
            blocks.push(super::weights::BlockWeights { dw, pw });
        }
        Some(MobileNetWeights {
            conv0,
            blocks,
            fc_weights,
            fc_bias,
        })
    }

    /// Checks every tensor's length against `net` and that every value is finite; the
    /// error names the layer and tensor.
    pub fn validate(&self, net: &Network) -> Result<()> {
        if self.convs.len() != net.layers.len() {
            return Err(Error::Model(format!(
                "the network has {} convolutions, the weights {}",
                net.layers.len(),
                self.convs.len()
            )));
        }
        for (l, w) in net.layers.iter().zip(&self.convs) {
            super::weights::check_conv(&l.spec, w)?;
        }
        let features = net.features().2;
        match (net.head.classes, &self.fc) {
            (None, None) => Ok(()),
            (Some(classes), Some((w, b))) => super::weights::check_fc(classes, features, w, b),
            (Some(_), None) => Err(Error::Model("the classifier has no weights".into())),
            (None, Some(_)) => Err(Error::Model(
                "classifier weights given for a network without a classifier".into(),
            )),
        }
    }

    /// Seeded random weights for `net` (as [`MobileNetWeights::random`]).
    pub fn random(net: &Network, seed: u64, batch_norm: bool) -> NetworkWeights {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let convs = net
            .layers
            .iter()
            .map(|l| super::weights::random_conv(&mut rng, &l.spec, batch_norm))
            .collect();
        let features = net.features().2;
        let fc = net.head.classes.map(|classes| {
            let bound = (6.0 / features as f32).sqrt();
            (
                (0..classes * features)
                    .map(|_| rng.random_range(-bound..bound))
                    .collect(),
                (0..classes).map(|_| rng.random_range(-0.1..0.1)).collect(),
            )
        });
        NetworkWeights { convs, fc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobilenet_round_trips_through_network() {
        for (alpha, resolution) in [(1.0, 224), (0.25, 128), (0.75, 192), (0.5, 97)] {
            let config = MobileNetConfig {
                alpha,
                resolution,
                ..MobileNetConfig::default()
            };
            let net = Network::mobilenet(&config).unwrap();
            net.validate().unwrap();
            assert_eq!(net.as_mobilenet(), Some(config));
            assert_eq!(net.macs(), config.macs().unwrap());
            let w = MobileNetWeights::random(&config, 1, true).unwrap();
            let nw = NetworkWeights::from_mobilenet(&w);
            nw.validate(&net).unwrap();
            assert_eq!(nw.into_mobilenet(), Some(w));
        }
    }

    #[test]
    fn a_net_that_is_not_mobilenet_is_not_recognised() {
        let config = MobileNetConfig::default();
        let mut net = Network::mobilenet(&config).unwrap();
        net.layers[5].activation = Activation::Relu6;
        assert_eq!(net.as_mobilenet(), None);
        let mut net = Network::mobilenet(&config).unwrap();
        net.head.classes = None;
        assert_eq!(net.as_mobilenet(), None);
    }

    #[test]
    fn broken_chains_and_heads_are_named() {
        let config = MobileNetConfig::default();
        let mut net = Network::mobilenet(&config).unwrap();
        net.layers[3].spec.in_c += 1;
        let e = net.validate().unwrap_err().to_string();
        assert!(e.contains("dw2"), "{e}");
        let mut net = Network::mobilenet(&config).unwrap();
        net.head.pool = false;
        assert!(net.validate().unwrap_err().to_string().contains("pool"));
        let mut net = Network::mobilenet(&config).unwrap();
        net.layers[1].spec.out_c = 7;
        let e = net.validate().unwrap_err().to_string();
        assert!(e.contains("dw1") && e.contains("multiplier"), "{e}");
    }
}
