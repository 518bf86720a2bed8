//! Shape inference along the chain: the dims (batch first, taken as 1) and axis order of
//! the activation entering each node, so that the passes can read a Pad's pads, a
//! constant's broadcast, a ReduceMean's axes or a Reshape's target in the layout the node
//! sees them in.

use super::{node_err, Graph, Layout, Node, Op, Pads};
use crate::geometry::conv_output_len;
use crate::{Error, Result};

/// An activation: its dims with the batch as 1, and for 4-D feature maps their axis order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Act {
    pub dims: Vec<usize>,
    /// `Some` for a 4-D activation whose axes are NCHW or NHWC.
    pub layout: Option<Layout>,
}

impl Act {
    /// (h, w, c) of a 4-D activation.
    pub fn image(&self) -> Option<(usize, usize, usize)> {
        let l = self.layout?;
        let [h, w] = l.spatial_axes().map(|a| self.dims[a]);
        Some((h, w, self.dims[l.channel_axis()]))
    }

    /// The axis of the channels: the layout's, or the last one.
    pub fn channel_axis(&self) -> usize {
        self.layout
            .map_or(self.dims.len().saturating_sub(1), Layout::channel_axis)
    }

    /// At most one dim after the batch is not 1: the data is one vector per image, the
    /// same in memory whatever the axis order.
    pub fn is_vector(&self) -> bool {
        self.dims.iter().skip(1).filter(|&&d| d != 1).count() <= 1
    }

    /// Values per image.
    pub fn features(&self) -> usize {
        elements(&self.dims[self.dims.len().min(1)..])
    }

    fn normalise(&self, node: &Node, axis: i64) -> Result<usize> {
        let rank = self.dims.len() as i64;
        let a = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&a) {
            return Err(node_err(
                node,
                format!("axis {axis} is out of range for {:?}", self.dims),
            ));
        }
        Ok(a as usize)
    }

    /// A vector reshaped to `dims`: a 4-D result gets the layout whose channel axis holds
    /// its one non-unit dim.
    fn vector(dims: Vec<usize>, prefer: Option<Layout>) -> Act {
        let layout = (dims.len() == 4).then(|| {
            let big = dims.iter().skip(1).position(|&d| d != 1).map(|i| i + 1);
            match big {
                Some(3) => Layout::Nhwc,
                Some(1) => Layout::Nchw,
                _ => prefer.unwrap_or(Layout::Nchw),
            }
        });
        // Only an NCHW/NHWC reading is meaningful: a big dim at H or W is no image.
        let layout = layout.filter(|l| {
            l.spatial_axes().iter().all(|&a| dims[a] == 1) || dims.iter().skip(1).all(|&d| d == 1)
        });
        Act { dims, layout }
    }
}

/// The layout a format's convolutions and pools read: ONNX NCHW, TFLite NHWC.
pub fn native_layout(graph: &Graph) -> Layout {
    match graph.format {
        "TFLite" => Layout::Nhwc,
        _ => Layout::Nchw,
    }
}

/// Explicit pads of a `kernel` window at `stride` (per axis) over `in_h` x `in_w`.
pub fn resolve_pads(
    pads: Pads,
    (in_h, in_w): (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
) -> crate::geometry::Padding {
    use crate::geometry::Padding;
    let total = |input: usize, k: usize, s: usize| {
        let out = input.div_ceil(s.max(1));
        ((out.max(1) - 1).saturating_mul(s).saturating_add(k)).saturating_sub(input)
    };
    match pads {
        Pads::Explicit(p) => p,
        Pads::SameUpper | Pads::SameLower => {
            let (th, tw) = (
                total(in_h, kernel.0, stride.0),
                total(in_w, kernel.1, stride.1),
            );
            let (small_h, small_w) = (th / 2, tw / 2);
            if pads == Pads::SameUpper {
                Padding::new(small_h, small_w, th - small_h, tw - small_w)
            } else {
                Padding::new(th - small_h, tw - small_w, small_h, small_w)
            }
        }
    }
}

fn window_out(
    node: &Node,
    (h, w): (usize, usize),
    kernel: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
    pads: Pads,
) -> Result<(usize, usize)> {
    let ek = (
        (kernel.0.max(1) - 1)
            .saturating_mul(dilation.0)
            .saturating_add(1),
        (kernel.1.max(1) - 1)
            .saturating_mul(dilation.1)
            .saturating_add(1),
    );
    let p = resolve_pads(pads, (h, w), ek, stride);
    let oh = conv_output_len(h, ek.0, stride.0, p.top, p.bottom);
    let ow = conv_output_len(w, ek.1, stride.1, p.left, p.right);
    match (oh, ow) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), _) | (_, Err(e)) => Err(node_err(node, e)),
    }
}

fn image_dims(layout: Layout, (h, w, c): (usize, usize, usize)) -> Vec<usize> {
    match layout {
        Layout::Nchw => vec![1, c, h, w],
        Layout::Nhwc => vec![1, h, w, c],
    }
}

/// The activation entering each node of `graph` and, last, the output: `nodes.len() + 1`
/// entries. An op that cannot apply to its input (wrong channels, a Transpose that is not
/// a layout change of a feature map, an `Unsupported` op) is an error naming the node.
pub fn infer(graph: &Graph) -> Result<Vec<Act>> {
    infer_until(graph, graph.nodes.len())
}

/// The activations entering nodes `0..=last` (the output if `last` is the node count):
/// only the nodes before `last` must apply, so a pass reading node `last`'s input reports
/// a fault in the nodes after it only once it gets there.
pub fn infer_until(graph: &Graph, last: usize) -> Result<Vec<Act>> {
    let (h, w, c) = graph.input_hwc()?;
    let mut cur = Act {
        dims: image_dims(graph.input_layout, (h, w, c)),
        layout: Some(graph.input_layout),
    };
    let native = native_layout(graph);
    let mut acts = Vec::with_capacity(last + 1);
    for node in graph.nodes.iter().take(last) {
        acts.push(cur.clone());
        cur = step(node, &cur, native)?;
    }
    acts.push(cur);
    Ok(acts)
}

/// What `node` makes of `cur`.
pub fn step(node: &Node, cur: &Act, native: Layout) -> Result<Act> {
    let image = |what: &str| {
        cur.image()
            .filter(|_| cur.layout == Some(native))
            .ok_or_else(|| {
                node_err(
                    node,
                    format!(
                        "{what} needs a {native:?} feature map, got dims {:?} ({})",
                        cur.dims,
                        cur.layout
                            .map_or("no image layout".into(), |l| format!("{l:?}"))
                    ),
                )
            })
    };
    let rank = cur.dims.len();
    Ok(match &node.op {
        Op::Conv(conv) => {
            let (h, w, c) = image("a convolution")?;
            if c != conv.in_c_per_group.saturating_mul(conv.group) {
                return Err(node_err(
                    node,
                    format!(
                        "weights take {} x {} groups = {} input channels, the input has {c}",
                        conv.in_c_per_group,
                        conv.group,
                        conv.in_c_per_group.saturating_mul(conv.group)
                    ),
                ));
            }
            if conv.group == 0 || !conv.out_c.is_multiple_of(conv.group) {
                return Err(node_err(
                    node,
                    format!(
                        "{} output channels do not split into {} groups",
                        conv.out_c, conv.group
                    ),
                ));
            }
            let (oh, ow) = window_out(
                node,
                (h, w),
                conv.kernel,
                conv.stride,
                conv.dilation,
                conv.pads,
            )?;
            Act {
                dims: image_dims(native, (oh, ow, conv.out_c)),
                layout: Some(native),
            }
        }
        Op::Dense(d) => {
            if !cur.is_vector() || cur.features() != d.inputs {
                return Err(node_err(
                    node,
                    format!(
                        "a fully connected layer of {} inputs over dims {:?}",
                        d.inputs, cur.dims
                    ),
                ));
            }
            Act {
                dims: vec![1, d.outputs],
                layout: None,
            }
        }
        Op::BatchNorm { scale, .. } => {
            let c = cur.dims[cur.channel_axis().min(rank.saturating_sub(1))];
            if scale.len() != c || rank < 2 {
                return Err(node_err(
                    node,
                    format!(
                        "{} scales for an activation of dims {:?}",
                        scale.len(),
                        cur.dims
                    ),
                ));
            }
            cur.clone()
        }
        Op::Binary { dims, value, .. } => {
            let count = elements(dims);
            if count != value.len() {
                return Err(node_err(
                    node,
                    format!("constant of dims {dims:?} holds {} values", value.len()),
                ));
            }
            let fits = dims.len() <= rank
                && dims
                    .iter()
                    .rev()
                    .zip(cur.dims.iter().rev())
                    .all(|(&a, &b)| a == 1 || a == b);
            if !fits {
                return Err(node_err(
                    node,
                    format!(
                        "constant of dims {dims:?} does not broadcast over the activation {:?}",
                        cur.dims
                    ),
                ));
            }
            cur.clone()
        }
        Op::Clamp(_) | Op::Identity => cur.clone(),
        Op::Softmax { axis } => {
            cur.normalise(node, *axis)?;
            cur.clone()
        }
        Op::Pad { begin, end, value } => {
            if begin.len() != rank || end.len() != rank {
                return Err(node_err(
                    node,
                    format!(
                        "pads {begin:?} {end:?} for an activation of rank {rank} ({:?})",
                        cur.dims
                    ),
                ));
            }
            if *value != 0.0 {
                return Err(node_err(node, format!("padding with {value}, not zero")));
            }
            if let Some(l) = cur.layout {
                let [ha, wa] = l.spatial_axes();
                if (0..4).any(|a| a != ha && a != wa && begin[a] + end[a] != 0) {
                    return Err(node_err(
                        node,
                        format!(
                            "pads {begin:?} / {end:?} of a {l:?} feature map: only height and \
                             width may be padded"
                        ),
                    ));
                }
            }
            let dims = (0..rank).map(|a| cur.dims[a] + begin[a] + end[a]).collect();
            Act {
                dims,
                layout: cur.layout,
            }
        }
        Op::Transpose { perm } => {
            let mut seen = vec![false; rank];
            if perm.len() != rank
                || perm
                    .iter()
                    .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
            {
                return Err(node_err(
                    node,
                    format!("perm {perm:?} is not a permutation of {rank} axes"),
                ));
            }
            let dims: Vec<usize> = perm.iter().map(|&p| cur.dims[p]).collect();
            let identity = perm.iter().enumerate().all(|(i, &p)| i == p);
            let layout = match (cur.layout, perm.as_slice()) {
                _ if identity => cur.layout,
                (Some(Layout::Nchw), [0, 2, 3, 1]) => Some(Layout::Nhwc),
                (Some(Layout::Nhwc), [0, 3, 1, 2]) => Some(Layout::Nchw),
                _ if cur.is_vector() && perm.first() == Some(&0) => {
                    return Ok(Act::vector(dims, cur.layout));
                }
                _ => {
                    return Err(node_err(
                        node,
                        format!(
                            "perm {perm:?} of an activation of dims {:?} ({:?}) is not a \
                             change between NCHW and NHWC",
                            cur.dims, cur.layout
                        ),
                    ))
                }
            };
            Act { dims, layout }
        }
        Op::GlobalAvgPool { keepdims } => {
            let (_, _, c) = image("a global average pool")?;
            if *keepdims {
                Act {
                    dims: image_dims(native, (1, 1, c)),
                    layout: Some(native),
                }
            } else {
                Act {
                    dims: vec![1, c],
                    layout: None,
                }
            }
        }
        Op::ReduceMean { axes, keepdims } => {
            let mut axes = axes
                .iter()
                .map(|&a| cur.normalise(node, a))
                .collect::<Result<Vec<_>>>()?;
            axes.sort_unstable();
            axes.dedup();
            let spatial = cur.layout.map(Layout::spatial_axes);
            if spatial.map(|s| s.to_vec()) != Some(axes.clone()) {
                return Err(node_err(
                    node,
                    format!(
                        "the mean over axes {axes:?} of dims {:?} ({:?}) is not over height \
                         and width",
                        cur.dims, cur.layout
                    ),
                ));
            }
            let (_, _, c) = cur.image().expect("a layout");
            if *keepdims {
                let l = cur.layout.expect("a layout");
                Act {
                    dims: image_dims(l, (1, 1, c)),
                    layout: Some(l),
                }
            } else {
                Act {
                    dims: vec![1, c],
                    layout: None,
                }
            }
        }
        Op::AveragePool {
            kernel,
            stride,
            pads,
            ..
        } => {
            let (h, w, c) = image("an average pool")?;
            let (oh, ow) = window_out(node, (h, w), *kernel, *stride, (1, 1), *pads)?;
            Act {
                dims: image_dims(native, (oh, ow, c)),
                layout: Some(native),
            }
        }
        Op::Reshape { shape } => {
            let total = cur.features();
            let dims = match shape {
                None => vec![1, total],
                Some(s) => reshape_dims(node, &cur.dims, s)?,
            };
            if dims == cur.dims {
                return Ok(cur.clone());
            }
            if !cur.is_vector() {
                return Err(node_err(
                    node,
                    format!(
                        "a reshape of the feature map {:?} to {dims:?} is only supported once \
                         it is pooled to one vector per image",
                        cur.dims
                    ),
                ));
            }
            if dims.first() != Some(&1) || elements(&dims[1..]) != total {
                return Err(node_err(
                    node,
                    format!(
                        "reshape of {:?} to {dims:?} does not keep one vector per image",
                        cur.dims
                    ),
                ));
            }
            Act::vector(dims, cur.layout)
        }
        Op::Flatten { axis } => {
            let a = if *axis == rank as i64 {
                rank
            } else {
                cur.normalise(node, *axis)?
            };
            if a != 1 {
                return Err(node_err(
                    node,
                    format!("Flatten at axis {axis} does not keep the batch apart"),
                ));
            }
            if !cur.is_vector() {
                return Err(node_err(
                    node,
                    format!(
                        "flattening the feature map {:?} is only supported once it is pooled",
                        cur.dims
                    ),
                ));
            }
            Act {
                dims: vec![1, cur.features()],
                layout: None,
            }
        }
        Op::Squeeze { axes } => {
            let drop: Vec<usize> = match axes {
                None => (1..rank).filter(|&a| cur.dims[a] == 1).collect(),
                Some(v) => v
                    .iter()
                    .map(|&a| cur.normalise(node, a))
                    .collect::<Result<_>>()?,
            };
            if drop.iter().any(|&a| a == 0 || cur.dims[a] != 1) {
                return Err(node_err(
                    node,
                    format!(
                        "squeezing axes {drop:?} of {:?}: only size-1 axes after the batch",
                        cur.dims
                    ),
                ));
            }
            let dims: Vec<usize> = (0..rank)
                .filter(|a| !drop.contains(a))
                .map(|a| cur.dims[a])
                .collect();
            Act::vector(dims, cur.layout)
        }
        Op::Unsqueeze { axes } => {
            let out_rank = rank + axes.len();
            let mut ins: Vec<usize> = axes
                .iter()
                .map(|&a| {
                    let v = if a < 0 { a + out_rank as i64 } else { a };
                    usize::try_from(v)
                        .ok()
                        .filter(|&v| v < out_rank && v > 0)
                        .ok_or_else(|| node_err(node, format!("unsqueeze axis {a}")))
                })
                .collect::<Result<_>>()?;
            ins.sort_unstable();
            let mut src = cur.dims.iter();
            let dims = (0..out_rank)
                .map(|i| {
                    if ins.contains(&i) {
                        1
                    } else {
                        *src.next().unwrap_or(&1)
                    }
                })
                .collect();
            if !cur.is_vector() {
                return Err(node_err(node, "unsqueeze of a feature map"));
            }
            Act::vector(dims, cur.layout)
        }
        Op::Unsupported(why) => return Err(node_err(node, why)),
    })
}

/// A Reshape's target: 0 copies the input dim, -1 takes what is left.
fn reshape_dims(node: &Node, input: &[usize], shape: &[i64]) -> Result<Vec<usize>> {
    let total = elements(input);
    let mut dims = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            0 => dims.push(*input.get(i).ok_or_else(|| {
                node_err(node, format!("shape {shape:?} copies dim {i} of {input:?}"))
            })?),
            s if s > 0 => dims.push(s as usize),
            _ => {
                return Err(node_err(
                    node,
                    format!("shape {shape:?} is not a valid reshape target"),
                ))
            }
        }
    }
    let known = elements(&dims);
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(node_err(
                node,
                format!("shape {shape:?} does not divide the {total} values of {input:?}"),
            ));
        }
        dims[i] = total / known;
    }
    if elements(&dims) != total {
        return Err(Error::Model(format!(
            "{}: shape {shape:?} does not hold the {total} values of {input:?}",
            node.label()
        )));
    }
    Ok(dims)
}

/// The number of values of `dims`, saturating: dims come from untrusted files, and a
/// saturated count never matches a real one, so the mismatch is reported as an error.
pub(crate) fn elements(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}
