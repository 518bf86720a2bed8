//! ONNX import: maps the MobileNet V1 graphs that PyTorch's exporter and tf2onnx produce
//! onto [`MobileNetConfig`] and [`MobileNetWeights`].
//!
//! The graph must be one chain from the data input to the first graph output:
//!
//! - optionally `Transpose(perm = [0, 3, 1, 2])` first: the model then takes NHWC input;
//! - 27 `Conv` (3x3 s2 from 3 channels, then 13 x depthwise 3x3 with `group` = channels and
//!   pointwise 1x1), each with an optional bias, optionally after a zero `Pad` of H and W
//!   (Keras' ZeroPadding2D before a VALID stride-2 convolution, folded into the pads), optionally followed by an unfolded
//!   `BatchNormalization` (kept with its epsilon) and by `Relu` or `Clip(0, 6)` (bounds as
//!   attributes before opset 11, as initializer or Constant inputs after). Pads come from
//!   `pads` ([top, left, bottom, right]) or `auto_pad` (SAME_UPPER, SAME_LOWER, VALID,
//!   NOTSET); all must be symmetric (PyTorch) or all TensorFlow SAME;
//! - a global average pool: `GlobalAveragePool`, or `ReduceMean` over H and W (axes as an
//!   attribute or, from opset 18, an input), optionally after `Transpose(perm = [0, 2, 3, 1])`
//!   back to NHWC;
//! - `Flatten`, `Reshape`, `Squeeze` and batch-first `Transpose` anywhere after the pool. The
//!   Reshape's shape is a constant, or computed from `Shape` of the activations by
//!   Gather/Unsqueeze/Concat/... (PyTorch's `x.view(x.size(0), -1)` with a dynamic batch);
//! - a classifier: `Gemm` (`transB` 0 or 1, `alpha`/`beta` folded), `MatMul` + `Add`, or a
//!   1x1 `Conv`;
//! - optionally `Softmax`, which sets `config.softmax`.
//!
//! `Identity` and `Dropout` pass through anywhere. A `Softmax` of the output that feeds a
//! second graph output (logits first, probabilities second) is allowed and ignored: the
//! first graph output is the model's output. Anything else (other ops, branches, shapes
//! computed at run time other than a Reshape's, dilations, attributes the importer does not know) is refused with
//! an error naming the node and why.
//!
//! Alpha is inferred from the channel counts (so that [`MobileNetConfig::channels`]
//! reproduces every layer), the resolution from the input shape, the padding style from the
//! pads; every layer's shape is then checked against [`MobileNetConfig::layers`].

use super::onnx_graph::{err, label, Attrs, Const, Data, Graph};
use super::onnx_proto as pb;
use super::read_path;
use crate::activation::Activation;
use crate::geometry::Padding;
use crate::net::{
    BatchNormParams, BlockWeights, ConvWeights, LayerKind, LayerSpec, MobileNetConfig,
    MobileNetWeights, PaddingStyle, BLOCKS,
};
use crate::Result;
use prost::Message;
use std::path::Path;

/// Memory layout of the model's input tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputLayout {
    /// [n, 3, h, w]: convert with [`crate::Tensor::from_nchw`] before running.
    Nchw,
    /// [n, h, w, 3]: the graph starts with a Transpose to NCHW (TensorFlow exports).
    Nhwc,
}

/// An imported ONNX model: what sepconv runs plus what the file called things.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxModel {
    pub config: MobileNetConfig,
    pub weights: MobileNetWeights,
    pub input_layout: InputLayout,
    pub input_name: String,
    pub output_name: String,
}

/// Loads an ONNX MobileNet V1 from its bytes.
pub fn load_onnx(bytes: &[u8]) -> Result<(MobileNetConfig, MobileNetWeights)> {
    let m = import_onnx(bytes)?;
    Ok((m.config, m.weights))
}

/// Loads an ONNX MobileNet V1 from a file.
pub fn load_onnx_file(path: impl AsRef<Path>) -> Result<(MobileNetConfig, MobileNetWeights)> {
    load_onnx(&read_path(path.as_ref())?)
}

/// Like [`load_onnx`], also telling the input layout and tensor names.
pub fn import_onnx(bytes: &[u8]) -> Result<OnnxModel> {
    let model = pb::ModelProto::decode(bytes).map_err(|e| {
        err(format!(
            "not a valid ONNX protobuf ({} bytes): {e}",
            bytes.len()
        ))
    })?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain(), "" | "ai.onnx"))
        .map(|o| o.version())
        .ok_or_else(|| err("the model imports no default-domain opset"))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| err("the model has no graph"))?;
    Importer {
        g: Graph::new(graph)?,
        opset,
    }
    .run()
}

/// One convolution as found in the graph, before the config is known.
struct FoundConv<'a> {
    node: &'a pb::NodeProto,
    /// OIHW dims and values.
    weight: Const,
    bias: Option<Vec<f32>>,
    group: usize,
    stride: (usize, usize),
    pads: Pads,
    bn: Option<BatchNormParams>,
    activation: Activation,
    /// The node that set the activation (for errors).
    act_node: Option<&'a pb::NodeProto>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Pads {
    Explicit(Padding),
    SameUpper,
    SameLower,
}

impl Pads {
    fn resolve(self, in_h: usize, in_w: usize, kernel: usize, stride: usize) -> Padding {
        match self {
            Pads::Explicit(p) => p,
            Pads::SameUpper => Padding::tf_same(in_h, in_w, kernel, stride),
            Pads::SameLower => {
                let p = Padding::tf_same(in_h, in_w, kernel, stride);
                Padding::new(p.bottom, p.right, p.top, p.left)
            }
        }
    }
}

/// The classifier as [classes][features] plus bias.
struct Classifier<'a> {
    node: &'a pb::NodeProto,
    weights: Vec<f32>,
    features: usize,
    bias: Vec<f32>,
}

struct Importer<'a> {
    g: Graph<'a>,
    opset: i64,
}

fn f32s(c: Const) -> Vec<f32> {
    match c.data {
        Data::F32(v) => v,
        Data::I64(v) => v.into_iter().map(|x| x as f32).collect(),
    }
}

fn usize_list(node: &pb::NodeProto, what: &str, v: &[i64]) -> Result<Vec<usize>> {
    v.iter()
        .map(|&x| {
            usize::try_from(x)
                .map_err(|_| err(format!("{}: {what} {v:?} is negative", label(node))))
        })
        .collect()
}

impl<'a> Importer<'a> {
    fn run(self) -> Result<OnnxModel> {
        let graph = self.g.graph;
        let inputs: Vec<&pb::ValueInfoProto> = graph
            .input
            .iter()
            .filter(|i| !self.g.is_const(i.name()))
            .collect();
        let input = match inputs.as_slice() {
            [one] => *one,
            other => {
                return Err(err(format!(
                    "expected one data input, found {} ({})",
                    other.len(),
                    other
                        .iter()
                        .map(|i| i.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        let output = graph
            .output
            .first()
            .ok_or_else(|| err("the graph has no output"))?;
        let path = self.g.data_path(input.name(), output.name())?;
        let mut nodes = path
            .into_iter()
            .filter(|n| !matches!(n.op_type(), "Identity" | "Dropout"))
            .peekable();
        // Pass-through nodes still must not carry surprises.
        for n in self
            .g
            .graph
            .node
            .iter()
            .filter(|n| n.op_type() == "Dropout")
        {
            Attrs::new(n, &["ratio", "seed", "is_test"])?;
            if let Some(training) = self.g.input_i64(n, 2)? {
                if training.iter().any(|&t| t != 0) {
                    return Err(err(format!("{}: training_mode is true", label(n))));
                }
            }
        }

        let mut layout = InputLayout::Nchw;
        if let Some(n) = nodes.next_if(|n| n.op_type() == "Transpose") {
            let perm = Attrs::new(n, &["perm"])?.ints("perm")?;
            if perm.as_deref() != Some(&[0, 3, 1, 2]) {
                return Err(err(format!(
                    "{}: an input Transpose must have perm [0, 3, 1, 2] (NHWC to NCHW), got \
                     {perm:?}",
                    label(n)
                )));
            }
            layout = InputLayout::Nhwc;
        }
        let resolution = input_resolution(input, layout)?;

        let mut convs: Vec<FoundConv> = Vec::with_capacity(27);
        while convs.len() < 27 {
            // Keras pads stride-2 depthwise inputs with ZeroPadding2D (a Pad node) and then
            // runs a VALID convolution: fold the Pad into the Conv's pads.
            let pad = match nodes.next_if(|n| n.op_type() == "Pad") {
                Some(p) => Some((p, self.pad(p)?)),
                None => None,
            };
            let Some(node) = nodes.next() else {
                return Err(err(format!(
                    "the graph ends after {} convolutions; MobileNet V1 has 27",
                    convs.len()
                )));
            };
            if node.op_type() != "Conv" {
                return Err(err(format!(
                    "{}: expected Conv number {} of MobileNet V1's 27, found {}",
                    label(node),
                    convs.len() + 1,
                    node.op_type()
                )));
            }
            let mut conv = self.conv(node)?;
            if let Some((pad_node, extra)) = pad {
                let Pads::Explicit(p) = conv.pads else {
                    return Err(err(format!(
                        "{}: a Pad ({}) before a Conv with auto_pad SAME is not supported",
                        label(node),
                        label(pad_node)
                    )));
                };
                conv.pads = Pads::Explicit(Padding::new(
                    p.top + extra.top,
                    p.left + extra.left,
                    p.bottom + extra.bottom,
                    p.right + extra.right,
                ));
            }
            if let Some(bn) = nodes.next_if(|n| n.op_type() == "BatchNormalization") {
                conv.bn = Some(self.batch_norm(bn)?);
            }
            if let Some(act) = nodes.next_if(|n| matches!(n.op_type(), "Relu" | "Clip")) {
                conv.activation = self.activation(act)?;
                conv.act_node = Some(act);
            }
            convs.push(conv);
        }

        // Head: pool, reshapes, classifier, softmax.
        let mut pooled = false;
        let mut nhwc_head = false;
        let mut classifier: Option<Classifier> = None;
        let mut softmax = false;
        for node in nodes {
            if softmax {
                return Err(err(format!(
                    "{}: nothing may follow the Softmax",
                    label(node)
                )));
            }
            match node.op_type() {
                "Transpose" if !pooled && !nhwc_head => {
                    let perm = Attrs::new(node, &["perm"])?.ints("perm")?;
                    if perm.as_deref() != Some(&[0, 2, 3, 1]) {
                        return Err(err(format!(
                            "{}: only a Transpose back to NHWC (perm [0, 2, 3, 1]) may precede \
                             the pool, got {perm:?}",
                            label(node)
                        )));
                    }
                    nhwc_head = true;
                }
                // After the pool only one dim per image is not 1: any transpose that keeps
                // the batch first leaves the data as it is (tf2onnx's layout changes).
                "Transpose" if pooled => {
                    let perm = Attrs::new(node, &["perm"])?.ints("perm")?;
                    if perm.as_ref().and_then(|p| p.first()) != Some(&0) {
                        return Err(err(format!(
                            "{}: a Transpose after the pool must keep the batch axis first, got \
                             perm {perm:?}",
                            label(node)
                        )));
                    }
                }
                "GlobalAveragePool" if !pooled && !nhwc_head => {
                    Attrs::new(node, &[])?;
                    pooled = true;
                }
                "ReduceMean" if !pooled => {
                    self.reduce_mean(node, nhwc_head)?;
                    pooled = true;
                }
                "Flatten" | "Reshape" | "Squeeze" if pooled => self.reshape(node)?,
                "Gemm" | "MatMul" | "Conv" if pooled && classifier.is_none() => {
                    classifier = Some(self.classifier(node)?);
                }
                "Add"
                    if classifier
                        .as_ref()
                        .is_some_and(|c| c.node.op_type() == "MatMul") =>
                {
                    let c = classifier.as_mut().expect("checked");
                    if !c.bias.iter().all(|&b| b == 0.0) {
                        return Err(err(format!("{}: a second bias after MatMul", label(node))));
                    }
                    Attrs::new(node, &[])?;
                    let b = self.bias_input(node, c.bias.len())?;
                    c.bias = b;
                }
                "Softmax" if classifier.is_some() => {
                    let axis = Attrs::new(node, &["axis"])?.int("axis", -1)?;
                    if !matches!(axis, 1 | -1) {
                        return Err(err(format!(
                            "{}: softmax over axis {axis}, expected the class axis (1 or -1)",
                            label(node)
                        )));
                    }
                    softmax = true;
                }
                op => {
                    let stage = if classifier.is_some() {
                        "after the classifier"
                    } else if pooled {
                        "between the pool and the classifier"
                    } else {
                        "after the last convolution, before the pool"
                    };
                    return Err(err(format!(
                        "{}: {op} is not supported {stage} of a MobileNet V1",
                        label(node)
                    )));
                }
            }
        }
        if !pooled {
            return Err(err(
                "no global average pool (GlobalAveragePool or ReduceMean) after the last Conv",
            ));
        }
        let classifier = classifier
            .ok_or_else(|| err("no classifier (Gemm, MatMul + Add or 1x1 Conv) after the pool"))?;

        let config = self.infer_config(&convs, &classifier, resolution, softmax)?;
        let weights = self.weights(&config, convs, classifier)?;
        weights.validate(&config)?;
        Ok(OnnxModel {
            config,
            weights,
            input_layout: layout,
            input_name: input.name().to_string(),
            output_name: output.name().to_string(),
        })
    }

    fn conv(&self, node: &'a pb::NodeProto) -> Result<FoundConv<'a>> {
        let attrs = Attrs::new(
            node,
            &[
                "auto_pad",
                "dilations",
                "group",
                "kernel_shape",
                "pads",
                "strides",
            ],
        )?;
        let weight = self
            .g
            .input_f32(node, 1)?
            .ok_or_else(|| err(format!("{}: no weight input", label(node))))?;
        if weight.dims.len() != 4 {
            return Err(err(format!(
                "{}: weight '{}' has dims {:?}, expected 4 (OIHW)",
                label(node),
                node.input[1],
                weight.dims
            )));
        }
        let out_c = weight.dims[0];
        let bias = self.g.input_f32(node, 2)?.map(f32s);
        if let Some(b) = &bias {
            if b.len() != out_c {
                return Err(err(format!(
                    "{}: bias '{}' has {} values for {out_c} output channels",
                    label(node),
                    node.input[2],
                    b.len()
                )));
            }
        }
        let group = attrs.int("group", 1)?;
        let group = usize::try_from(group)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| err(format!("{}: group {group}", label(node))))?;
        if let Some(d) = attrs.ints("dilations")? {
            if d.iter().any(|&x| x != 1) {
                return Err(err(format!(
                    "{}: dilations {d:?} are not supported (MobileNet V1 has none)",
                    label(node)
                )));
            }
        }
        if let Some(k) = attrs.ints("kernel_shape")? {
            if k.len() != 2 || k[0] as usize != weight.dims[2] || k[1] as usize != weight.dims[3] {
                return Err(err(format!(
                    "{}: kernel_shape {k:?} does not match the weight dims {:?}",
                    label(node),
                    weight.dims
                )));
            }
        }
        let strides = match attrs.ints("strides")? {
            None => vec![1, 1],
            Some(s) => usize_list(node, "strides", &s)?,
        };
        let stride = match strides.as_slice() {
            &[h, w] if h >= 1 && w >= 1 => (h, w),
            _ => {
                return Err(err(format!(
                    "{}: strides {strides:?} must be two positive values",
                    label(node)
                )))
            }
        };
        let auto_pad = attrs.string("auto_pad")?;
        let pads = match auto_pad.as_deref().unwrap_or("NOTSET") {
            "NOTSET" => match attrs.ints("pads")? {
                None => Pads::Explicit(Padding::default()),
                Some(p) => match usize_list(node, "pads", &p)?.as_slice() {
                    // ONNX order: [top, left, bottom, right].
                    &[t, l, b, r] => Pads::Explicit(Padding::new(t, l, b, r)),
                    _ => {
                        return Err(err(format!(
                            "{}: pads {p:?} must have 4 values [top, left, bottom, right]",
                            label(node)
                        )))
                    }
                },
            },
            "VALID" => Pads::Explicit(Padding::default()),
            "SAME_UPPER" => Pads::SameUpper,
            "SAME_LOWER" => Pads::SameLower,
            other => {
                return Err(err(format!(
                    "{}: auto_pad {other:?} is not supported",
                    label(node)
                )))
            }
        };
        Ok(FoundConv {
            node,
            weight,
            bias,
            group,
            stride,
            pads,
            bn: None,
            activation: Activation::None,
            act_node: None,
        })
    }

    /// A zero Pad of H and W (NCHW) as [top, left, bottom, right].
    fn pad(&self, node: &pb::NodeProto) -> Result<Padding> {
        let attrs = Attrs::new(node, &["mode", "pads", "value"])?;
        let mode = attrs.string("mode")?.unwrap_or_else(|| "constant".into());
        if mode != "constant" {
            return Err(err(format!(
                "{}: Pad mode {mode:?} is not supported",
                label(node)
            )));
        }
        let (pads, value) = if self.opset < 11 {
            (attrs.ints("pads")?, attrs.float("value", 0.0)?)
        } else {
            if node.input.get(3).is_some_and(|a| !a.is_empty()) {
                return Err(err(format!("{}: Pad axes are not supported", label(node))));
            }
            let value = match self.g.input_f32(node, 2)? {
                None => 0.0,
                Some(c) => f32s(c).first().copied().unwrap_or(0.0),
            };
            (self.g.input_i64(node, 1)?, value)
        };
        let pads = pads.ok_or_else(|| err(format!("{}: no pads", label(node))))?;
        if value != 0.0 {
            return Err(err(format!(
                "{}: padding with {value}, not zero",
                label(node)
            )));
        }
        // [n_begin, c_begin, h_begin, w_begin, n_end, c_end, h_end, w_end]
        match usize_list(node, "pads", &pads)?.as_slice() {
            &[0, 0, t, l, 0, 0, b, r] => Ok(Padding::new(t, l, b, r)),
            _ => Err(err(format!(
                "{}: pads {pads:?}: only H and W of NCHW may be padded",
                label(node)
            ))),
        }
    }

    fn batch_norm(&self, node: &pb::NodeProto) -> Result<BatchNormParams> {
        let attrs = Attrs::new(
            node,
            &[
                "epsilon",
                "momentum",
                "spatial",
                "training_mode",
                "is_test",
                "consumed_inputs",
            ],
        )?;
        if attrs.int("spatial", 1)? != 1 {
            return Err(err(format!(
                "{}: spatial = 0 is not supported",
                label(node)
            )));
        }
        if attrs.int("training_mode", 0)? != 0 {
            return Err(err(format!("{}: training_mode is set", label(node))));
        }
        let eps = attrs.float("epsilon", 1e-5)?;
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(err(format!("{}: epsilon {eps}", label(node))));
        }
        let get = |i: usize, what: &str| -> Result<Vec<f32>> {
            self.g
                .input_f32(node, i)?
                .map(f32s)
                .ok_or_else(|| err(format!("{}: no {what} input", label(node))))
        };
        let gamma = get(1, "scale")?;
        let beta = get(2, "bias")?;
        let mean = get(3, "mean")?;
        let var = get(4, "var")?;
        Ok(BatchNormParams {
            gamma,
            beta,
            mean,
            var,
            eps,
        })
    }

    fn activation(&self, node: &pb::NodeProto) -> Result<Activation> {
        if node.op_type() == "Relu" {
            Attrs::new(node, &[])?;
            return Ok(Activation::Relu);
        }
        let attrs = Attrs::new(node, &["min", "max"])?;
        let scalar = |i: usize| -> Result<Option<f32>> {
            match self.g.input_f32(node, i)? {
                None => Ok(None),
                Some(c) => match f32s(c).as_slice() {
                    [v] => Ok(Some(*v)),
                    v => Err(err(format!(
                        "{}: bound '{}' has {} values, expected one",
                        label(node),
                        node.input[i],
                        v.len()
                    ))),
                },
            }
        };
        let (min, max) = if self.opset < 11 {
            (attrs.opt_float("min")?, attrs.opt_float("max")?)
        } else {
            (scalar(1)?, scalar(2)?)
        };
        match (min, max) {
            (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => Ok(Activation::Relu6),
            (Some(0.0), None) => Ok(Activation::Relu),
            (Some(lo), Some(hi)) if lo == 0.0 && hi == f32::INFINITY => Ok(Activation::Relu),
            _ => Err(err(format!(
                "{}: Clip bounds ({min:?}, {max:?}) are neither ReLU (0, none) nor ReLU6 (0, 6)",
                label(node)
            ))),
        }
    }

    fn reduce_mean(&self, node: &pb::NodeProto, nhwc: bool) -> Result<()> {
        let attrs = Attrs::new(node, &["axes", "keepdims", "noop_with_empty_axes"])?;
        let axes = match attrs.ints("axes")? {
            Some(a) => Some(a),
            None => self.g.input_i64(node, 1)?,
        };
        let mut axes: Vec<i64> = axes
            .unwrap_or_default()
            .into_iter()
            .map(|a| if a < 0 { a + 4 } else { a })
            .collect();
        axes.sort_unstable();
        let want: &[i64] = if nhwc { &[1, 2] } else { &[2, 3] };
        if axes != want {
            return Err(err(format!(
                "{}: ReduceMean over axes {axes:?}, expected the spatial axes {want:?} of the \
                 {} activations",
                label(node),
                if nhwc { "NHWC" } else { "NCHW" }
            )));
        }
        Ok(())
    }

    /// Flatten / Reshape / Squeeze in the head: only dropping the 1x1 spatial dims.
    fn reshape(&self, node: &pb::NodeProto) -> Result<()> {
        match node.op_type() {
            "Flatten" => {
                let axis = Attrs::new(node, &["axis"])?.int("axis", 1)?;
                if axis != 1 {
                    return Err(err(format!(
                        "{}: Flatten axis {axis}, expected 1",
                        label(node)
                    )));
                }
            }
            "Reshape" => {
                Attrs::new(node, &["allowzero"])?;
                if node
                    .input
                    .get(1)
                    .is_some_and(|s| self.g.is_computed_shape(s))
                {
                    // x.view(x.size(0), -1): after the pool only [batch, channels] fits the
                    // classifier, whose input width is checked against the channels.
                    return Ok(());
                }
                let shape = self.g.input_i64(node, 1)?.ok_or_else(|| {
                    err(format!("{}: Reshape needs a constant shape", label(node)))
                })?;
                // [batch, features] or [batch, features, 1, 1] with batch -1, 0 or fixed.
                let ok = shape.len() >= 2
                    && shape[0] >= -1
                    && shape[2..].iter().all(|&d| d == 1)
                    && (shape[1] > 0 || (shape[1] == -1 && shape[0] > 0));
                if !ok {
                    return Err(err(format!(
                        "{}: Reshape to {shape:?}: only [batch, features(, 1, 1)] is supported \
                         after the pool",
                        label(node)
                    )));
                }
            }
            _ => {
                let attrs = Attrs::new(node, &["axes"])?;
                let axes = match attrs.ints("axes")? {
                    Some(a) => Some(a),
                    None => self.g.input_i64(node, 1)?,
                };
                if let Some(axes) = axes {
                    if axes.iter().any(|&a| !matches!(a, 1 | 2 | 3 | -1 | -2 | -3)) {
                        return Err(err(format!(
                            "{}: Squeeze axes {axes:?} include the batch axis",
                            label(node)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    fn bias_input(&self, node: &pb::NodeProto, classes: usize) -> Result<Vec<f32>> {
        let idx = if self.g.is_const(&node.input[0]) {
            0
        } else {
            1
        };
        let b = self
            .g
            .input_f32(node, idx)?
            .ok_or_else(|| err(format!("{}: no bias input", label(node))))?;
        let ok_dims = b.dims.iter().rev().skip(1).all(|&d| d == 1);
        let v = f32s(b);
        if v.len() != classes || !ok_dims {
            return Err(err(format!(
                "{}: bias '{}' has {} values, the classifier has {classes} classes",
                label(node),
                node.input[idx],
                v.len()
            )));
        }
        Ok(v)
    }

    fn classifier(&self, node: &'a pb::NodeProto) -> Result<Classifier<'a>> {
        let two_d = |c: &Const| -> Result<(usize, usize)> {
            match c.dims.as_slice() {
                &[a, b] => Ok((a, b)),
                d => Err(err(format!(
                    "{}: weight '{}' has dims {d:?}, expected 2",
                    label(node),
                    node.input[1]
                ))),
            }
        };
        let weight = || {
            self.g
                .input_f32(node, 1)?
                .ok_or_else(|| err(format!("{}: no weight input", label(node))))
        };
        match node.op_type() {
            "Gemm" => {
                let attrs = Attrs::new(node, &["alpha", "beta", "transA", "transB"])?;
                if attrs.int("transA", 0)? != 0 {
                    return Err(err(format!("{}: transA = 1 is not supported", label(node))));
                }
                let (alpha, beta) = (attrs.float("alpha", 1.0)?, attrs.float("beta", 1.0)?);
                let w = weight()?;
                let (r, c) = two_d(&w)?;
                let trans_b = attrs.int("transB", 0)? != 0;
                let (classes, features) = if trans_b { (r, c) } else { (c, r) };
                let v = f32s(w);
                let weights = if trans_b {
                    v.iter().map(|x| x * alpha).collect()
                } else {
                    transpose(&v, r, c).iter().map(|x| x * alpha).collect()
                };
                let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
                    None => vec![0.0; classes],
                    Some(_) => {
                        let b = self.g.input_f32(node, 2)?.expect("present");
                        let v = f32s(b);
                        if v.len() != classes {
                            return Err(err(format!(
                                "{}: bias '{}' has {} values, the classifier has {classes} \
                                 classes",
                                label(node),
                                node.input[2],
                                v.len()
                            )));
                        }
                        v.iter().map(|x| x * beta).collect()
                    }
                };
                Ok(Classifier {
                    node,
                    weights,
                    features,
                    bias,
                })
            }
            "MatMul" => {
                Attrs::new(node, &[])?;
                let w = weight()?;
                let (features, classes) = two_d(&w)?;
                Ok(Classifier {
                    node,
                    weights: transpose(&f32s(w), features, classes),
                    features,
                    bias: vec![0.0; classes],
                })
            }
            _ => {
                let conv = self.conv(node)?;
                let d = &conv.weight.dims;
                if d[2] != 1
                    || d[3] != 1
                    || conv.group != 1
                    || conv.stride != (1, 1)
                    || conv.pads != Pads::Explicit(Padding::default())
                {
                    return Err(err(format!(
                        "{}: a Conv classifier must be 1x1, group 1, stride 1, unpadded",
                        label(node)
                    )));
                }
                let classes = d[0];
                Ok(Classifier {
                    node,
                    features: d[1],
                    bias: conv.bias.unwrap_or_else(|| vec![0.0; classes]),
                    weights: f32s(conv.weight),
                })
            }
        }
    }

    fn infer_config(
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

    fn weights(
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

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    t
}

/// The square input resolution from the input's declared shape.
fn input_resolution(input: &pb::ValueInfoProto, layout: InputLayout) -> Result<usize> {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as Type;
    let name = input.name();
    let Some(Type::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(err(format!("input '{name}' is not a tensor")));
    };
    if t.elem_type() != 1 {
        return Err(err(format!(
            "input '{name}' has element type {}, expected float32 (1)",
            t.elem_type()
        )));
    }
    let dims: Vec<Option<i64>> = t
        .shape
        .as_ref()
        .ok_or_else(|| err(format!("input '{name}' has no shape")))?
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(v)) => Some(v),
            _ => None,
        })
        .collect();
    let (c, h, w) = match (layout, dims.as_slice()) {
        (InputLayout::Nchw, [_, c, h, w]) => (*c, *h, *w),
        (InputLayout::Nhwc, [_, h, w, c]) => (*c, *h, *w),
        _ => {
            return Err(err(format!(
                "input '{name}' has {} dims, expected 4 ({layout:?})",
                dims.len()
            )))
        }
    };
    if c.is_some_and(|c| c != 3) {
        return Err(err(format!(
            "input '{name}' has {} channels, MobileNet V1 takes 3",
            c.unwrap_or(0)
        )));
    }
    match (h, w) {
        (Some(h), Some(w)) if h == w && h > 0 => Ok(h as usize),
        (Some(h), Some(w)) => Err(err(format!(
            "input '{name}' is {h}x{w}: sepconv's MobileNet V1 takes a square input"
        ))),
        _ => Err(err(format!(
            "input '{name}' has a symbolic height or width: export with a fixed resolution"
        ))),
    }
}

#[cfg(test)]
#[path = "onnx_tests.rs"]
mod tests;
