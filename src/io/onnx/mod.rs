//! ONNX import: maps the MobileNet V1 graphs that PyTorch's exporter and tf2onnx produce
//! onto [`MobileNetConfig`] and [`MobileNetWeights`].
//!
//! The graph must be one chain from the data input to the first graph output:
//!
//! - optionally `Transpose(perm = [0, 3, 1, 2])` first: the model then takes NHWC input;
//! - 27 `Conv` (3x3 s2 from 3 channels, then 13 x depthwise 3x3 with `group` = channels and
//!   pointwise 1x1), each with an optional bias, optionally after a zero `Pad` of H and W
//!   (Keras' ZeroPadding2D before a VALID stride-2 convolution, folded into the pads),
//!   optionally followed by an unfolded `BatchNormalization` (kept with its epsilon) and by `Relu` or `Clip(0, 6)` (bounds as
//!   attributes before opset 11, as initializer or Constant inputs after). Pads come from
//!   `pads` ([top, left, bottom, right]) or `auto_pad` (SAME_UPPER, SAME_LOWER, VALID,
//!   NOTSET); all must be symmetric (PyTorch) or all TensorFlow SAME;
//! - a global average pool: `GlobalAveragePool`, an unpadded `AveragePool` whose kernel is
//!   the whole last feature map (TF-slim), or `ReduceMean` over H and W (axes as an
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
//! computed at run time other than a Reshape's, dilations, attributes the importer does
//! not know) is refused with an error naming the node and why.
//!
//! Submodules: `graph` reads constants, attributes and the data path; `layers` the
//! convolutions and what follows each; `head` the pool and classifier; `plan` infers the
//! configuration and lays the weights out as sepconv's.
//!
//! Alpha is inferred from the channel counts (so that [`MobileNetConfig::channels`]
//! reproduces every layer), the resolution from the input shape, the padding style from the
//! pads; every layer's shape is then checked against [`MobileNetConfig::layers`].

mod graph;
mod head;
mod layers;
mod plan;
#[allow(clippy::all, missing_docs, rustdoc::all)]
mod proto;

use self::graph::{err, label, Attrs, Const, Data, Graph};
use self::proto as pb;
use super::read_path;
use crate::activation::Activation;
use crate::geometry::Padding;
use crate::net::{BatchNormParams, MobileNetConfig, MobileNetWeights};
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
pub(crate) struct FoundConv<'a> {
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
pub(crate) enum Pads {
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
        // TF-slim's AvgPool over the whole last feature map: checked once its size is known.
        let mut avg_pool: Option<(&pb::NodeProto, (usize, usize))> = None;
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
                "AveragePool" if !pooled && !nhwc_head => {
                    avg_pool = Some((node, self.average_pool(node)?));
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
        if let Some((node, kernel)) = avg_pool {
            let last = config.layers()?.pop().expect("27 layers");
            if kernel != (last.out_h, last.out_w) {
                return Err(err(format!(
                    "{}: kernel {kernel:?} does not cover the last feature map ({}x{}): only a \
                     global average pool is supported",
                    label(node),
                    last.out_h,
                    last.out_w
                )));
            }
        }
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
mod tests;
