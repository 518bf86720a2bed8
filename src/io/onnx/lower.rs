//! ONNX nodes as IR nodes (`io::graph`): every constant input resolved, weights to OHWI,
//! attributes checked against what the op allows, ops the IR does not know kept as
//! [`Op::Unsupported`] with the reason.

use super::graph::{err, label, Attrs, Const, Data, Graph};
use super::proto as pb;
use crate::activation::Clamp;
use crate::geometry::Padding;
use crate::io::graph::{self as ir, BinOp, Op, Pads};
use crate::Result;

pub(super) struct Lowering<'a> {
    pub g: Graph<'a>,
    pub opset: i64,
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

fn pair(
    node: &pb::NodeProto,
    what: &str,
    v: Option<Vec<i64>>,
    default: usize,
) -> Result<(usize, usize)> {
    let Some(v) = v else {
        return Ok((default, default));
    };
    match usize_list(node, what, &v)?.as_slice() {
        &[a, b] if a >= 1 && b >= 1 => Ok((a, b)),
        _ => Err(err(format!(
            "{}: {what} {v:?} must be two positive values",
            label(node)
        ))),
    }
}

/// OIHW to OHWI.
fn oihw_to_ohwi(v: &[f32], o: usize, i: usize, h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for oo in 0..o {
        for ii in 0..i {
            for y in 0..h {
                for x in 0..w {
                    out[((oo * h + y) * w + x) * i + ii] = v[((oo * i + ii) * h + y) * w + x];
                }
            }
        }
    }
    out
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

impl<'a> Lowering<'a> {
    /// One node of the data path (whose data input is `data`).
    pub fn node(&self, node: &pb::NodeProto, data: &str) -> Result<ir::Node> {
        let op = self.op(node, data)?;
        Ok(ir::Node {
            name: match node.name() {
                "" => node.output.first().cloned().unwrap_or_default(),
                n => n.to_string(),
            },
            op_type: node.op_type().to_string(),
            op,
            out_q: None,
        })
    }

    fn op(&self, node: &pb::NodeProto, data: &str) -> Result<Op> {
        Ok(match node.op_type() {
            "Conv" => Op::Conv(self.conv(node)?),
            "BatchNormalization" => self.batch_norm(node)?,
            "Relu" => {
                Attrs::new(node, &[])?;
                Op::Clamp(Clamp {
                    min: 0.0,
                    max: f32::INFINITY,
                })
            }
            "Clip" => self.clip(node)?,
            "Max" | "Min" => self.max_min(node, data)?,
            "Add" | "Sub" | "Mul" | "Div" => self.binary(node, data)?,
            "Pad" => self.pad(node)?,
            "Transpose" => {
                let perm = Attrs::new(node, &["perm"])?
                    .ints("perm")?
                    .ok_or_else(|| err(format!("{}: no perm", label(node))))?;
                Op::Transpose {
                    perm: usize_list(node, "perm", &perm)?,
                }
            }
            "GlobalAveragePool" => {
                Attrs::new(node, &[])?;
                Op::GlobalAvgPool { keepdims: true }
            }
            "ReduceMean" => {
                let attrs = Attrs::new(node, &["axes", "keepdims", "noop_with_empty_axes"])?;
                let axes = match attrs.ints("axes")? {
                    Some(a) => Some(a),
                    None => self.g.input_i64(node, 1)?,
                };
                match axes {
                    Some(axes) if !axes.is_empty() => Op::ReduceMean {
                        axes,
                        keepdims: attrs.int("keepdims", 1)? != 0,
                    },
                    _ => Op::Unsupported("a ReduceMean over all axes".into()),
                }
            }
            "AveragePool" => self.average_pool(node)?,
            "Gemm" => self.gemm(node)?,
            "MatMul" => {
                Attrs::new(node, &[])?;
                if node.input.first().map(String::as_str) != Some(data) {
                    return Ok(Op::Unsupported(
                        "a MatMul whose activations are the second operand".into(),
                    ));
                }
                let w = self.weight(node, 1)?;
                let &[inputs, outputs] = w.dims.as_slice() else {
                    return Err(err(format!(
                        "{}: weight '{}' has dims {:?}, expected 2",
                        label(node),
                        node.input[1],
                        w.dims
                    )));
                };
                Op::Dense(ir::Dense {
                    weights: transpose(&f32s(w), inputs, outputs),
                    inputs,
                    outputs,
                    bias: vec![0.0; outputs],
                    clamp: Clamp::NONE,
                    quant: None,
                })
            }
            "Reshape" => {
                Attrs::new(node, &["allowzero"])?;
                let computed = node
                    .input
                    .get(1)
                    .is_some_and(|s| self.g.is_computed_shape(s));
                let shape = if computed {
                    None
                } else {
                    Some(self.g.input_i64(node, 1)?.ok_or_else(|| {
                        err(format!("{}: Reshape needs a constant shape", label(node)))
                    })?)
                };
                Op::Reshape { shape }
            }
            "Flatten" => Op::Flatten {
                axis: Attrs::new(node, &["axis"])?.int("axis", 1)?,
            },
            "Squeeze" | "Unsqueeze" => {
                let attrs = Attrs::new(node, &["axes"])?;
                let axes = match attrs.ints("axes")? {
                    Some(a) => Some(a),
                    None => self.g.input_i64(node, 1)?,
                };
                if node.op_type() == "Squeeze" {
                    Op::Squeeze { axes }
                } else {
                    Op::Unsqueeze {
                        axes: axes.ok_or_else(|| err(format!("{}: no axes", label(node))))?,
                    }
                }
            }
            "Softmax" => {
                let default = if self.opset < 13 { 1 } else { -1 };
                Op::Softmax {
                    axis: Attrs::new(node, &["axis"])?.int("axis", default)?,
                }
            }
            "Identity" => Op::Identity,
            "Dropout" => {
                Attrs::new(node, &["ratio", "seed", "is_test"])?;
                if let Some(training) = self.g.input_i64(node, 2)? {
                    if training.iter().any(|&t| t != 0) {
                        return Err(err(format!("{}: training_mode is true", label(node))));
                    }
                }
                Op::Identity
            }
            "Cast" => {
                let to = Attrs::new(node, &["to", "saturate"])?.int("to", 0)?;
                if to == 1 {
                    Op::Identity
                } else {
                    Op::Unsupported(format!("a Cast to element type {to} (only float32)"))
                }
            }
            op => Op::Unsupported(format!("the op {op} is not supported")),
        })
    }

    fn weight(&self, node: &pb::NodeProto, i: usize) -> Result<Const> {
        self.g
            .input_f32(node, i)?
            .ok_or_else(|| err(format!("{}: no weight input {i}", label(node))))
    }

    fn bias(&self, node: &pb::NodeProto, i: usize, n: usize) -> Result<Vec<f32>> {
        match self.g.input_f32(node, i)? {
            None => Ok(vec![0.0; n]),
            Some(b) => {
                let v = f32s(b);
                if v.len() != n {
                    return Err(err(format!(
                        "{}: bias '{}' has {} values for {n} outputs",
                        label(node),
                        node.input[i],
                        v.len()
                    )));
                }
                Ok(v)
            }
        }
    }

    fn pads(&self, node: &pb::NodeProto, attrs: &Attrs) -> Result<Pads> {
        Ok(
            match attrs.string("auto_pad")?.as_deref().unwrap_or("NOTSET") {
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
            },
        )
    }

    fn conv(&self, node: &pb::NodeProto) -> Result<ir::Conv> {
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
        let weight = self.weight(node, 1)?;
        let &[o, i, h, w] = weight.dims.as_slice() else {
            return Err(err(format!(
                "{}: weight '{}' has dims {:?}, expected 4 (OIHW)",
                label(node),
                node.input[1],
                weight.dims
            )));
        };
        if let Some(k) = attrs.ints("kernel_shape")? {
            if k != [h as i64, w as i64] {
                return Err(err(format!(
                    "{}: kernel_shape {k:?} does not match the weight dims {:?}",
                    label(node),
                    weight.dims
                )));
            }
        }
        let group = attrs.int("group", 1)?;
        let group = usize::try_from(group)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| err(format!("{}: group {group}", label(node))))?;
        Ok(ir::Conv {
            weights: oihw_to_ohwi(&f32s(weight), o, i, h, w),
            out_c: o,
            kernel: (h, w),
            in_c_per_group: i,
            bias: self.bias(node, 2, o)?,
            stride: pair(node, "strides", attrs.ints("strides")?, 1)?,
            dilation: pair(node, "dilations", attrs.ints("dilations")?, 1)?,
            pads: self.pads(node, &attrs)?,
            group,
            clamp: Clamp::NONE,
            quant: None,
        })
    }

    fn batch_norm(&self, node: &pb::NodeProto) -> Result<Op> {
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
        Ok(Op::BatchNorm {
            scale: get(1, "scale")?,
            bias: get(2, "bias")?,
            mean: get(3, "mean")?,
            var: get(4, "var")?,
            eps,
        })
    }

    fn scalar(&self, node: &pb::NodeProto, i: usize) -> Result<Option<f32>> {
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
    }

    fn clip(&self, node: &pb::NodeProto) -> Result<Op> {
        let attrs = Attrs::new(node, &["min", "max"])?;
        let (min, max) = if self.opset < 11 {
            (attrs.opt_float("min")?, attrs.opt_float("max")?)
        } else {
            (self.scalar(node, 1)?, self.scalar(node, 2)?)
        };
        let c = Clamp {
            min: min.unwrap_or(f32::NEG_INFINITY),
            max: max.unwrap_or(f32::INFINITY),
        };
        c.check()
            .map_err(|e| err(format!("{}: {e}", label(node))))?;
        Ok(Op::Clamp(c))
    }

    /// The constant operand of a two-input node whose other input is `data`, and whether
    /// it comes first.
    fn const_operand(&self, node: &pb::NodeProto, data: &str) -> Result<Option<(Const, bool)>> {
        if node.input.len() != 2 {
            return Ok(None);
        }
        let first = node.input[0] != data;
        let idx = usize::from(!first);
        if node.input[idx] == data {
            // x op x
            return Ok(None);
        }
        Ok(self.g.input_f32(node, idx)?.map(|c| (c, first)))
    }

    fn max_min(&self, node: &pb::NodeProto, data: &str) -> Result<Op> {
        Attrs::new(node, &[])?;
        let Some((c, _)) = self.const_operand(node, data)? else {
            return Ok(Op::Unsupported(format!(
                "a {} that is not with one constant",
                node.op_type()
            )));
        };
        let v = f32s(c);
        let &[k] = v.as_slice() else {
            return Ok(Op::Unsupported(format!(
                "a {} with a constant of {} values (only a scalar is a clamp)",
                node.op_type(),
                v.len()
            )));
        };
        Ok(Op::Clamp(if node.op_type() == "Max" {
            Clamp {
                min: k,
                max: f32::INFINITY,
            }
        } else {
            Clamp {
                min: f32::NEG_INFINITY,
                max: k,
            }
        }))
    }

    fn binary(&self, node: &pb::NodeProto, data: &str) -> Result<Op> {
        Attrs::new(node, &[])?;
        let Some((c, const_first)) = self.const_operand(node, data)? else {
            return Ok(Op::Unsupported(format!(
                "{} of two activations (only with a constant)",
                node.op_type()
            )));
        };
        let op = match node.op_type() {
            "Add" => BinOp::Add,
            "Sub" => BinOp::Sub,
            "Mul" => BinOp::Mul,
            _ => BinOp::Div,
        };
        Ok(Op::Binary {
            op,
            dims: c.dims.clone(),
            value: f32s(c),
            const_first,
        })
    }

    fn pad(&self, node: &pb::NodeProto) -> Result<Op> {
        let attrs = Attrs::new(node, &["mode", "pads", "value"])?;
        let mode = attrs.string("mode")?.unwrap_or_else(|| "constant".into());
        if mode != "constant" {
            return Ok(Op::Unsupported(format!("a Pad in mode {mode:?}")));
        }
        let (pads, value) = if self.opset < 11 {
            (attrs.ints("pads")?, attrs.float("value", 0.0)?)
        } else {
            if node.input.get(3).is_some_and(|a| !a.is_empty()) {
                return Ok(Op::Unsupported("a Pad with axes".into()));
            }
            let value = match self.g.input_f32(node, 2)? {
                None => 0.0,
                Some(c) => f32s(c).first().copied().unwrap_or(0.0),
            };
            (self.g.input_i64(node, 1)?, value)
        };
        let pads = pads.ok_or_else(|| err(format!("{}: no pads", label(node))))?;
        let pads = usize_list(node, "pads", &pads)?;
        if pads.len() % 2 != 0 {
            return Err(err(format!(
                "{}: pads {pads:?} must have 2 values per axis",
                label(node)
            )));
        }
        let (begin, end) = pads.split_at(pads.len() / 2);
        Ok(Op::Pad {
            begin: begin.to_vec(),
            end: end.to_vec(),
            value,
        })
    }

    fn average_pool(&self, node: &pb::NodeProto) -> Result<Op> {
        let attrs = Attrs::new(
            node,
            &[
                "auto_pad",
                "ceil_mode",
                "count_include_pad",
                "dilations",
                "kernel_shape",
                "pads",
                "strides",
            ],
        )?;
        if attrs.int("ceil_mode", 0)? != 0 {
            return Ok(Op::Unsupported("an AveragePool with ceil_mode".into()));
        }
        if attrs
            .ints("dilations")?
            .is_some_and(|d| d.iter().any(|&x| x != 1))
        {
            return Ok(Op::Unsupported("a dilated AveragePool".into()));
        }
        let kernel = attrs
            .ints("kernel_shape")?
            .ok_or_else(|| err(format!("{}: no kernel_shape", label(node))))?;
        Ok(Op::AveragePool {
            kernel: pair(node, "kernel_shape", Some(kernel), 1)?,
            stride: pair(node, "strides", attrs.ints("strides")?, 1)?,
            pads: self.pads(node, &attrs)?,
            count_include_pad: attrs.int("count_include_pad", 0)? != 0,
        })
    }

    fn gemm(&self, node: &pb::NodeProto) -> Result<Op> {
        let attrs = Attrs::new(node, &["alpha", "beta", "transA", "transB"])?;
        if attrs.int("transA", 0)? != 0 {
            return Ok(Op::Unsupported("a Gemm with transA = 1".into()));
        }
        let (alpha, beta) = (attrs.float("alpha", 1.0)?, attrs.float("beta", 1.0)?);
        let w = self.weight(node, 1)?;
        let &[r, c] = w.dims.as_slice() else {
            return Err(err(format!(
                "{}: weight '{}' has dims {:?}, expected 2",
                label(node),
                node.input[1],
                w.dims
            )));
        };
        let trans_b = attrs.int("transB", 0)? != 0;
        let (outputs, inputs) = if trans_b { (r, c) } else { (c, r) };
        let v = f32s(w);
        let weights: Vec<f32> = if trans_b { v } else { transpose(&v, r, c) };
        Ok(Op::Dense(ir::Dense {
            weights: weights.iter().map(|x| x * alpha).collect(),
            inputs,
            outputs,
            bias: self
                .bias(node, 2, outputs)?
                .iter()
                .map(|b| b * beta)
                .collect(),
            clamp: Clamp::NONE,
            quant: None,
        }))
    }
}
