//! Any sequential depthwise-separable network's forward pass, composed of the naive
//! operators.

use super::{batch_norm, clamp, conv2d, fully_connected, global_avg_pool, softmax, Conv2d};
use crate::activation::Clamp;
use crate::net::{ConvWeights, LayerKind, LayerSpec, Network, NetworkWeights};
use crate::tensor::Tensor;
use crate::{Error, Result};

/// Runs `net` on an NHWC input [n, in_h, in_w, in_c]: every convolution, its BatchNorm
/// and its activation, then the head. Returns [n, 1, 1, classes] (probabilities with
/// softmax, else logits) with a classifier, [n, 1, 1, c] pooled without one, else the
/// last feature map [n, h, w, c].
pub fn network_forward(net: &Network, weights: &NetworkWeights, input: &Tensor) -> Result<Tensor> {
    net.validate()?;
    weights.validate(net)?;
    let s = input.shape;
    if (s.h, s.w, s.c) != (net.in_h, net.in_w, net.in_c) || s.n == 0 {
        return Err(Error::Shape(format!(
            "input must be [n>=1, {}, {}, {}], got {s}",
            net.in_h, net.in_w, net.in_c
        )));
    }
    let mut x = input.clone();
    for (layer, w) in net.layers.iter().zip(&weights.convs) {
        x = conv_layer(&x, &layer.spec, w, layer.activation.clamp())?;
    }
    if !net.head.pool {
        return Ok(x);
    }
    x = global_avg_pool(&x);
    if let Some((w, b)) = &weights.fc {
        x = fully_connected(&x, w, b)?;
    }
    Ok(if net.head.softmax { softmax(&x) } else { x })
}

/// One layer: its convolution, its unfolded BatchNorm if any, then `act`.
pub(crate) fn conv_layer(
    x: &Tensor,
    spec: &LayerSpec,
    w: &ConvWeights,
    act: Clamp,
) -> Result<Tensor> {
    let k = if spec.kind == LayerKind::Pointwise {
        1
    } else {
        3
    };
    let conv = Conv2d {
        out_channels: spec.out_c,
        kernel_h: k,
        kernel_w: k,
        stride_h: spec.stride,
        stride_w: spec.stride,
        padding: spec.padding,
        groups: if spec.kind == LayerKind::Depthwise {
            spec.in_c
        } else {
            1
        },
    };
    let mut y = conv2d(x, &w.weights, Some(&w.bias), &conv, Clamp::NONE)?;
    if let Some(bn) = &w.bn {
        y = batch_norm(&y, &bn.gamma, &bn.beta, &bn.mean, &bn.var, bn.eps)?;
    }
    Ok(clamp(&y, act))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{MobileNetConfig, MobileNetWeights};
    use crate::reference::mobilenet_v1_forward;
    use crate::tensor::Shape;

    #[test]
    fn mobilenet_as_a_network_gives_the_same_bits() {
        let config = MobileNetConfig {
            alpha: 0.25,
            resolution: 33,
            classes: 6,
            ..MobileNetConfig::default()
        };
        let w = MobileNetWeights::random(&config, 3, true).unwrap();
        let x = Tensor::from_vec(
            Shape::new(2, 33, 33, 3),
            (0..2 * 33 * 33 * 3)
                .map(|i| ((i % 13) as f32 - 6.0) / 6.0)
                .collect(),
        )
        .unwrap();
        let net = Network::mobilenet(&config).unwrap();
        let a = network_forward(&net, &NetworkWeights::from_mobilenet(&w), &x).unwrap();
        assert_eq!(a, mobilenet_v1_forward(&config, &w, &x).unwrap());
    }
}
