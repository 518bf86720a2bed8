//! BatchNorm folding: bn(conv(x, w) + b) = conv(x, w * s) + (b - mean) * s + beta with
//! s = gamma / sqrt(var + eps), per output channel. Done once at build time.

use super::weights::ConvWeights;

/// Folded (weights, bias) of a layer; weights keep their OHWI layout.
pub fn fold_batch_norm(conv: &ConvWeights) -> (Vec<f32>, Vec<f32>) {
    let Some(bn) = &conv.bn else {
        return (conv.weights.clone(), conv.bias.clone());
    };
    let out_c = conv.bias.len();
    let per_out = conv.weights.len() / out_c.max(1);
    let scale: Vec<f32> = (0..out_c)
        .map(|o| bn.gamma[o] / (bn.var[o] + bn.eps).sqrt())
        .collect();
    let weights = conv
        .weights
        .iter()
        .enumerate()
        .map(|(i, w)| w * scale[i / per_out])
        .collect();
    let bias = (0..out_c)
        .map(|o| (conv.bias[o] - bn.mean[o]) * scale[o] + bn.beta[o])
        .collect();
    (weights, bias)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::weights::BatchNormParams;

    #[test]
    fn folding_by_hand() {
        // One output channel, two weights (1, -2), bias 0.5; gamma 3, beta 1, mean 0.5,
        // var 3.75, eps 0.25 -> s = 3 / 2 = 1.5: weights (1.5, -3), bias 0 * 1.5 + 1 = 1.
        let conv = ConvWeights {
            weights: vec![1.0, -2.0],
            bias: vec![0.5],
            bn: Some(BatchNormParams {
                gamma: vec![3.0],
                beta: vec![1.0],
                mean: vec![0.5],
                var: vec![3.75],
                eps: 0.25,
            }),
        };
        assert_eq!(fold_batch_norm(&conv), (vec![1.5, -3.0], vec![1.0]));
    }
}
