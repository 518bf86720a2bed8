//! After [`build`](super::build): the quantized network of a quantized graph, from the
//! annotations the lowering left on its nodes ([`Conv::quant`], [`Node::out_q`],
//! [`Graph::input_q`]). Each layer takes the previous tensor's quantization as input and
//! its node's as output; requantization scales and clamp bounds are computed as XNNPACK
//! computes them when it creates the operator, so that a model runs as under LiteRT's
//! XNNPACK delegate or ONNX Runtime's int8 kernels, not merely alike.

use super::super::{node_err, Conv, Dense, Graph, Imported, Node, Op, QuantWeights};
use crate::net::q8::{xnnpack_bounds, InputRounding, Q8Fc, Q8Layer, Q8Network, Q8Pool, Q8PoolMode};
use crate::quant::{OutQ, QParams};
use crate::{Error, Result};

/// Whether any node or the input carries quantization.
fn is_quantized(graph: &Graph) -> bool {
    graph.input_q.is_some()
        || graph.nodes.iter().any(|n| {
            n.out_q.is_some()
                || matches!(
                    n.op,
                    Op::Conv(Conv { quant: Some(_), .. }) | Op::Dense(Dense { quant: Some(_), .. })
                )
        })
}

/// The integer weights of a Conv or Dense node with `out_c` outputs and `len` weights.
fn weights<'a>(
    node: &Node,
    quant: &'a Option<QuantWeights>,
    len: usize,
    out_c: usize,
) -> Result<&'a QuantWeights> {
    let q = quant.as_ref().ok_or_else(|| {
        node_err(
            node,
            "float weights in a quantized model (a mixed float / int8 chain is not supported)",
        )
    })?;
    if q.weights.len() != len || q.weight_scale.len() != out_c || q.bias.len() != out_c {
        return Err(node_err(
            node,
            format!(
                "{} integer weights, {} scales and {} biases for {len} weights of {out_c} \
                 outputs",
                q.weights.len(),
                q.weight_scale.len(),
                q.bias.len()
            ),
        ));
    }
    if let Some((c, s)) = q
        .weight_scale
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(node_err(
            node,
            format!("weight scale {s} of output channel {c} must be finite and positive"),
        ));
    }
    Ok(q)
}

fn out_q(node: &Node, what: &str) -> Result<QParams> {
    node.out_q.ok_or_else(|| {
        node_err(
            node,
            format!(
                "{what} of a quantized model has a float output (a mixed float / int8 chain \
                 is not supported)"
            ),
        )
    })
}

/// XNNPACK's requantization scales: `input_scale * kernel_scale[c] / output_scale` in f32,
/// in that order (`src/operators/convolution-nhwc.c`, `fully-connected-nc.c`).
fn requant_scales(node: &Node, input: QParams, w: &[f32], output: QParams) -> Result<Vec<f32>> {
    let s: Vec<f32> = w.iter().map(|sw| input.scale * sw / output.scale).collect();
    if let Some((c, v)) = s
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v > 0.0))
    {
        return Err(node_err(
            node,
            format!(
                "requantization scale {v} of output channel {c} (input scale {}, output scale \
                 {}) is not a finite positive number",
                input.scale, output.scale
            ),
        ));
    }
    Ok(s)
}

/// The pool of an identity (a 1x1 map flattened into the classifier).
fn identity_pool(q: QParams) -> Q8Pool {
    Q8Pool {
        input: q,
        output: q,
        scale: 1.0,
        out: OutQ::full(q.zero_point),
        mode: Q8PoolMode::Requantize,
    }
}

/// The quantized network of `graph` (folded, as [`build`](super::build) read it into
/// `imported`), or `None` for a float model.
pub fn build_q8(graph: &Graph, imported: &Imported) -> Result<Option<Q8Network>> {
    if !is_quantized(graph) {
        return Ok(None);
    }
    let net = &imported.network;
    let input = graph.input_q.ok_or_else(|| {
        Error::Model(format!(
            "{} input '{}': float input to a quantized model without a quantization at the \
             input",
            graph.format, graph.input_name
        ))
    })?;
    let tflite = graph.format == "TFLite";
    let mut cur = input;
    let mut layers = Vec::with_capacity(net.layers.len());
    let mut pool: Option<Q8Pool> = None;
    let mut fc: Option<Q8Fc> = None;
    for node in &graph.nodes {
        let classifier = |n: &Node, q: &QuantWeights, pool: &mut Option<Q8Pool>| {
            let input = pool.get_or_insert_with(|| identity_pool(cur)).output;
            Ok::<_, Error>(Q8Fc {
                weights: q.weights.clone(),
                bias: q.bias.clone(),
                scale: q.weight_scale.iter().map(|s| input.scale * s).collect(),
                input,
                output: n.out_q,
            })
        };
        match &node.op {
            Op::Conv(c) if pool.is_none() && layers.len() < net.layers.len() => {
                let q = weights(node, &c.quant, c.weights.len(), c.out_c)?;
                let output = out_q(node, "a convolution")?;
                layers.push(Q8Layer {
                    weights: q.weights.clone(),
                    bias: q.bias.clone(),
                    scale: requant_scales(node, cur, &q.weight_scale, output)?,
                    weight_scale: q.weight_scale.clone(),
                    input: cur,
                    output,
                    out: xnnpack_bounds(c.clamp.min, c.clamp.max, output),
                });
                cur = output;
            }
            Op::Conv(c) if fc.is_none() => {
                let q = weights(node, &c.quant, c.weights.len(), c.out_c)?;
                let f = classifier(node, q, &mut pool)?;
                // The logits' quantization, which reshapes after the classifier keep.
                cur = f.output.unwrap_or(cur);
                fc = Some(f);
            }
            Op::Dense(d) if fc.is_none() => {
                let q = weights(node, &d.quant, d.weights.len(), d.outputs)?;
                let f = classifier(node, q, &mut pool)?;
                // The logits' quantization, which reshapes after the classifier keep.
                cur = f.output.unwrap_or(cur);
                fc = Some(f);
            }
            Op::GlobalAvgPool { .. } | Op::ReduceMean { .. } | Op::AveragePool { .. }
                if pool.is_none() =>
            {
                let output = out_q(node, "a pool")?;
                let (h, w, _) = net.features();
                let mode = match &node.op {
                    // TFLite's optimized kernel takes the kept-dims 4-D case only.
                    Op::ReduceMean { keepdims: true, .. } if tflite => {
                        Q8PoolMode::tflite_mean(cur, output)
                    }
                    Op::ReduceMean { .. } if tflite => Q8PoolMode::tflite_mean_general(cur, output),
                    Op::AveragePool { .. } if tflite => {
                        if output != cur {
                            return Err(node_err(
                                node,
                                format!(
                                    "an int8 average pool from scale {} zero point {} to {} \
                                     / {}: TFLite requires the same quantization",
                                    cur.scale,
                                    cur.zero_point - 128,
                                    output.scale,
                                    output.zero_point - 128
                                ),
                            ));
                        }
                        Q8PoolMode::TfliteAvgPool
                    }
                    _ => Q8PoolMode::Requantize,
                };
                let scale = cur.scale / (output.scale * (h * w) as f32);
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(node_err(
                        node,
                        format!("pool requantization scale {scale} is not finite and positive"),
                    ));
                }
                pool = Some(Q8Pool {
                    input: cur,
                    output,
                    scale,
                    out: OutQ::full(output.zero_point),
                    mode,
                });
                cur = output;
            }
            // Softmax runs in f32 on the dequantized logits.
            Op::Softmax { .. } => {}
            _ => {
                // Layout and shape changes (the build placed nothing else) keep the data.
                if let Some(q) = node.out_q.filter(|q| *q != cur) {
                    return Err(node_err(
                        node,
                        format!(
                            "requantizes from scale {} zero point {} to {} / {}: only \
                             convolutions, pools and the classifier may change the \
                             quantization",
                            cur.scale,
                            cur.zero_point - 128,
                            q.scale,
                            q.zero_point - 128
                        ),
                    ));
                }
            }
        }
    }
    if net.head.pool && pool.is_none() {
        pool = Some(identity_pool(cur));
    }
    let q = Q8Network {
        network: net.clone(),
        input,
        // ONNX Runtime's QuantizeLinear divides; LiteRT runs XNNPACK's conversion.
        input_rounding: if tflite {
            InputRounding::Reciprocal
        } else {
            InputRounding::Divide
        },
        input_type: graph.input_type,
        output_type: graph.output_type,
        layers,
        pool,
        fc,
    };
    q.validate()
        .map_err(|e| Error::Model(format!("{}: quantized network: {e}", graph.format)))?;
    Ok(Some(q))
}
