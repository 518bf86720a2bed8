//! Subgraph 0 of a verified model as an [`io::graph::Graph`](crate::io::graph::Graph): the
//! operator chain from the one data input to the first output, each operator lowered by
//! [`super::ops`].

use super::ops::{self, OpCtx};
use super::schema::{builtin, tensor_type, Model, Operator};
use super::tensors::{err, Tensors};
use crate::io::graph::{Dim, EdgeType, Graph, Layout};
use crate::Result;
use std::collections::{HashMap, HashSet};

/// The operator's builtin code and its name for messages ("CONV_2D", "CUSTOM 'Foo'").
pub(crate) fn op_code(model: &Model, op: &Operator, index: usize) -> Result<(i32, String)> {
    let codes = model.operator_codes();
    let i = op.opcode_index() as usize;
    let code = codes
        .filter(|c| i < c.len())
        .map(|c| c.get(i))
        .ok_or_else(|| {
            err(format!(
                "operator {index}: opcode_index {i} is out of range (the model has {} \
                 operator codes)",
                codes.map_or(0, |c| c.len())
            ))
        })?;
    let n = code.code();
    let name = match (n, code.custom_code()) {
        (builtin::CUSTOM, Some(custom)) => format!("CUSTOM '{custom}'"),
        _ => builtin::name(n),
    };
    Ok((n, name))
}

/// One operator of subgraph 0 with what the path search needs.
struct Op<'a> {
    op: Operator<'a>,
    code: i32,
    name: String,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
}

impl Op<'_> {
    /// "operator 3 (CONV_2D)".
    fn label(&self, index: usize) -> String {
        format!("operator {index} ({})", self.name)
    }
}

/// Lowers subgraph 0 of `model` (from `file`).
pub(crate) fn lower(file: &[u8], model: Model) -> Result<Graph> {
    let sg = model
        .subgraphs()
        .filter(|s| !s.is_empty())
        .map(|s| s.get(0))
        .ok_or_else(|| err("the model has no subgraph"))?;
    let t = Tensors::new(file, model, sg)?;
    let ops: Vec<Op> = sg
        .operators()
        .map(|v| v.iter().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, op)| {
            let (code, name) = op_code(&model, &op, i)?;
            let list = |v: Option<flatbuffers::Vector<'_, i32>>| -> Vec<i32> {
                v.map(|v| v.iter().collect()).unwrap_or_default()
            };
            let o = Op {
                op,
                code,
                name,
                inputs: list(op.inputs()),
                outputs: list(op.outputs()),
            };
            for &ti in o.inputs.iter().chain(&o.outputs).filter(|&&ti| ti != -1) {
                t.get(ti, || o.label(i))?;
            }
            Ok(o)
        })
        .collect::<Result<_>>()?;

    // The one data input and the first output.
    let sg_inputs: Vec<i32> = sg.inputs().map(|v| v.iter().collect()).unwrap_or_default();
    let mut data_inputs = Vec::new();
    for &i in &sg_inputs {
        t.get(i, || "subgraph input".to_string())?;
        if !t.is_const(i)? {
            data_inputs.push(i);
        }
    }
    let input = match data_inputs.as_slice() {
        [one] => *one,
        other => {
            return Err(err(format!(
                "expected one data input, found {} ({})",
                other.len(),
                other
                    .iter()
                    .map(|&i| t.label(i))
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let sg_outputs: Vec<i32> = sg.outputs().map(|v| v.iter().collect()).unwrap_or_default();
    let output = *sg_outputs
        .first()
        .ok_or_else(|| err("subgraph 0 has no output"))?;
    t.get(output, || "subgraph output".to_string())?;
    let input_q = t.data_q(input, "the input")?;

    // Who produces and who consumes each data tensor.
    let mut producer: HashMap<i32, usize> = HashMap::new();
    let mut consumers: HashMap<i32, Vec<usize>> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        for &ti in o.outputs.iter().filter(|&&ti| ti != -1) {
            if let Some(prev) = producer.insert(ti, i) {
                return Err(err(format!(
                    "{} is produced by both {} and {}",
                    t.label(ti),
                    ops[prev].label(prev),
                    o.label(i)
                )));
            }
        }
    }
    // Shape arithmetic from the activations (TFLiteConverter's dynamic-batch reshape:
    // SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE): its outputs may only feed a RESHAPE's
    // shape input, and its ops are no consumers of the data path.
    let shape_ops = shape_computations(&ops, &t)?;
    for (i, o) in ops.iter().enumerate() {
        if shape_ops.contains(&i) {
            continue;
        }
        let mut seen = HashSet::new();
        for (j, &ti) in o.inputs.iter().enumerate().filter(|(_, &ti)| ti != -1) {
            let computed_shape =
                o.code == builtin::RESHAPE && j == 1 && is_shape(&shape_ops, &producer, ti);
            if !t.is_const(ti)? && !computed_shape && seen.insert(ti) {
                consumers.entry(ti).or_default().push(i);
            }
        }
    }

    // Walk the chain.
    let mut path: Vec<usize> = Vec::new();
    let mut on_path: HashSet<i32> = HashSet::from([input]);
    let mut cur = input;
    while cur != output {
        let i = match consumers.get(&cur).map(Vec::as_slice).unwrap_or_default() {
            [] => {
                return Err(err(format!(
                    "{} is consumed by no operator and is not the output '{}'",
                    t.label(cur),
                    t.name(output)
                )))
            }
            [one] => *one,
            many => {
                return Err(err(format!(
                    "{} feeds {} operators ({}): only a single chain is supported",
                    t.label(cur),
                    many.len(),
                    many.iter()
                        .map(|&k| ops[k].label(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        let o = &ops[i];
        if path.contains(&i) {
            return Err(err(format!("{}: the graph has a cycle", o.label(i))));
        }
        if o.inputs.iter().filter(|&&ti| ti == cur).count() > 1 {
            return Err(err(format!(
                "{}: takes the data path {} twice",
                o.label(i),
                t.label(cur)
            )));
        }
        for (j, &ti) in o.inputs.iter().enumerate() {
            if ti == -1 || ti == cur || t.is_const(ti)? {
                continue;
            }
            if o.code == builtin::RESHAPE && j == 1 && is_shape(&shape_ops, &producer, ti) {
                continue;
            }
            let why = match producer.get(&ti) {
                Some(&p) => format!("it is produced by {}, off the data path", ops[p].label(p)),
                None => "it has no buffer data and no operator produces it".to_string(),
            };
            return Err(err(format!(
                "{}: input {j} {} is neither the data path nor a constant: {why}",
                o.label(i),
                t.label(ti)
            )));
        }
        let Some(&next) = o.outputs.first().filter(|&&ti| ti != -1) else {
            return Err(err(format!("{}: has no output", o.label(i))));
        };
        for &extra in o.outputs.iter().skip(1).filter(|&&ti| ti != -1) {
            if consumers.contains_key(&extra) || sg_outputs.contains(&extra) {
                return Err(err(format!(
                    "{}: its second output {} is used (only one output per operator is \
                     supported)",
                    o.label(i),
                    t.label(extra)
                )));
            }
        }
        if !on_path.insert(next) {
            return Err(err(format!(
                "{}: its output {} is already on the data path: the graph has a cycle",
                o.label(i),
                t.label(next)
            )));
        }
        path.push(i);
        cur = next;
    }

    // Every other operator must be a Softmax of the output that only feeds a second
    // subgraph output (Keras exports logits and probabilities): it is ignored.
    let mut extra_outputs: HashSet<i32> = HashSet::new();
    for (i, o) in ops.iter().enumerate() {
        if path.contains(&i) {
            continue;
        }
        // A shape computation feeding anything but a RESHAPE's shape was refused above
        // (its output then is neither the data path nor a constant), or is unused.
        if shape_ops.contains(&i) && !o.outputs.iter().any(|x| sg_outputs.contains(x)) {
            continue;
        }
        let softmax_of_output = o.code == builtin::SOFTMAX
            && o.inputs.first() == Some(&output)
            && o.outputs.len() == 1
            && !consumers.contains_key(&o.outputs[0])
            && sg_outputs.contains(&o.outputs[0]);
        if !softmax_of_output {
            return Err(err(format!(
                "{} is not on the data path from '{}' to '{}'",
                o.label(i),
                t.name(input),
                t.name(output)
            )));
        }
        extra_outputs.insert(o.outputs[0]);
    }
    for &o in sg_outputs.iter().skip(1) {
        if !on_path.contains(&o) && !extra_outputs.contains(&o) {
            return Err(err(format!(
                "subgraph output {} is neither on the data path nor the softmax of '{}'",
                t.label(o),
                t.name(output)
            )));
        }
    }

    // Lower the chain. A QUANTIZE of the float input and a DEQUANTIZE into the output
    // are the model's edges: they set its input quantization and edge types.
    let mut nodes = Vec::with_capacity(path.len());
    let mut data = input;
    let mut last_supported = true;
    let edge = |q: Option<crate::quant::QParams>, ti: i32| match (q, t.tensor_type(ti)) {
        (None, _) => EdgeType::F32,
        (Some(_), Ok(tensor_type::UINT8)) => EdgeType::U8,
        _ => EdgeType::I8,
    };
    let mut graph_in_q = input_q;
    let input_type = edge(input_q, input);
    let out_q = t.data_q(output, "the output");
    let output_type = edge(out_q.as_ref().ok().copied().flatten(), output);
    for (k, &i) in path.iter().enumerate() {
        let o = &ops[i];
        let out = o.outputs[0];
        if o.code == builtin::QUANTIZE && k == 0 && input_q.is_none() {
            let q = t.data_q(out, &format!("{}: output", o.label(i)))?;
            if q.is_some() {
                graph_in_q = q;
                data = out;
                continue;
            }
        }
        if o.code == builtin::DEQUANTIZE && k + 1 == path.len() && out == output {
            let q = t.data_q(data, &format!("{}: input", o.label(i)))?;
            if q.is_some() {
                last_supported = true;
                data = out;
                continue;
            }
        }
        let ctx = OpCtx {
            t: &t,
            op: o.op,
            index: i,
            code: o.code,
            name: &o.name,
            inputs: &o.inputs,
            output: o.outputs[0],
            data,
        };
        let lowered = ops::lower_op(&ctx)?;
        last_supported = !lowered
            .iter()
            .any(|n| matches!(n.op, crate::io::graph::Op::Unsupported(_)));
        nodes.extend(lowered);
        data = o.outputs[0];
    }
    if last_supported {
        out_q?;
    }

    Ok(Graph {
        format: "TFLite",
        input_name: t.name(input),
        input_dims: input_dims(&t, input)?,
        input_layout: Layout::Nhwc,
        output_name: t.name(output),
        nodes,
        input_q: graph_in_q,
        input_type,
        output_type,
    })
}

/// Ops that compute a shape from `SHAPE` of a tensor, with constants: their indices.
/// Operators are stored in execution order, so one pass finds them all.
fn shape_computations(ops: &[Op], t: &Tensors) -> Result<HashSet<usize>> {
    const ARITH: &[i32] = &[
        builtin::STRIDED_SLICE,
        builtin::PACK,
        builtin::CONCATENATION,
        builtin::GATHER,
        builtin::CAST,
        builtin::SLICE,
        builtin::MUL,
        builtin::SQUEEZE,
        builtin::RESHAPE,
    ];
    let mut shape_tensors: HashSet<i32> = HashSet::new();
    let mut found = HashSet::new();
    for (i, o) in ops.iter().enumerate() {
        let inputs: Vec<i32> = o.inputs.iter().copied().filter(|&ti| ti != -1).collect();
        let mut is = o.code == builtin::SHAPE;
        if !is && ARITH.contains(&o.code) && inputs.iter().any(|ti| shape_tensors.contains(ti)) {
            is = true;
            for ti in &inputs {
                if !shape_tensors.contains(ti) && !t.is_const(*ti)? {
                    is = false;
                }
            }
        }
        if is {
            found.insert(i);
            shape_tensors.extend(o.outputs.iter().copied().filter(|&ti| ti != -1));
        }
    }
    Ok(found)
}

/// Whether tensor `ti` is computed by the shape ops.
fn is_shape(shape_ops: &HashSet<usize>, producer: &HashMap<i32, usize>, ti: i32) -> bool {
    producer.get(&ti).is_some_and(|p| shape_ops.contains(p))
}

/// The input's dims: `shape`, with a -1 of `shape_signature` (or of an old file's shape)
/// as a free dimension.
fn input_dims(t: &Tensors, input: i32) -> Result<Vec<Dim>> {
    let shape = t.shape(input)?;
    let sig = t.signature(input)?.filter(|s| s.len() == shape.len());
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            let free = d == -1 || sig.as_ref().is_some_and(|s| s[i] == -1);
            if free {
                return Ok(Dim::Symbolic(if i == 0 {
                    "batch".to_string()
                } else {
                    format!("dim{i}")
                }));
            }
            usize::try_from(d).map(Dim::Fixed).map_err(|_| {
                err(format!(
                    "the input {}: dimension {d} in shape {shape:?}",
                    t.label(input)
                ))
            })
        })
        .collect()
}
