//! Reading the parts of an ONNX graph the importer needs: constant tensors (initializers and
//! Constant nodes), node attributes, and the single data path from the input to the output.
//! Every error names the node or tensor at fault.

use super::proto as pb;
use crate::{Error, Result};
use std::collections::{HashMap, HashSet};

/// Largest tensor the importer decodes (elements): far above any MobileNet V1 layer, far
/// below what a lying `dims` field could make us allocate.
const MAX_ELEMENTS: usize = 1 << 28;

pub(crate) fn err(msg: impl std::fmt::Display) -> Error {
    Error::Model(format!("ONNX: {msg}"))
}

/// "node 'conv1' (Conv)", or the node's first output when it has no name.
pub(crate) fn label(node: &pb::NodeProto) -> String {
    match node.name() {
        "" => format!(
            "node producing '{}' ({})",
            node.output.first().map_or("", String::as_str),
            node.op_type()
        ),
        name => format!("node '{name}' ({})", node.op_type()),
    }
}

/// A constant's values: weights are f32, shapes and axes are integers.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

/// A decoded constant tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Const {
    pub dims: Vec<usize>,
    pub data: Data,
}

const FLOAT: i32 = 1;
const UINT8: i32 = 2;
const INT8: i32 = 3;
const INT32: i32 = 6;
const INT64: i32 = 7;
const BOOL: i32 = 9;
const DOUBLE: i32 = 11;

fn dims_of(t: &pb::TensorProto) -> Result<(Vec<usize>, usize)> {
    let name = t.name();
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| err(format!("tensor '{name}': dimension {d}"))))
        .collect::<Result<Vec<_>>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| err(format!("tensor '{name}': dims {dims:?} are too large")))?;
    Ok((dims, count))
}

/// Decodes `raw` as `count` little-endian values of `width` bytes.
fn raw_values<T>(
    t: &pb::TensorProto,
    count: usize,
    width: usize,
    f: impl Fn(&[u8]) -> T,
) -> Result<Vec<T>> {
    let raw = t.raw_data();
    if raw.len() != count * width {
        return Err(err(format!(
            "tensor '{}': raw_data holds {} bytes, dims {:?} need {}",
            t.name(),
            raw.len(),
            t.dims,
            count * width
        )));
    }
    Ok(raw.chunks_exact(width).map(f).collect())
}

fn field_len_check(t: &pb::TensorProto, field: &str, len: usize, count: usize) -> Result<()> {
    if len != count {
        return Err(err(format!(
            "tensor '{}': {field} holds {len} values, dims {:?} need {count}",
            t.name(),
            t.dims
        )));
    }
    Ok(())
}

/// An error unless `t` keeps its data in the model file.
fn inline_only(t: &pb::TensorProto) -> Result<()> {
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32)
        || !t.external_data.is_empty()
    {
        return Err(err(format!(
            "tensor '{}' keeps its data in an external file; save the model with all \
             tensors inside it",
            t.name()
        )));
    }
    Ok(())
}

/// Decodes an initializer or a Constant node's tensor.
pub(crate) fn decode_tensor(t: &pb::TensorProto) -> Result<Const> {
    let name = t.name();
    inline_only(t)?;
    if t.segment.is_some() {
        return Err(err(format!("tensor '{name}' is segmented")));
    }
    let (dims, count) = dims_of(t)?;
    let has_raw = t.raw_data.as_ref().is_some_and(|r| !r.is_empty());
    let data = match t.data_type() {
        FLOAT if has_raw => Data::F32(raw_values(t, count, 4, |b| {
            f32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })?),
        FLOAT => {
            field_len_check(t, "float_data", t.float_data.len(), count)?;
            Data::F32(t.float_data.clone())
        }
        DOUBLE if has_raw => Data::F32(raw_values(t, count, 8, |b| {
            f64::from_le_bytes(b.try_into().expect("8-byte chunk")) as f32
        })?),
        DOUBLE => {
            field_len_check(t, "double_data", t.double_data.len(), count)?;
            Data::F32(t.double_data.iter().map(|&v| v as f32).collect())
        }
        INT64 if has_raw => Data::I64(raw_values(t, count, 8, |b| {
            i64::from_le_bytes(b.try_into().expect("8-byte chunk"))
        })?),
        INT64 => {
            field_len_check(t, "int64_data", t.int64_data.len(), count)?;
            Data::I64(t.int64_data.clone())
        }
        INT32 if has_raw => Data::I64(raw_values(t, count, 4, |b| {
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
        })?),
        INT32 => {
            field_len_check(t, "int32_data", t.int32_data.len(), count)?;
            Data::I64(t.int32_data.iter().map(|&v| v as i64).collect())
        }
        BOOL if has_raw => Data::I64(raw_values(t, count, 1, |b| b[0] as i64)?),
        BOOL => {
            field_len_check(t, "int32_data", t.int32_data.len(), count)?;
            Data::I64(t.int32_data.iter().map(|&v| v as i64).collect())
        }
        other => {
            return Err(err(format!(
                "tensor '{name}': data type {other} is not supported (float32, float64, \
                 int32, int64 or bool)"
            )))
        }
    };
    if let Data::F32(v) = &data {
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(err(format!(
                "tensor '{name}': value {i} is not finite ({})",
                v[i]
            )));
        }
    }
    Ok(Const { dims, data })
}

/// The element type of a quantized tensor (weights, zero points, biases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IntType {
    U8,
    S8,
    I32,
}

impl IntType {
    pub fn name(self) -> &'static str {
        match self {
            IntType::U8 => "uint8",
            IntType::S8 => "int8",
            IntType::I32 => "int32",
        }
    }

    fn range(self) -> (i64, i64) {
        match self {
            IntType::U8 => (0, 255),
            IntType::S8 => (-128, 127),
            IntType::I32 => (i32::MIN.into(), i32::MAX.into()),
        }
    }
}

/// A decoded uint8, int8 or int32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IntConst {
    pub dims: Vec<usize>,
    pub values: Vec<i32>,
    pub ty: IntType,
}

/// Decodes a uint8, int8 or int32 initializer (quantized weights, zero points, biases);
/// values kept in `int32_data` must be in the type's range.
pub(crate) fn decode_int_tensor(t: &pb::TensorProto) -> Result<IntConst> {
    let name = t.name();
    inline_only(t)?;
    let (dims, count) = dims_of(t)?;
    let ty = match t.data_type() {
        UINT8 => IntType::U8,
        INT8 => IntType::S8,
        INT32 => IntType::I32,
        other => {
            return Err(err(format!(
                "tensor '{name}': data type {other}, expected a quantized type (uint8, int8 \
                 or int32)"
            )))
        }
    };
    let has_raw = t.raw_data.as_ref().is_some_and(|r| !r.is_empty());
    let values = match ty {
        _ if !has_raw => {
            field_len_check(t, "int32_data", t.int32_data.len(), count)?;
            let (lo, hi) = ty.range();
            if let Some(v) = t
                .int32_data
                .iter()
                .find(|&&v| !(lo..=hi).contains(&i64::from(v)))
            {
                return Err(err(format!(
                    "tensor '{name}': value {v} is outside the {} range {lo}..={hi}",
                    ty.name()
                )));
            }
            t.int32_data.clone()
        }
        IntType::U8 => raw_values(t, count, 1, |b| i32::from(b[0]))?,
        IntType::S8 => raw_values(t, count, 1, |b| i32::from(b[0] as i8))?,
        IntType::I32 => raw_values(t, count, 4, |b| {
            i32::from_le_bytes([b[0], b[1], b[2], b[3]])
        })?,
    };
    Ok(IntConst { dims, values, ty })
}

/// Attribute access for one node, checking types and refusing unknown attributes.
pub(crate) struct Attrs<'a> {
    node: &'a pb::NodeProto,
}

const ATTR_FLOAT: i32 = 1;
const ATTR_INT: i32 = 2;
const ATTR_STRING: i32 = 3;
const ATTR_TENSOR: i32 = 4;
const ATTR_FLOATS: i32 = 6;
const ATTR_INTS: i32 = 7;

impl<'a> Attrs<'a> {
    /// Attributes of `node`, refusing any not in `allowed`.
    pub fn new(node: &'a pb::NodeProto, allowed: &[&str]) -> Result<Self> {
        for a in &node.attribute {
            if !allowed.contains(&a.name()) {
                return Err(err(format!(
                    "{}: unsupported attribute '{}' (supported: {})",
                    label(node),
                    a.name(),
                    allowed.join(", ")
                )));
            }
            if a.ref_attr_name.is_some() {
                return Err(err(format!(
                    "{}: attribute '{}' refers to a function attribute",
                    label(node),
                    a.name()
                )));
            }
        }
        Ok(Attrs { node })
    }

    fn get(&self, name: &str, kind: i32) -> Result<Option<&'a pb::AttributeProto>> {
        let Some(a) = self.node.attribute.iter().find(|a| a.name() == name) else {
            return Ok(None);
        };
        match a.r#type {
            // 0 is UNDEFINED, written by some old exporters: trust the field then.
            Some(t) if t != 0 && t != kind => Err(err(format!(
                "{}: attribute '{name}' has type {t}, expected {kind}",
                label(self.node)
            ))),
            _ => Ok(Some(a)),
        }
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.get(name, ATTR_INT)?.map_or(default, |a| a.i()))
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.get(name, ATTR_FLOAT)?.map_or(default, |a| a.f()))
    }

    pub fn opt_float(&self, name: &str) -> Result<Option<f32>> {
        Ok(self.get(name, ATTR_FLOAT)?.map(|a| a.f()))
    }

    pub fn ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.get(name, ATTR_INTS)?.map(|a| a.ints.clone()))
    }

    pub fn string(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(name, ATTR_STRING)?
            .map(|a| String::from_utf8_lossy(a.s()).into_owned()))
    }
}

/// The value of a Constant node.
fn constant_node_value(node: &pb::NodeProto) -> Result<Const> {
    let attrs = Attrs::new(
        node,
        &[
            "value",
            "value_float",
            "value_floats",
            "value_int",
            "value_ints",
        ],
    )?;
    if let Some(a) = attrs.get("value", ATTR_TENSOR)? {
        let t =
            a.t.as_ref()
                .ok_or_else(|| err(format!("{}: 'value' holds no tensor", label(node))))?;
        return decode_tensor(t).map_err(|e| err(format!("{}: {e}", label(node))));
    }
    if let Some(v) = attrs.opt_float("value_float")? {
        return Ok(Const {
            dims: vec![],
            data: Data::F32(vec![v]),
        });
    }
    if let Some(a) = attrs.get("value_floats", ATTR_FLOATS)? {
        return Ok(Const {
            dims: vec![a.floats.len()],
            data: Data::F32(a.floats.clone()),
        });
    }
    if let Some(a) = attrs.get("value_int", ATTR_INT)? {
        return Ok(Const {
            dims: vec![],
            data: Data::I64(vec![a.i()]),
        });
    }
    if let Some(v) = attrs.ints("value_ints")? {
        return Ok(Const {
            dims: vec![v.len()],
            data: Data::I64(v),
        });
    }
    Err(err(format!(
        "{}: no supported value attribute (value, value_float(s), value_int(s))",
        label(node)
    )))
}

/// The graph's constants and its nodes indexed by the tensors they consume.
pub(crate) struct Graph<'a> {
    pub graph: &'a pb::GraphProto,
    initializers: HashMap<&'a str, &'a pb::TensorProto>,
    constant_nodes: HashMap<&'a str, &'a pb::NodeProto>,
    /// DequantizeLinear nodes of a constant (quantized weights and biases), by output:
    /// their outputs are constants too.
    dq_consts: HashMap<&'a str, &'a pb::NodeProto>,
    consumers: HashMap<&'a str, Vec<&'a pb::NodeProto>>,
    outputs: HashSet<&'a str>,
    /// Outputs of the nodes that compute a shape from `Shape` of an activation (PyTorch's
    /// `x.view(x.size(0), -1)` with a dynamic batch): they may only feed a Reshape's shape.
    shape_outputs: HashSet<&'a str>,
}

/// Integer ops that PyTorch's exporter and tf2onnx use to compute a Reshape's shape.
const SHAPE_OPS: &[&str] = &[
    "Gather",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Cast",
    "Slice",
    "Mul",
    "Div",
    "ReduceProd",
];

impl<'a> Graph<'a> {
    pub fn new(graph: &'a pb::GraphProto) -> Result<Self> {
        let initializers: HashMap<&str, &pb::TensorProto> =
            graph.initializer.iter().map(|t| (t.name(), t)).collect();
        if let Some(s) = graph.sparse_initializer.first() {
            let name = s.values.as_ref().map_or("", |v| v.name());
            return Err(err(format!("sparse initializer '{name}' is not supported")));
        }
        let mut constant_nodes = HashMap::new();
        let mut consumers: HashMap<&str, Vec<&pb::NodeProto>> = HashMap::new();
        for node in &graph.node {
            match node.domain() {
                "" | "ai.onnx" => {}
                "com.microsoft" => {
                    return Err(err(format!(
                        "{}: {} is an ONNX Runtime contrib op (domain com.microsoft), not \
                         supported: only standard ONNX ops (quantize_static writes them in \
                         the QDQ format, or QOperator without the ops it has no standard \
                         QLinear op for)",
                        label(node),
                        node.op_type()
                    )))
                }
                other => {
                    return Err(err(format!(
                        "{}: operator domain '{other}' is not supported (only the default \
                         ONNX domain)",
                        label(node)
                    )))
                }
            }
            if node.op_type() == "Constant" {
                if node.output.len() != 1 {
                    return Err(err(format!("{}: expected one output", label(node))));
                }
                constant_nodes.insert(node.output[0].as_str(), node);
                continue;
            }
            for input in node.input.iter().filter(|i| !i.is_empty()) {
                let list = consumers.entry(input.as_str()).or_default();
                // A node that reads a tensor twice is still one consumer.
                if !list.iter().any(|n| std::ptr::eq(*n, node)) {
                    list.push(node);
                }
            }
        }
        let is_const =
            |name: &str| initializers.contains_key(name) || constant_nodes.contains_key(name);
        let dq_consts: HashMap<&str, &pb::NodeProto> = graph
            .node
            .iter()
            .filter(|n| {
                n.op_type() == "DequantizeLinear"
                    && n.input.first().is_some_and(|i| is_const(i))
                    && n.output.len() == 1
            })
            .map(|n| (n.output[0].as_str(), n))
            .collect();
        // ONNX nodes are topologically sorted, so one pass finds every shape computation.
        let mut shape_outputs: HashSet<&str> = HashSet::new();
        for node in &graph.node {
            let inputs = || node.input.iter().filter(|i| !i.is_empty());
            let is_shape = node.op_type() == "Shape"
                || (SHAPE_OPS.contains(&node.op_type())
                    && inputs().any(|i| shape_outputs.contains(i.as_str()))
                    && inputs().all(|i| {
                        shape_outputs.contains(i.as_str())
                            || initializers.contains_key(i.as_str())
                            || constant_nodes.contains_key(i.as_str())
                    }));
            if is_shape {
                shape_outputs.extend(node.output.iter().map(String::as_str));
            }
        }
        Ok(Graph {
            graph,
            initializers,
            constant_nodes,
            dq_consts,
            consumers,
            outputs: graph.output.iter().map(|o| o.name()).collect(),
            shape_outputs,
        })
    }

    /// Whether `node` is part of a shape computation (see `shape_outputs`).
    fn is_shape_node(&self, node: &pb::NodeProto) -> bool {
        node.output
            .first()
            .is_some_and(|o| self.shape_outputs.contains(o.as_str()))
    }

    /// Whether `name` is a shape computed from the activations at run time.
    pub fn is_computed_shape(&self, name: &str) -> bool {
        self.shape_outputs.contains(name)
    }

    pub fn is_const(&self, name: &str) -> bool {
        self.initializers.contains_key(name)
            || self.constant_nodes.contains_key(name)
            || self.dq_consts.contains_key(name)
    }

    /// The DequantizeLinear node that makes the constant `name` from integers, if any.
    pub fn dequantized(&self, name: &str) -> Option<&'a pb::NodeProto> {
        self.dq_consts.get(name).copied()
    }

    /// The tensor of the initializer or Constant node `name`.
    fn tensor(&self, node: &pb::NodeProto, name: &str) -> Result<&'a pb::TensorProto> {
        if let Some(t) = self.initializers.get(name) {
            return Ok(t);
        }
        if let Some(c) = self.constant_nodes.get(name) {
            if let Some(t) = c
                .attribute
                .iter()
                .find(|a| a.name() == "value")
                .and_then(|a| a.t.as_ref())
            {
                return Ok(t);
            }
        }
        Err(err(format!(
            "{}: input '{name}' is not an integer initializer or Constant node tensor",
            label(node)
        )))
    }

    /// Whether `name` is an initializer or Constant node of an integer quantized type.
    pub fn is_int_constant(&self, name: &str) -> bool {
        let ty = match (self.initializers.get(name), self.constant_nodes.get(name)) {
            (Some(t), _) => t.data_type(),
            (None, Some(c)) => c
                .attribute
                .iter()
                .find(|a| a.name() == "value")
                .and_then(|a| a.t.as_ref())
                .map_or(0, |t| t.data_type()),
            _ => 0,
        };
        matches!(ty, UINT8 | INT8)
    }

    /// The uint8, int8 or int32 constant `name` (weights, zero points, biases).
    pub fn int_constant(&self, node: &pb::NodeProto, name: &str) -> Result<IntConst> {
        decode_int_tensor(self.tensor(node, name)?)
    }

    /// The constant `name`, decoded (a DequantizeLinear of integers dequantized); an error
    /// naming `node` if it is missing.
    pub fn constant(&self, node: &pb::NodeProto, name: &str) -> Result<Const> {
        if let Some(t) = self.initializers.get(name) {
            decode_tensor(t)
        } else if let Some(c) = self.constant_nodes.get(name) {
            constant_node_value(c)
        } else if let Some(dq) = self.dq_consts.get(name) {
            let q = self.dequantize_const(dq)?;
            Ok(Const {
                dims: q.values.dims.clone(),
                data: Data::F32(q.real()),
            })
        } else {
            Err(err(format!(
                "{}: input '{name}' is not an initializer or a Constant node",
                label(node)
            )))
        }
    }

    /// Input `index` of `node` as an f32 constant, or None when the input is absent.
    pub fn input_f32(&self, node: &pb::NodeProto, index: usize) -> Result<Option<Const>> {
        match node.input.get(index).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => {
                let c = self.constant(node, name)?;
                match c.data {
                    Data::F32(_) => Ok(Some(c)),
                    Data::I64(_) => Err(err(format!(
                        "{}: input '{name}' is an integer tensor, expected float",
                        label(node)
                    ))),
                }
            }
        }
    }

    /// Input `index` of `node` as integers (shapes, axes), or None when absent.
    pub fn input_i64(&self, node: &pb::NodeProto, index: usize) -> Result<Option<Vec<i64>>> {
        match node.input.get(index).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(name) => match self.constant(node, name)?.data {
                Data::I64(v) => Ok(Some(v)),
                Data::F32(_) => Err(err(format!(
                    "{}: input '{name}' is a float tensor, expected integers",
                    label(node)
                ))),
            },
        }
    }

    /// The nodes from `input` to `output`, following the one consumer of each tensor. Every
    /// other input of a node on the path must be a constant, and every non-Constant node
    /// must be on the path (or be a Softmax of `output` that feeds a secondary graph output).
    pub fn data_path(&self, input: &str, output: &str) -> Result<Vec<&'a pb::NodeProto>> {
        let mut path: Vec<&pb::NodeProto> = Vec::new();
        let mut on_path: HashSet<&str> = HashSet::from([input]);
        let mut cur: &str = input;
        while cur != output {
            let consumers: Vec<&pb::NodeProto> = self
                .consumers
                .get(cur)
                .map(|c| {
                    c.iter()
                        .copied()
                        .filter(|n| !self.is_shape_node(n))
                        .collect()
                })
                .unwrap_or_default();
            let node = match consumers.as_slice() {
                [] => {
                    return Err(err(format!(
                        "tensor '{cur}' is consumed by no node and is not the graph output \
                         '{output}'"
                    )))
                }
                [node] => *node,
                many => {
                    let names: Vec<String> = many.iter().map(|n| label(n)).collect();
                    return Err(err(format!(
                        "tensor '{cur}' feeds {} nodes ({}): MobileNet V1 is a single chain",
                        many.len(),
                        names.join(", ")
                    )));
                }
            };
            if path.len() > self.graph.node.len() {
                return Err(err(format!("{}: the graph has a cycle", label(node))));
            }
            for (i, name) in node.input.iter().enumerate() {
                if name.is_empty() || name == cur {
                    continue;
                }
                let computed_shape =
                    node.op_type() == "Reshape" && i == 1 && self.is_computed_shape(name);
                if !self.is_const(name) && !computed_shape {
                    return Err(err(format!(
                        "{}: input {i} '{name}' is neither the data path nor a constant \
                         (initializer or Constant node)",
                        label(node)
                    )));
                }
            }
            let Some(next) = node.output.first().filter(|o| !o.is_empty()) else {
                return Err(err(format!("{}: has no output", label(node))));
            };
            for extra in node.output.iter().skip(1).filter(|o| !o.is_empty()) {
                if self.consumers.contains_key(extra.as_str())
                    || self.outputs.contains(extra.as_str())
                {
                    return Err(err(format!(
                        "{}: its extra output '{extra}' is used (training outputs are not \
                         supported)",
                        label(node)
                    )));
                }
            }
            if !on_path.insert(next.as_str()) {
                return Err(err(format!("{}: the graph has a cycle", label(node))));
            }
            path.push(node);
            cur = next;
        }
        // A Softmax of the output may feed a second graph output, through QuantizeLinear /
        // DequantizeLinear pairs in a QDQ model: those nodes and their tensors are the
        // secondary branch, which the import leaves to the runner's softmax option.
        let mut branch: Vec<&pb::NodeProto> = Vec::new();
        let mut branch_outputs: HashSet<&str> = HashSet::new();
        for node in &self.graph.node {
            if node.op_type() != "Softmax" || node.input.first().map(String::as_str) != Some(output)
            {
                continue;
            }
            let mut chain = vec![node];
            let mut end = node.output.first().map(String::as_str);
            while let Some(t) = end {
                match self.consumers.get(t).map(Vec::as_slice) {
                    None | Some([]) => break,
                    Some([n])
                        if matches!(n.op_type(), "QuantizeLinear" | "DequantizeLinear")
                            && n.input.iter().skip(1).all(|i| self.is_const(i)) =>
                    {
                        chain.push(n);
                        end = n.output.first().map(String::as_str);
                    }
                    _ => {
                        end = None;
                        chain.clear();
                    }
                }
            }
            if let Some(t) = end {
                branch_outputs.insert(t);
                branch.extend(chain);
            }
        }
        // Everything else must be a Constant, a shape computation (whose outputs can only
        // reach a Reshape on the path: any other consumer is refused here or above) or on
        // the softmax branch.
        for node in &self.graph.node {
            let shape_node = self.is_shape_node(node)
                && node
                    .output
                    .iter()
                    .all(|o| !self.outputs.contains(o.as_str()));
            let dq_const = node
                .output
                .first()
                .is_some_and(|o| self.dq_consts.contains_key(o.as_str()));
            if node.op_type() == "Constant"
                || dq_const
                || shape_node
                || path.iter().any(|p| std::ptr::eq(*p, node))
                || branch.iter().any(|p| std::ptr::eq(*p, node))
            {
                continue;
            }
            return Err(err(format!(
                "{} is not on the data path from '{input}' to '{output}'",
                label(node)
            )));
        }
        for o in &self.graph.output {
            if !on_path.contains(o.name()) && !branch_outputs.contains(o.name()) {
                return Err(err(format!(
                    "graph output '{}' is neither on the data path nor the softmax of '{output}'",
                    o.name()
                )));
            }
        }
        Ok(path)
    }
}
