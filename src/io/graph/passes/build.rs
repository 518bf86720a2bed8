//! The last pass: the folded chain as a [`Network`]. Each convolution becomes a layer
//! (full 3x3, depthwise 3x3 or pointwise 1x1), the pool (GlobalAveragePool, ReduceMean over
//! H and W, or an AveragePool whose window is the whole map), a classifier (Dense, or a 1x1
//! Conv after the pool) and a Softmax make the head; layout Transposes and the reshapes
//! between pool and classifier, which shape inference has checked keep one vector per
//! image, carry no data change. Anything else is an error naming the node and why.

use super::super::shape::{infer_until, native_layout, resolve_pads, step, Act};
use super::super::{node_err, Conv, Graph, Imported, Node, Op};
use crate::activation::{Activation, Clamp};
use crate::geometry::Padding;
use crate::net::{layer_spec, ConvWeights, Head, LayerKind, NetLayer, Network, NetworkWeights};
use crate::Result;

/// The activation a fused clamp is.
fn activation(node: &Node, c: Clamp) -> Result<Activation> {
    for a in [Activation::None, Activation::Relu, Activation::Relu6] {
        if a.clamp() == c {
            return Ok(a);
        }
    }
    Err(node_err(
        node,
        format!(
            "activation clamp [{}, {}] is none of ReLU [0, inf), ReLU6 [0, 6] or the identity",
            c.min, c.max
        ),
    ))
}

fn layer_name(node: &Node, index: usize) -> String {
    if node.name.is_empty() {
        format!("{}_{index}", node.op_type)
    } else {
        node.name.clone()
    }
}

/// A convolution over `act` as one of the three layer kinds.
fn conv_layer(node: &Node, index: usize, c: &Conv, act: &Act) -> Result<(NetLayer, ConvWeights)> {
    let (h, w, in_c) = act
        .image()
        .ok_or_else(|| node_err(node, "a convolution of a tensor that is no feature map"))?;
    if c.dilation != (1, 1) {
        return Err(node_err(
            node,
            format!("dilation {:?} is not supported", c.dilation),
        ));
    }
    if c.stride.0 != c.stride.1 {
        return Err(node_err(
            node,
            format!("stride {:?} differs between height and width", c.stride),
        ));
    }
    let stride = c.stride.0;
    let kind = match (c.kernel, c.group) {
        ((3, 3), 1) => LayerKind::Conv0,
        ((3, 3), g) if g == in_c && c.in_c_per_group == 1 => {
            if c.out_c != in_c {
                return Err(node_err(
                    node,
                    format!(
                        "depthwise from {in_c} to {} channels: a channel multiplier above 1 is \
                         not supported",
                        c.out_c
                    ),
                ));
            }
            LayerKind::Depthwise
        }
        ((1, 1), 1) => LayerKind::Pointwise,
        (k, g) => {
            return Err(node_err(
                node,
                format!(
                    "a {}x{} convolution in {g} groups over {in_c} channels is none of a full \
                     3x3, a depthwise 3x3 or a pointwise 1x1 convolution",
                    k.0, k.1
                ),
            ))
        }
    };
    let padding = resolve_pads(c.pads, (h, w), c.kernel, c.stride);
    if kind == LayerKind::Pointwise && (stride != 1 || padding != Padding::default()) {
        return Err(node_err(
            node,
            format!("a 1x1 convolution at stride {stride} with pads {padding:?} is not supported"),
        ));
    }
    let spec = layer_spec(
        layer_name(node, index),
        kind,
        (h, w, in_c),
        c.out_c,
        stride,
        padding,
    )
    .map_err(|e| node_err(node, e))?;
    let layer = NetLayer {
        spec,
        activation: activation(node, c.clamp)?,
    };
    let weights = ConvWeights {
        weights: c.weights.clone(),
        bias: c.bias.clone(),
        bn: None,
    };
    Ok((layer, weights))
}

/// The folded `graph` as a network; every node must be placed.
pub fn build(graph: &Graph) -> Result<Imported> {
    let (in_h, in_w, in_c) = graph.input_hwc()?;
    let native = native_layout(graph);
    let mut cur = infer_until(graph, 0)?.remove(0);
    let mut layers = Vec::new();
    let mut convs = Vec::new();
    let mut head = Head::default();
    let mut fc: Option<(Vec<f32>, Vec<f32>)> = None;
    for (i, node) in graph.nodes.iter().enumerate() {
        let next = step(node, &cur, native)?;
        let act = &cur;
        if head.softmax {
            return Err(node_err(node, "nothing may follow the Softmax"));
        }
        let stage = if fc.is_some() {
            "after the classifier"
        } else if head.pool {
            "after the pool"
        } else {
            "between the convolutions"
        };
        match &node.op {
            Op::Conv(c) if !head.pool && fc.is_none() => {
                let (layer, w) = conv_layer(node, i, c, act)?;
                layers.push(layer);
                convs.push(w);
            }
            // A 1x1 Conv of the pooled vector is the classifier.
            Op::Conv(c) if head.pool && fc.is_none() => {
                let plain = c.kernel == (1, 1)
                    && c.group == 1
                    && matches!(act.image(), Some((1, 1, _)))
                    && resolve_pads(c.pads, (1, 1), (1, 1), c.stride) == Padding::default();
                if !plain {
                    return Err(node_err(
                        node,
                        "a convolution after the pool must be a 1x1 classifier of the pooled \
                         vector (group 1, unpadded)",
                    ));
                }
                if c.clamp != Clamp::NONE {
                    return Err(node_err(node, "an activation on the classifier"));
                }
                fc = Some((c.weights.clone(), c.bias.clone()));
                head.classes = Some(c.out_c);
            }
            Op::GlobalAvgPool { .. } | Op::ReduceMean { .. } if !head.pool => head.pool = true,
            Op::AveragePool {
                kernel,
                stride,
                pads,
                ..
            } if !head.pool => {
                let (h, w, _) = act.image().expect("checked by shape inference");
                let p = resolve_pads(*pads, (h, w), *kernel, *stride);
                if *kernel != (h, w) || p != Padding::default() {
                    return Err(node_err(
                        node,
                        format!(
                            "an average pool of {kernel:?} with pads {p:?} over a {h}x{w} map: \
                             only a pool of the whole map (global) is supported"
                        ),
                    ));
                }
                head.pool = true;
            }
            Op::Dense(d) if fc.is_none() => {
                if !head.pool {
                    // A 1x1 map flattened into the classifier: its pool is the identity.
                    let one_by_one = layers
                        .last()
                        .is_some_and(|l: &NetLayer| (l.spec.out_h, l.spec.out_w) == (1, 1));
                    if !one_by_one {
                        return Err(node_err(
                            node,
                            "a fully connected layer of a feature map larger than 1x1 without \
                             a global pool before it",
                        ));
                    }
                    head.pool = true;
                }
                if d.clamp != Clamp::NONE {
                    return Err(node_err(node, "an activation on the classifier"));
                }
                fc = Some((d.weights.clone(), d.bias.clone()));
                head.classes = Some(d.outputs);
            }
            Op::Softmax { axis } if head.pool => {
                let rank = act.dims.len() as i64;
                let a = if *axis < 0 { axis + rank } else { *axis };
                let big = act.dims.iter().skip(1).position(|&d| d != 1).map(|p| p + 1);
                if big.is_some_and(|b| b as i64 != a) {
                    return Err(node_err(
                        node,
                        format!(
                            "softmax over axis {axis} of {:?}, not the class axis",
                            act.dims
                        ),
                    ));
                }
                head.softmax = true;
            }
            Op::Transpose { .. }
            | Op::Reshape { .. }
            | Op::Flatten { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Identity => {}
            Op::BatchNorm { .. } => {
                return Err(node_err(
                    node,
                    format!(
                        "a batch normalization {stage} that follows no convolution to fold into"
                    ),
                ))
            }
            Op::Binary { dims, .. } => {
                return Err(node_err(
                    node,
                    format!(
                        "arithmetic with a constant of dims {dims:?} {stage}: only per-channel \
                         scales and offsets right after a convolution (before its activation) \
                         fold into it"
                    ),
                ))
            }
            Op::Pad { .. } => {
                return Err(node_err(
                    node,
                    "a Pad must be followed by the convolution it pads",
                ))
            }
            Op::Clamp(_) => {
                return Err(node_err(
                    node,
                    format!("an activation {stage} that follows no convolution"),
                ))
            }
            op => {
                return Err(node_err(
                    node,
                    format!("{} is not supported {stage}", op_kind(op)),
                ))
            }
        }
        cur = next;
    }
    if layers.is_empty() {
        return Err(crate::Error::Model(format!(
            "{}: the graph has no convolution",
            graph.format
        )));
    }
    let network = Network {
        in_h,
        in_w,
        in_c,
        layers,
        head,
    };
    network.validate()?;
    let weights = NetworkWeights { convs, fc };
    weights.validate(&network)?;
    Ok(Imported {
        network,
        weights,
        input_layout: graph.input_layout,
        input_name: graph.input_name.clone(),
        output_name: graph.output_name.clone(),
        quant: None,
    })
}

fn op_kind(op: &Op) -> &'static str {
    match op {
        Op::Conv(_) => "a convolution",
        Op::Dense(_) => "a second fully connected layer",
        Op::GlobalAvgPool { .. } | Op::ReduceMean { .. } | Op::AveragePool { .. } => {
            "a second pool"
        }
        Op::Softmax { .. } => "a softmax",
        _ => "this op",
    }
}
