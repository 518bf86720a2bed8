//! The non-convolution operators of MobileNet V1, naive.

use crate::activation::Clamp;
use crate::tensor::{Shape, Tensor};
use crate::{Error, Result};

/// Inference BatchNorm per channel: y = gamma * (x - mean) / sqrt(var + eps) + beta.
pub fn batch_norm(
    input: &Tensor,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
    eps: f32,
) -> Result<Tensor> {
    let c = input.shape.c;
    for (name, v) in [
        ("gamma", gamma),
        ("beta", beta),
        ("mean", mean),
        ("var", var),
    ] {
        if v.len() != c {
            return Err(Error::Shape(format!(
                "batch norm {name} has {} values for {c} channels",
                v.len()
            )));
        }
    }
    let mut out = input.clone();
    for (i, y) in out.data.iter_mut().enumerate() {
        let ch = i % c;
        *y = gamma[ch] * (*y - mean[ch]) / (var[ch] + eps).sqrt() + beta[ch];
    }
    Ok(out)
}

/// Element-wise clamp (the activation on its own).
pub fn clamp(input: &Tensor, c: Clamp) -> Tensor {
    Tensor {
        shape: input.shape,
        data: input.data.iter().map(|&x| c.apply(x)).collect(),
    }
}

/// Mean over H and W: [n, h, w, c] -> [n, 1, 1, c].
pub fn global_avg_pool(input: &Tensor) -> Tensor {
    let s = input.shape;
    let mut out = Tensor::zeros(Shape::new(s.n, 1, 1, s.c));
    for n in 0..s.n {
        for ch in 0..s.c {
            let mut sum = 0.0f64;
            for y in 0..s.h {
                for x in 0..s.w {
                    sum += input.at(n, y, x, ch) as f64;
                }
            }
            out.data[n * s.c + ch] = (sum / (s.h * s.w) as f64) as f32;
        }
    }
    out
}

/// y[n, o] = bias[o] + sum_i x[n, i] * w[o, i], on the flattened per-image features.
/// `weights` is [out, in] row-major (PyTorch's Linear layout). Returns [n, 1, 1, out].
pub fn fully_connected(input: &Tensor, weights: &[f32], bias: &[f32]) -> Result<Tensor> {
    let n = input.shape.n;
    let features = input.shape.h * input.shape.w * input.shape.c;
    let outs = bias.len();
    if weights.len() != outs * features {
        return Err(Error::Shape(format!(
            "fully connected layer with {features} inputs and {outs} outputs needs {} weights, \
             got {}",
            outs * features,
            weights.len()
        )));
    }
    let mut out = Tensor::zeros(Shape::new(n, 1, 1, outs));
    for b in 0..n {
        let x = &input.data[b * features..(b + 1) * features];
        for o in 0..outs {
            let w = &weights[o * features..(o + 1) * features];
            out.data[b * outs + o] = bias[o] + x.iter().zip(w).map(|(a, b)| a * b).sum::<f32>();
        }
    }
    Ok(out)
}

/// Softmax over the channels of each pixel (over the classes of each image).
pub fn softmax(input: &Tensor) -> Tensor {
    let mut out = input.clone();
    for row in out.data.chunks_mut(input.shape.c.max(1)) {
        let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: usize, h: usize, w: usize, c: usize, data: &[f32]) -> Tensor {
        Tensor::from_vec(Shape::new(n, h, w, c), data.to_vec()).unwrap()
    }

    #[test]
    fn batch_norm_by_hand() {
        // eps 0.25 (exact in binary). channel 0: gamma 2, beta 1, mean 3, var 3.75:
        // x = 5 -> 2 * (5 - 3) / sqrt(4) + 1 = 3. channel 1: gamma 1, beta 0, mean 0,
        // var 0.75: x = -2 -> -2 / sqrt(1) = -2.
        let eps = 0.25;
        let x = t(1, 1, 1, 2, &[5.0, -2.0]);
        let y = batch_norm(
            &x,
            &[2.0, 1.0],
            &[1.0, 0.0],
            &[3.0, 0.0],
            &[3.75, 0.75],
            eps,
        )
        .unwrap();
        assert_eq!(y.data, vec![3.0, -2.0]);
    }

    #[test]
    fn avg_pool_by_hand() {
        // 2x2 image, 2 channels: channel 0 = 1,2,3,4 -> 2.5; channel 1 = 10,0,0,0 -> 2.5.
        let x = t(1, 2, 2, 2, &[1., 10., 2., 0., 3., 0., 4., 0.]);
        assert_eq!(global_avg_pool(&x).data, vec![2.5, 2.5]);
    }

    #[test]
    fn fully_connected_by_hand() {
        // two images of 2 features; outputs: o0 = x0 + x1 + 1, o1 = 2 x0 - x1.
        let x = t(2, 1, 1, 2, &[1., 2., 3., -1.]);
        let y = fully_connected(&x, &[1., 1., 2., -1.], &[1., 0.]).unwrap();
        assert_eq!(y.data, vec![4., 0., 3., 7.]);
        assert!(fully_connected(&x, &[1., 1., 2.], &[1., 0.]).is_err());
    }

    #[test]
    fn softmax_by_hand() {
        // equal logits -> uniform; ln 3 vs 0 -> 3/4, 1/4.
        let x = t(2, 1, 1, 2, &[7., 7., 3f32.ln(), 0.]);
        let y = softmax(&x);
        for (got, want) in y.data.iter().zip([0.5, 0.5, 0.75, 0.25]) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
