//! From what the graph holds to sepconv's model: infers alpha, the padding style and the
//! rest of the configuration, checks every layer against [`MobileNetConfig::layers`], and
//! lays the weights out as OHWI.

use super::graph::{err, label};
use super::{f32s, Classifier, FoundConv, Importer};
use crate::net::{
    BlockWeights, ConvWeights, LayerKind, LayerSpec, MobileNetConfig, MobileNetWeights,
    PaddingStyle, BLOCKS,
};
use crate::Result;

impl<'a> Importer<'a> {
    pub(super) fn infer_config(
        &self,
        convs: &[FoundConv],
        classifier: &Classifier,
        resolution: usize,
        softmax: bool,
    ) -> Result<MobileNetConfig> {
        let activation = convs[0].activation;
        for c in convs {
            if c.activation != activation {
                let at = c.act_node.map_or_else(|| label(c.node), label);
                return Err(err(format!(
                    "{at}: activation {:?} differs from the first layer's {activation:?}",
                    c.activation
                )));
            }
        }
        let bases: Vec<usize> = std::iter::once(32)
            .chain(BLOCKS.iter().flat_map(|&(c, _)| [0, c]))
            .collect();
        // Depthwise layers (base 0) keep the channels of the layer before.
        let out_channels: Vec<(usize, usize, &FoundConv)> = convs
            .iter()
            .zip(&bases)
            .filter(|(_, &b)| b != 0)
            .map(|(c, &b)| (b, c.weight.dims[0], c))
            .collect();
        let classes = classifier.bias.len();
        let mut config = MobileNetConfig {
            alpha: 1.0,
            resolution,
            classes,
            activation,
            padding: PaddingStyle::Symmetric,
            softmax,
        };
        // Every layer allows alpha in [channels / base, (channels + 1) / base): try short
        // decimals inside the intersection, then conv0 / 32, pw13 / 1024 and its middle.
        let lo = out_channels
            .iter()
            .map(|&(b, c, _)| c as f64 / b as f64)
            .fold(0.0, f64::max);
        let hi = out_channels
            .iter()
            .map(|&(b, c, _)| (c + 1) as f64 / b as f64)
            .fold(f64::INFINITY, f64::min);
        let conv0_alpha = convs[0].weight.dims[0] as f64 / 32.0;
        let last_alpha = convs[26].weight.dims[0] as f64 / 1024.0;
        // The shortest decimal that fits is what the model's author wrote (0.35, 0.3).
        let mid = (lo + hi) / 2.0;
        let rounded = |digits: i32| (mid * 10f64.powi(digits)).round() / 10f64.powi(digits);
        let candidates = [
            rounded(1),
            rounded(2),
            rounded(3),
            conv0_alpha,
            last_alpha,
            mid,
        ];
        let fits = |alpha: f32| {
            let cfg = MobileNetConfig { alpha, ..config };
            out_channels
                .iter()
                .find(|&&(b, c, _)| cfg.channels(b) != c)
                .map(|&(b, c, conv)| (b, c, conv))
        };
        config.alpha = match candidates
            .iter()
            .map(|&a| a as f32)
            .find(|&a| fits(a).is_none())
        {
            Some(a) => a,
            None => {
                let (b, c, conv) = fits(conv0_alpha as f32).expect("did not fit");
                return Err(err(format!(
                    "{}: {c} output channels; no width multiplier gives these channel counts \
                     (alpha {conv0_alpha} from conv0 gives {} for this layer, whose base width \
                     is {b})",
                    label(conv.node),
                    MobileNetConfig {
                        alpha: conv0_alpha as f32,
                        ..config
                    }
                    .channels(b)
                )));
            }
        };
        config
            .validate()
            .map_err(|e| err(format!("inferred {e}")))?;

        // Padding style: every 3x3 convolution's pads must match one style's plan.
        let padded = |style| -> Result<Vec<LayerSpec>> {
            MobileNetConfig {
                padding: style,
                ..config
            }
            .layers()
            .map_err(|e| err(format!("resolution {resolution}: {e}")))
        };
        let (sym, tf) = (
            padded(PaddingStyle::Symmetric)?,
            padded(PaddingStyle::TfSame)?,
        );
        // Index of the first convolution whose pads differ from `plan`'s.
        let mismatch = |plan: &[LayerSpec]| -> Option<usize> {
            convs.iter().zip(plan).position(|(c, spec)| {
                let k = if spec.kind == LayerKind::Pointwise {
                    1
                } else {
                    3
                };
                c.pads.resolve(spec.in_h, spec.in_w, k, spec.stride) != spec.padding
            })
        };
        config.padding = match (mismatch(&sym), mismatch(&tf)) {
            (None, _) => PaddingStyle::Symmetric,
            (_, None) => PaddingStyle::TfSame,
            (Some(i), Some(_)) => {
                let (c, s, t) = (&convs[i], &sym[i], &tf[i]);
                let k = if s.kind == LayerKind::Pointwise { 1 } else { 3 };
                let p = c.pads.resolve(s.in_h, s.in_w, k, s.stride);
                return Err(err(format!(
                    "{} (layer {}): pads [{}, {}, {}, {}] are neither symmetric [{}, {}, {}, {}] \
                     nor TF SAME [{}, {}, {}, {}] for a {}x{} input at stride {}, or the other \
                     layers use the other style",
                    label(c.node),
                    s.name,
                    p.top,
                    p.left,
                    p.bottom,
                    p.right,
                    s.padding.top,
                    s.padding.left,
                    s.padding.bottom,
                    s.padding.right,
                    t.padding.top,
                    t.padding.left,
                    t.padding.bottom,
                    t.padding.right,
                    s.in_h,
                    s.in_w,
                    s.stride
                )));
            }
        };
        Ok(config)
    }

    pub(super) fn weights(
        &self,
        config: &MobileNetConfig,
        convs: Vec<FoundConv>,
        classifier: Classifier,
    ) -> Result<MobileNetWeights> {
        let layers = config.layers()?;
        let mut out: Vec<ConvWeights> = Vec::with_capacity(27);
        for (spec, conv) in layers.iter().zip(convs) {
            let (k, groups) = match spec.kind {
                LayerKind::Pointwise => (1, 1),
                LayerKind::Depthwise => (3, spec.in_c),
                LayerKind::Conv0 => (3, 1),
            };
            let want = [spec.out_c, spec.in_c / groups, k, k];
            let l = label(conv.node);
            if conv.weight.dims != want {
                return Err(err(format!(
                    "{l} (layer {}): weight '{}' has dims {:?}, expected {want:?} (OIHW)",
                    spec.name, conv.node.input[1], conv.weight.dims
                )));
            }
            if conv.group != groups {
                return Err(err(format!(
                    "{l} (layer {}): group {}, expected {groups}",
                    spec.name, conv.group
                )));
            }
            if conv.stride != (spec.stride, spec.stride) {
                return Err(err(format!(
                    "{l} (layer {}): strides {:?}, MobileNet V1 has {}",
                    spec.name, conv.stride, spec.stride
                )));
            }
            if conv.pads.resolve(spec.in_h, spec.in_w, k, spec.stride) != spec.padding {
                return Err(err(format!(
                    "{l} (layer {}): pads {:?}, expected {:?}",
                    spec.name, conv.pads, spec.padding
                )));
            }
            if let Some(bn) = &conv.bn {
                for (what, v) in [
                    ("scale", &bn.gamma),
                    ("bias", &bn.beta),
                    ("mean", &bn.mean),
                    ("var", &bn.var),
                ] {
                    if v.len() != spec.out_c {
                        return Err(err(format!(
                            "BatchNormalization after {l} (layer {}): {what} has {} values for \
                             {} channels",
                            spec.name,
                            v.len(),
                            spec.out_c
                        )));
                    }
                }
            }
            // OIHW to OHWI: only conv0 has both I > 1 and H, W > 1, but do it generally.
            let (o, i) = (spec.out_c, spec.in_c / groups);
            let w = f32s(conv.weight);
            let mut ohwi = vec![0.0; w.len()];
            for oc in 0..o {
                for ic in 0..i {
                    for y in 0..k {
                        for x in 0..k {
                            ohwi[((oc * k + y) * k + x) * i + ic] =
                                w[((oc * i + ic) * k + y) * k + x];
                        }
                    }
                }
            }
            out.push(ConvWeights {
                weights: ohwi,
                bias: conv.bias.unwrap_or_else(|| vec![0.0; spec.out_c]),
                bn: conv.bn,
            });
        }
        let features = config.feature_channels();
        if classifier.features != features {
            return Err(err(format!(
                "{}: the classifier takes {} features, the last layer has {features} channels",
                label(classifier.node),
                classifier.features
            )));
        }
        let mut convs = out.into_iter();
        let conv0 = convs.next().expect("27 layers");
        let mut blocks = Vec::with_capacity(13);
        while let (Some(dw), Some(pw)) = (convs.next(), convs.next()) {
            blocks.push(BlockWeights { dw, pw });
        }
        Ok(MobileNetWeights {
            conv0,
            blocks,
            fc_weights: classifier.weights,
            fc_bias: classifier.bias,
        })
    }
}
