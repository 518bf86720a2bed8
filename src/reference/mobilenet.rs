//! The whole MobileNet V1 forward pass, composed of the naive operators.

use super::network::conv_layer;
use super::{fully_connected, global_avg_pool, softmax};
use crate::net::{MobileNetConfig, MobileNetWeights};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Runs MobileNet V1 on an NHWC input [n, resolution, resolution, 3]. Returns [n, 1, 1,
/// classes]: probabilities if `config.softmax`, else logits.
pub fn mobilenet_v1_forward(
    config: &MobileNetConfig,
    weights: &MobileNetWeights,
    input: &Tensor,
) -> Result<Tensor> {
    weights.validate(config)?;
    let r = config.resolution;
    let s = input.shape;
    if (s.h, s.w, s.c) != (r, r, 3) || s.n == 0 {
        return Err(Error::Shape(format!(
            "input must be [n>=1, {r}, {r}, 3], got {s}"
        )));
    }
    let act = config.activation.clamp();
    let mut x = input.clone();
    for (spec, w) in config.layers()?.iter().zip(weights.convs()) {
        x = conv_layer(&x, spec, w, act)?;
    }
    let pooled = global_avg_pool(&x);
    let logits = fully_connected(&pooled, &weights.fc_weights, &weights.fc_bias)?;
    Ok(if config.softmax {
        softmax(&logits)
    } else {
        logits
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Shape;

    fn small() -> MobileNetConfig {
        MobileNetConfig {
            alpha: 0.25,
            resolution: 32,
            classes: 10,
            ..MobileNetConfig::default()
        }
    }

    #[test]
    fn probabilities_sum_to_one_per_image() {
        let cfg = small();
        let w = MobileNetWeights::random(&cfg, 7, true).unwrap();
        let x = Tensor::from_vec(
            Shape::new(2, 32, 32, 3),
            (0..2 * 32 * 32 * 3)
                .map(|i| ((i % 17) as f32 - 8.0) / 8.0)
                .collect(),
        )
        .unwrap();
        let y = mobilenet_v1_forward(&cfg, &w, &x).unwrap();
        assert_eq!(y.shape, Shape::new(2, 1, 1, 10));
        for row in y.data.chunks(10) {
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "{sum}");
        }
    }

    #[test]
    fn wrong_input_shape_is_refused_with_the_shape() {
        let cfg = small();
        let w = MobileNetWeights::random(&cfg, 7, false).unwrap();
        let x = Tensor::zeros(Shape::new(1, 31, 32, 3));
        let e = mobilenet_v1_forward(&cfg, &w, &x).unwrap_err().to_string();
        assert!(e.contains("h=31"), "{e}");
    }
}
