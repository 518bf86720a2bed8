//! ONNX import: lowers the graph's data path into the import IR (`io::graph`), whose passes
//! make a [`Network`](crate::net::Network) of it. PyTorch's exporters (TorchScript-based and
//! dynamo), tf2onnx (from Keras or a SavedModel) and Keras 3's `export(format="onnx")` all
//! load; see `io::graph::passes` for what folds into what.
//!
//! The graph must be one chain from the data input to the first graph output: every other
//! input of a node on it a constant (initializer or Constant node) or, for a Reshape's shape,
//! computed by `Shape` and integer ops from the activations (PyTorch's
//! `x.view(x.size(0), -1)`). A `Softmax` of the output that feeds a second graph output is
//! ignored. Branches, cycles, dangling inputs and nodes off the path are refused with an
//! error naming the node or tensor.
//!
//! Submodules: `graph` reads constants, attributes and the data path; `lower` maps each node
//! onto the IR.

mod graph;
mod lower;
#[allow(clippy::all, missing_docs, rustdoc::all)]
mod proto;
mod quant;
pub mod write;

use self::graph::{err, Graph};
use self::lower::Lowering;
use self::proto as pb;
use super::graph::{self as ir, Dim, Imported, Layout};
use super::read_path;
use crate::net::{MobileNetConfig, MobileNetWeights};
use crate::{Error, Result};
use prost::Message;
use std::path::Path;

/// Memory layout of the model's input tensor: NCHW ([`crate::Tensor::from_nchw`] converts),
/// or NHWC when the graph starts with a Transpose to NCHW (TensorFlow exports).
pub use super::graph::Layout as InputLayout;

/// An imported ONNX model.
pub type OnnxModel = Imported;

/// Loads an ONNX MobileNet V1 from its bytes; any other network is an error (see
/// [`import_onnx`]).
pub fn load_onnx(bytes: &[u8]) -> Result<(MobileNetConfig, MobileNetWeights)> {
    import_onnx(bytes)?.into_mobilenet()
}

/// Loads an ONNX MobileNet V1 from a file.
pub fn load_onnx_file(path: impl AsRef<Path>) -> Result<(MobileNetConfig, MobileNetWeights)> {
    load_onnx(&read_path(path.as_ref())?)
}

/// The lowered data path of an ONNX model, before the passes.
pub fn lower_onnx(bytes: &[u8]) -> Result<ir::Graph> {
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
    let low = Lowering {
        g: Graph::new(graph)?,
        opset,
    };
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !low.g.is_const(i.name()))
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
    let path = low.g.data_path(input.name(), output.name())?;
    let mut nodes: Vec<ir::Node> = Vec::with_capacity(path.len());
    let mut data = input.name();
    let mut grid = None;
    for node in &path {
        let lowered = low.node(node, data, grid)?;
        // A QuantizeLinear after float layout ops (GlobalAveragePool -> Reshape ->
        // QuantizeLinear) quantizes the output of the op before them: the values pass
        // through unchanged.
        if let (Some(q), "QuantizeLinear") = (lowered.node.out_q, node.op_type()) {
            for prev in nodes.iter_mut().rev() {
                if prev.out_q.is_some() {
                    break;
                }
                prev.out_q = Some(q);
                if !lower::LAYOUT_OPS.contains(&prev.op_type.as_str()) {
                    break;
                }
            }
        }
        nodes.push(lowered.node);
        grid = lowered.grid;
        data = node.output[0].as_str();
    }
    // The quantization of a float input is its first QuantizeLinear's, if only layout ops
    // come before it.
    let input_q = path
        .iter()
        .zip(&nodes)
        .find(|(p, _)| p.op_type() != "Transpose")
        .filter(|(p, _)| p.op_type() == "QuantizeLinear")
        .and_then(|(_, n)| n.out_q);
    // An integer input (no QuantizeLinear) takes the quantization its first op states.
    let input_type = match elem_type(input) {
        Some(2) => ir::EdgeType::U8,
        Some(3) => ir::EdgeType::I8,
        _ => ir::EdgeType::F32,
    };
    let input_q = if input_type == ir::EdgeType::F32 {
        input_q
    } else {
        let first = path
            .iter()
            .find(|p| p.op_type() != "Transpose")
            .ok_or_else(|| err("an integer input and no op to dequantize it"))?;
        if !matches!(
            first.op_type(),
            "DequantizeLinear" | "QLinearConv" | "QLinearMatMul"
        ) {
            return Err(err(format!(
                "input '{}' holds integer codes, but its first op {} is not a \
                 DequantizeLinear or QLinear op",
                input.name(),
                graph::label(first)
            )));
        }
        let p = low.g.quant_params(first, 1, 2, 1, None, None)?;
        let want = match input_type {
            ir::EdgeType::I8 => graph::IntType::S8,
            _ => graph::IntType::U8,
        };
        if p.ty != want {
            return Err(err(format!(
                "tensor '{}': a zero point of type {} for input '{}' of type {}",
                p.zp_name,
                p.ty.name(),
                input.name(),
                want.name()
            )));
        }
        Some(low.g.qlinear_q(first, 1, 2)?)
    };
    let output_type = match path.last().map(|n| n.op_type()) {
        Some("QuantizeLinear" | "QLinearConv" | "QLinearMatMul") => {
            match nodes.last().and_then(|n| n.out_q) {
                Some(_) => quantized_type(graph, output.name()),
                None => ir::EdgeType::F32,
            }
        }
        _ => ir::EdgeType::F32,
    };
    // The file's input is NHWC when the first node turns it into NCHW.
    let input_layout = match nodes.first().map(|n| &n.op) {
        Some(ir::Op::Transpose { perm }) if perm == &[0, 3, 1, 2] => Layout::Nhwc,
        _ => Layout::Nchw,
    };
    Ok(ir::Graph {
        format: "ONNX",
        input_name: input.name().to_string(),
        input_dims: input_dims(input)?,
        input_layout,
        output_name: output.name().to_string(),
        nodes,
        input_q,
        input_type,
        output_type,
    })
}

/// The element type a graph input or output states.
fn elem_type(v: &pb::ValueInfoProto) -> Option<i32> {
    match v.r#type.as_ref()?.value.as_ref()? {
        pb::type_proto::Value::TensorType(t) => Some(t.elem_type()),
        _ => None,
    }
}

/// The element type of graph output `name` (uint8 or int8 codes).
fn quantized_type(graph: &pb::GraphProto, name: &str) -> ir::EdgeType {
    use pb::type_proto::Value as Type;
    let elem = graph
        .output
        .iter()
        .find(|o| o.name() == name)
        .and_then(|o| o.r#type.as_ref()?.value.as_ref())
        .map(|t| match t {
            Type::TensorType(t) => t.elem_type(),
            _ => 0,
        });
    match elem {
        Some(3) => ir::EdgeType::I8,
        _ => ir::EdgeType::U8,
    }
}

/// Imports an ONNX model as a network: lowering, then the passes.
pub fn import_onnx(bytes: &[u8]) -> Result<OnnxModel> {
    ir::passes::import(lower_onnx(bytes)?).map_err(|e| match e {
        Error::Model(m) if !m.starts_with("ONNX") => Error::Model(format!("ONNX: {m}")),
        e => e,
    })
}

/// The input's declared dims, symbolic ones by name.
fn input_dims(input: &pb::ValueInfoProto) -> Result<Vec<Dim>> {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as Type;
    let name = input.name();
    let Some(Type::TensorType(t)) = input.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(err(format!("input '{name}' is not a tensor")));
    };
    // uint8 and int8: codes, dequantized by the first op.
    if !matches!(t.elem_type(), 1..=3) {
        return Err(err(format!(
            "input '{name}' has element type {}, expected float32 (1), uint8 (2) or int8 (3)",
            t.elem_type()
        )));
    }
    let shape = t
        .shape
        .as_ref()
        .ok_or_else(|| err(format!("input '{name}' has no shape")))?;
    shape
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Value::DimValue(v)) => usize::try_from(*v)
                .map(Dim::Fixed)
                .map_err(|_| err(format!("input '{name}' has dimension {v}"))),
            Some(Value::DimParam(p)) => Ok(Dim::Symbolic(p.clone())),
            None => Ok(Dim::Symbolic(String::new())),
        })
        .collect()
}

#[cfg(test)]
mod tests;
