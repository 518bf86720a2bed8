//! MobileNet V1's configuration and its layer plan (Howard et al. 2017, Table 1).

use crate::activation::Activation;
use crate::geometry::{conv_output_len, Padding};
use crate::{Error, Result};

/// The 13 depthwise-separable blocks at alpha = 1: (pointwise output channels, dw stride).
pub const BLOCKS: [(usize, usize); 13] = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
];

/// Output channels of the first convolution at alpha = 1.
pub const CONV0_CHANNELS: usize = 32;

/// How 3x3 convolutions are padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PaddingStyle {
    /// One pixel on every side (PyTorch `padding=1`).
    Symmetric,
    /// TensorFlow SAME: at stride 2 on even sizes, only bottom and right.
    #[default]
    TfSame,
}

/// What a MobileNet V1 is: width multiplier, input size, classes, activation, padding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MobileNetConfig {
    /// Width multiplier alpha (> 0); 1.0 is the paper's full network.
    pub alpha: f32,
    /// Input height and width (224, 192, 160, 128 or any >= 1).
    pub resolution: usize,
    /// Number of classes of the classifier.
    pub classes: usize,
    /// Activation after every convolution.
    pub activation: Activation,
    /// Padding of the 3x3 convolutions.
    pub padding: PaddingStyle,
    /// Whether the output is softmax probabilities (true) or logits (false).
    pub softmax: bool,
}

impl Default for MobileNetConfig {
    fn default() -> Self {
        MobileNetConfig {
            alpha: 1.0,
            resolution: 224,
            classes: 1000,
            activation: Activation::Relu,
            padding: PaddingStyle::TfSame,
            softmax: true,
        }
    }
}

/// Kind of a layer in the plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerKind {
    /// The first 3x3 stride-2 convolution from 3 channels.
    Conv0,
    /// Depthwise 3x3.
    Depthwise,
    /// Pointwise 1x1.
    Pointwise,
}

/// One convolution of the plan, with its shapes (per image) and padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerSpec {
    pub name: String,
    pub kind: LayerKind,
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub stride: usize,
    pub padding: Padding,
}

impl LayerSpec {
    /// Multiply-adds per image.
    pub fn macs(&self) -> usize {
        let per_output = match self.kind {
            LayerKind::Conv0 => 9 * self.in_c,
            LayerKind::Depthwise => 9,
            LayerKind::Pointwise => self.in_c,
        };
        self.out_h * self.out_w * self.out_c * per_output
    }

    /// Number of weights (without bias).
    pub fn weight_len(&self) -> usize {
        match self.kind {
            LayerKind::Conv0 => self.out_c * 9 * self.in_c,
            LayerKind::Depthwise => self.out_c * 9,
            LayerKind::Pointwise => self.out_c * self.in_c,
        }
    }
}

impl MobileNetConfig {
    /// Checks every field; the error names the one at fault.
    pub fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(Error::Config(format!(
                "alpha must be > 0, got {}",
                self.alpha
            )));
        }
        if self.alpha > 16.0 {
            return Err(Error::Config(format!(
                "alpha {} is above the supported 16",
                self.alpha
            )));
        }
        if self.resolution == 0 || self.resolution > 4096 {
            return Err(Error::Config(format!(
                "resolution must be in 1..=4096, got {}",
                self.resolution
            )));
        }
        if self.classes == 0 || self.classes > 1 << 20 {
            return Err(Error::Config(format!(
                "classes must be in 1..=1048576, got {}",
                self.classes
            )));
        }
        Ok(())
    }

    /// Channels of a layer whose alpha = 1 width is `base`: floor(base * alpha), at least 1.
    /// This is Keras' `int(filters * alpha)` (and the common PyTorch ports'): 0.75 gives 24,
    /// 48, 96 ..., 0.25 gives 8, 16, 32 ...
    pub fn channels(&self, base: usize) -> usize {
        ((base as f64 * self.alpha as f64).floor() as usize).max(1)
    }

    /// Channels entering the classifier.
    pub fn feature_channels(&self) -> usize {
        self.channels(BLOCKS[BLOCKS.len() - 1].0)
    }

    fn padding_for(&self, in_h: usize, in_w: usize, stride: usize) -> Padding {
        match self.padding {
            PaddingStyle::Symmetric => Padding::symmetric(1),
            PaddingStyle::TfSame => Padding::tf_same(in_h, in_w, 3, stride),
        }
    }

    fn conv3x3(
        &self,
        name: String,
        kind: LayerKind,
        stride: usize,
        input: (usize, usize, usize),
        out_c: usize,
    ) -> Result<LayerSpec> {
        let (in_h, in_w, in_c) = input;
        let padding = self.padding_for(in_h, in_w, stride);
        Ok(LayerSpec {
            name,
            kind,
            in_h,
            in_w,
            in_c,
            out_h: conv_output_len(in_h, 3, stride, padding.top, padding.bottom)?,
            out_w: conv_output_len(in_w, 3, stride, padding.left, padding.right)?,
            out_c,
            stride,
            padding,
        })
    }

    /// The 27 convolutions in order: conv0, then dw1, pw1, ..., dw13, pw13.
    pub fn layers(&self) -> Result<Vec<LayerSpec>> {
        self.validate()?;
        let mut layers = Vec::with_capacity(27);
        let r = self.resolution;
        let mut last = self.conv3x3(
            "conv0".into(),
            LayerKind::Conv0,
            2,
            (r, r, 3),
            self.channels(CONV0_CHANNELS),
        )?;
        for (i, &(base, stride)) in BLOCKS.iter().enumerate() {
            let c = last.out_c;
            let dw = self.conv3x3(
                format!("dw{}", i + 1),
                LayerKind::Depthwise,
                stride,
                (last.out_h, last.out_w, c),
                c,
            )?;
            let pw = LayerSpec {
                name: format!("pw{}", i + 1),
                kind: LayerKind::Pointwise,
                in_c: c,
                out_c: self.channels(base),
                stride: 1,
                padding: Padding::default(),
                in_h: dw.out_h,
                in_w: dw.out_w,
                ..dw.clone()
            };
            layers.push(std::mem::replace(&mut last, dw));
            layers.push(std::mem::replace(&mut last, pw));
        }
        layers.push(last);
        Ok(layers)
    }

    /// Multiply-adds per image: every convolution plus the classifier.
    pub fn macs(&self) -> Result<usize> {
        let convs: usize = self.layers()?.iter().map(LayerSpec::macs).sum();
        Ok(convs + self.feature_channels() * self.classes)
    }

    /// Parameters: convolution weights and biases (BatchNorm folded) and the classifier.
    pub fn params(&self) -> Result<usize> {
        let convs: usize = self
            .layers()?
            .iter()
            .map(|l| l.weight_len() + l.out_c)
            .sum();
        Ok(convs + (self.feature_channels() + 1) * self.classes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_numbers_for_1_0_224() {
        // Howard et al. 2017, Table 8: 1.0 MobileNet-224 has 569M mult-adds, 4.2M params.
        let cfg = MobileNetConfig::default();
        let macs = cfg.macs().unwrap();
        assert!((565_000_000..573_000_000).contains(&macs), "{macs}");
        let params = cfg.params().unwrap();
        assert!((4_200_000..4_300_000).contains(&params), "{params}");
        assert_eq!(cfg.layers().unwrap().len(), 27);
    }

    #[test]
    fn paper_numbers_for_smaller_models() {
        // Table 6/7: 0.75 -> 325M mult-adds 2.6M params; 0.5 -> 149M, 1.3M; 0.25 -> 41M, 0.5M;
        // resolution 128 at alpha 1 -> 186M.
        let at = |alpha, resolution| MobileNetConfig {
            alpha,
            resolution,
            ..MobileNetConfig::default()
        };
        let m = |c: MobileNetConfig| c.macs().unwrap() as f64 / 1e6;
        let p = |c: MobileNetConfig| c.params().unwrap() as f64 / 1e6;
        assert!((m(at(0.75, 224)) - 325.0).abs() < 3.0);
        assert!((p(at(0.75, 224)) - 2.6).abs() < 0.05);
        assert!((m(at(0.5, 224)) - 149.0).abs() < 2.0);
        assert!((p(at(0.5, 224)) - 1.3).abs() < 0.05);
        assert!((m(at(0.25, 224)) - 41.0).abs() < 1.0);
        assert!((p(at(0.25, 224)) - 0.5).abs() < 0.05);
        assert!((m(at(1.0, 128)) - 186.0).abs() < 2.0);
    }

    #[test]
    fn spatial_plan_of_224_follows_table_1() {
        let layers = MobileNetConfig::default().layers().unwrap();
        let sizes: Vec<(usize, usize)> = layers.iter().map(|l| (l.out_h, l.out_c)).collect();
        assert_eq!(sizes[0], (112, 32));
        assert_eq!(sizes[1], (112, 32)); // dw1 s1
        assert_eq!(sizes[2], (112, 64)); // pw1
        assert_eq!(sizes[3], (56, 64)); // dw2 s2
        assert_eq!(sizes[7], (28, 128)); // dw4 s2
        assert_eq!(sizes[11], (14, 256)); // dw6 s2
        assert_eq!(sizes[23], (7, 512)); // dw12 s2
        assert_eq!(sizes[26], (7, 1024)); // pw13
                                          // TF SAME pads stride-2 layers on even inputs at the bottom/right only.
        assert_eq!(layers[0].padding, Padding::new(0, 0, 1, 1));
        assert_eq!(layers[1].padding, Padding::symmetric(1));
    }

    #[test]
    fn alpha_rounding_floors() {
        let cfg = MobileNetConfig {
            alpha: 0.75,
            ..MobileNetConfig::default()
        };
        assert_eq!(
            [32, 64, 128, 1024].map(|b| cfg.channels(b)),
            [24, 48, 96, 768]
        );
        let tiny = MobileNetConfig {
            alpha: 0.01,
            ..MobileNetConfig::default()
        };
        assert_eq!(tiny.channels(32), 1);
    }

    #[test]
    fn invalid_fields_are_named() {
        let bad = MobileNetConfig {
            alpha: -1.0,
            ..MobileNetConfig::default()
        };
        assert!(bad.validate().unwrap_err().to_string().contains("alpha"));
        let bad = MobileNetConfig {
            resolution: 0,
            ..MobileNetConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("resolution"));
    }
}
