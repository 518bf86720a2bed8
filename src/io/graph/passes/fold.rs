//! Passes that fold nodes into the convolution (or dense layer) before them: Pad into the
//! next convolution's padding, BatchNormalization and per-channel Mul/Add/Sub/Div into
//! the weights and bias, and Relu/Clip/Max/Min into the fused clamp.

use super::super::shape::{infer_until, native_layout, resolve_pads, Act};
use super::super::{node_err, BinOp, Conv, Dense, Graph, Op, Pads};
use crate::activation::{Activation, Clamp};
use crate::geometry::Padding;
use crate::net::{fold_batch_norm, BatchNormParams, ConvWeights};
use crate::Result;

/// Drops Identity (and Dropout, Cast, ... lowered to it). A quantized Identity passes its
/// output quantization to the node before it when that one has none; one that would
/// requantize (its quantization differs from its input's) stays, for `build_q8` to name.
pub fn drop_identity(graph: &mut Graph) {
    let mut i = 0;
    while i < graph.nodes.len() {
        if graph.nodes[i].op != Op::Identity {
            i += 1;
            continue;
        }
        let q = graph.nodes[i].out_q;
        let prev = match i {
            0 => graph.input_q,
            _ => graph.nodes[i - 1].out_q,
        };
        match (q, prev) {
            (None, _) => {}
            (Some(a), Some(b)) if a == b => {}
            (Some(a), None) if i > 0 => graph.nodes[i - 1].out_q = Some(a),
            _ => {
                i += 1;
                continue;
            }
        }
        graph.nodes.remove(i);
    }
}

/// Folds a zero Pad of height and width into the convolution after it (Keras'
/// ZeroPadding2D before a VALID stride-2 convolution). Other Pads stay, and the build
/// refuses them.
pub fn fold_pad(graph: &mut Graph) -> Result<()> {
    let native = native_layout(graph);
    let mut i = 0;
    while i + 1 < graph.nodes.len() {
        // A node before i that does not apply is reported by the build, in order.
        let Ok(acts) = infer_until(graph, i) else {
            break;
        };
        let (pad, conv) = (&graph.nodes[i], &graph.nodes[i + 1]);
        let (Op::Pad { begin, end, .. }, Op::Conv(c)) = (&pad.op, &conv.op) else {
            i += 1;
            continue;
        };
        let act = &acts[i];
        if act.layout != Some(native) {
            i += 1;
            continue;
        }
        let l = native;
        let [ha, wa] = l.spatial_axes();
        let others_zero = (0..begin.len())
            .filter(|a| *a != ha && *a != wa)
            .all(|a| begin[a] == 0 && end[a] == 0);
        if !others_zero {
            return Err(node_err(
                pad,
                format!(
                    "pads {begin:?} / {end:?} of a {l:?} feature map: only height and width \
                     may be padded"
                ),
            ));
        }
        let Some((h, w, _)) = act.image() else {
            i += 1;
            continue;
        };
        // SAME pads depend on the convolution's input: the padded tensor.
        let inner = resolve_pads(
            c.pads,
            (h + begin[ha] + end[ha], w + begin[wa] + end[wa]),
            effective(c.kernel, c.dilation),
            c.stride,
        );
        let p = Padding::new(
            inner.top + begin[ha],
            inner.left + begin[wa],
            inner.bottom + end[ha],
            inner.right + end[wa],
        );
        let mut conv = graph.nodes.remove(i + 1);
        if let Op::Conv(c) = &mut conv.op {
            c.pads = Pads::Explicit(p);
        }
        graph.nodes[i] = conv;
    }
    Ok(())
}

fn effective(kernel: (usize, usize), dilation: (usize, usize)) -> (usize, usize) {
    (
        (kernel.0.max(1) - 1) * dilation.0 + 1,
        (kernel.1.max(1) - 1) * dilation.1 + 1,
    )
}

/// What a node folds into the Conv or Dense before it.
enum Fold {
    /// y = x * mul + add per channel.
    Affine {
        mul: Vec<f32>,
        add: Vec<f32>,
    },
    BatchNorm(BatchNormParams),
}

/// Per output channel: weights and bias scaled by `mul`, then `add` added to the bias.
fn affine(weights: &mut [f32], bias: &mut [f32], mul: &[f32], add: &[f32]) {
    let per = weights.len() / bias.len().max(1);
    for (o, row) in weights.chunks_exact_mut(per.max(1)).enumerate() {
        row.iter_mut().for_each(|w| *w *= mul[o]);
    }
    for (o, b) in bias.iter_mut().enumerate() {
        *b = *b * mul[o] + add[o];
    }
}

/// The weights and bias of a Conv or Dense whose output has not been clamped yet.
fn linear(op: &mut Op) -> Option<(&mut Vec<f32>, &mut Vec<f32>)> {
    match op {
        Op::Conv(Conv {
            weights,
            bias,
            clamp,
            ..
        })
        | Op::Dense(Dense {
            weights,
            bias,
            clamp,
            ..
        }) if *clamp == Clamp::NONE => Some((weights, bias)),
        _ => None,
    }
}

/// Whether a Conv or Dense has integer weights.
fn quantized(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv(Conv { quant: Some(_), .. }) | Op::Dense(Dense { quant: Some(_), .. })
    )
}

/// Whether [`linear`] would fold into `op`.
fn linear_ref(op: &Op) -> bool {
    matches!(
        op,
        Op::Conv(Conv { clamp, .. }) | Op::Dense(Dense { clamp, .. }) if *clamp == Clamp::NONE
    )
}

/// A constant of `dims` over `act` as one value per channel of `c`, if it varies only
/// along the channel axis.
fn per_channel(value: &[f32], dims: &[usize], act: &Act, c: usize) -> Option<Vec<f32>> {
    let axis = act.channel_axis();
    let rank = act.dims.len();
    // Right-aligned: dims[j] is axis rank - dims.len() + j.
    let off = rank.checked_sub(dims.len())?;
    let along: Vec<usize> = dims
        .iter()
        .enumerate()
        .filter(|&(_, &d)| d != 1)
        .map(|(j, _)| j + off)
        .collect();
    match along.as_slice() {
        [] => Some(vec![*value.first()?; c]),
        [a] if *a == axis && value.len() == c => Some(value.to_vec()),
        _ => None,
    }
}

/// Folds BatchNormalization and per-channel Mul/Add/Sub/Div by constants into the Conv or
/// Dense before them (while no activation separates them).
pub fn fold_affine(graph: &mut Graph) -> Result<()> {
    let mut i = 1;
    while i < graph.nodes.len() {
        // A node before i that does not apply is reported by the build, in order.
        let Ok(acts) = infer_until(graph, i) else {
            break;
        };
        let act = &acts[i];
        let node = &graph.nodes[i];
        let c = act.dims[act.channel_axis()];
        let folded: Option<Fold> = match &node.op {
            Op::BatchNorm {
                scale,
                bias,
                mean,
                var,
                eps,
            } => {
                for (what, v) in [("bias", bias), ("mean", mean), ("var", var)] {
                    if v.len() != scale.len() {
                        return Err(node_err(
                            node,
                            format!("{} {what} values for {} scales", v.len(), scale.len()),
                        ));
                    }
                }
                if let Some(j) = var.iter().position(|&v| v + eps <= 0.0) {
                    return Err(node_err(
                        node,
                        format!("variance {j} plus epsilon {eps} is not positive"),
                    ));
                }
                Some(Fold::BatchNorm(BatchNormParams {
                    gamma: scale.clone(),
                    beta: bias.clone(),
                    mean: mean.clone(),
                    var: var.clone(),
                    eps: *eps,
                }))
            }
            Op::Binary {
                op,
                value,
                dims,
                const_first,
            } => per_channel(value, dims, act, c).and_then(|k| {
                let ones = vec![1.0; c];
                let zeros = vec![0.0; c];
                let (mul, add) = match (op, const_first) {
                    (BinOp::Mul, _) => (k, zeros),
                    (BinOp::Add, _) => (ones, k),
                    (BinOp::Sub, false) => (ones, k.iter().map(|v| -v).collect()),
                    // c - x
                    (BinOp::Sub, true) => (vec![-1.0; c], k),
                    (BinOp::Div, false) if k.iter().all(|&v| v != 0.0) => {
                        (k.iter().map(|v| 1.0 / v).collect(), zeros)
                    }
                    _ => return None,
                };
                Some(Fold::Affine { mul, add })
            }),
            _ => None,
        };
        let Some(fold) = folded else {
            i += 1;
            continue;
        };
        let target = &graph.nodes[i - 1];
        if quantized(&target.op) && linear_ref(&target.op) {
            return Err(node_err(
                &graph.nodes[i],
                format!(
                    "cannot fold into the quantized {}: its integer weights and scales are \
                     fixed by the file",
                    target.label()
                ),
            ));
        }
        let (prev, _) = graph.nodes.split_at_mut(i);
        let Some((w, b)) = linear(&mut prev[i - 1].op) else {
            i += 1;
            continue;
        };
        match fold {
            Fold::Affine { mul, add } if b.len() == mul.len() => affine(w, b, &mul, &add),
            // The runner's own BatchNorm folding, so a file's BN gives the same bits
            // whether it arrives unfolded in MobileNetWeights or through the passes.
            Fold::BatchNorm(bn) if b.len() == bn.gamma.len() => {
                let conv = ConvWeights {
                    weights: std::mem::take(w),
                    bias: std::mem::take(b),
                    bn: Some(bn),
                };
                (*w, *b) = fold_batch_norm(&conv);
            }
            _ => {
                i += 1;
                continue;
            }
        }
        graph.nodes.remove(i);
    }
    Ok(())
}

/// Fuses a Clamp (Relu, Relu6, Clip, Max/Min with a scalar) into the Conv or Dense before
/// it, and merges consecutive clamps; the clamp's output quantization becomes the
/// target's (a quantized model requantizes once, straight to the clamped tensor's grid).
pub fn fuse_clamp(graph: &mut Graph) -> Result<()> {
    let mut i = 1;
    while i < graph.nodes.len() {
        let Op::Clamp(k) = graph.nodes[i].op else {
            i += 1;
            continue;
        };
        k.check().map_err(|e| node_err(&graph.nodes[i], e))?;
        let (head, tail) = graph.nodes.split_at_mut(i);
        let node = &tail[0];
        let target = match &mut head[i - 1].op {
            Op::Conv(Conv { clamp, .. }) | Op::Dense(Dense { clamp, .. }) | Op::Clamp(clamp) => {
                clamp
            }
            _ => {
                i += 1;
                continue;
            }
        };
        // min(max(min(max(x, a), b), c), d) = clamp(x, max(a, c), min(b, d)) when the
        // ranges overlap; when not, the output is a constant the kernels cannot express.
        let merged = Clamp {
            min: target.min.max(k.min),
            max: target.max.min(k.max),
        };
        if merged.min > merged.max {
            return Err(node_err(
                node,
                format!(
                    "clamp to [{}, {}] after [{}, {}] leaves no values",
                    k.min, k.max, target.min, target.max
                ),
            ));
        }
        // Only the identity, ReLU and ReLU6 run (net::NetLayer::activation).
        if ![
            Clamp::NONE,
            Activation::Relu.clamp(),
            Activation::Relu6.clamp(),
        ]
        .contains(&merged)
        {
            return Err(node_err(
                node,
                format!(
                    "clamp [{}, {}] is none of ReLU [0, inf), ReLU6 [0, 6] or the identity",
                    merged.min, merged.max
                ),
            ));
        }
        *target = merged;
        head[i - 1].out_q = tail[0].out_q;
        graph.nodes.remove(i);
    }
    Ok(())
}
