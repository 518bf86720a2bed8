//! ONNX nodes as IR nodes (`io::graph`): every constant input resolved, weights to OHWI,
//! attributes checked against what the op allows, ops the IR does not know kept as
//! [`Op::Unsupported`] with the reason.

use super::graph::{err, label, Attrs, Const, Data, Graph, IntType};
use super::proto as pb;
use super::quant::i32_bias;
use crate::activation::Clamp;
use crate::geometry::Padding;
use crate::io::graph::{self as ir, BinOp, Op, Pads};
use crate::quant::QParams;
use crate::Result;

pub(super) struct Lowering<'a> {
    pub g: Graph<'a>,
    pub opset: i64,
}

/// The ops that move data without changing values: a tensor on a quantization grid stays
/// on it through them.
pub(super) const LAYOUT_OPS: &[&str] = &[
    "Transpose",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Dropout",
    "Pad",
];

/// What lowering one node of the data path makes: the IR node and the quantization grid
/// its output lies on (a QuantizeLinear's or QLinear op's output, and what a
/// DequantizeLinear or a layout op keeps of it).
pub(super) struct Lowered {
    pub node: ir::Node,
    pub grid: Option<QParams>,
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
fn oihw_to_ohwi<T: Copy + Default>(v: &[T], o: usize, i: usize, h: usize, w: usize) -> Vec<T> {
    let mut out = vec![T::default(); v.len()];
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

fn transpose<T: Copy + Default>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut t = vec![T::default(); v.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = v[r * cols + c];
        }
    }
    t
}

impl<'a> Lowering<'a> {
    /// One node of the data path (whose data input is `data`, on `grid` if quantized).
    pub fn node(&self, node: &pb::NodeProto, data: &str, grid: Option<QParams>) -> Result<Lowered> {
        let (op, out_grid) = match node.op_type() {
            "QuantizeLinear" => {
                let q = self.g.activation_q(node)?;
                (Op::Identity, Some(q))
            }
            "DequantizeLinear" => {
                let q = self.g.activation_q(node)?;
                match grid {
                    Some(g) if g != q => {
                        return Err(err(format!(
                            "{}: dequantizes with scale {} and zero point {} a tensor \
                             quantized with scale {} and zero point {} (u8 grid)",
                            label(node),
                            q.scale,
                            q.zero_point,
                            g.scale,
                            g.zero_point
                        )))
                    }
                    _ => {}
                }
                (Op::Identity, Some(q))
            }
            "QLinearConv" => {
                let (conv, y) = self.qlinear_conv(node, grid)?;
                (Op::Conv(conv), Some(y))
            }
            "QLinearMatMul" => {
                let (dense, y) = self.qlinear_matmul(node, grid)?;
                (Op::Dense(dense), Some(y))
            }
            "Pad" => (self.pad(node, grid)?, grid),
            op if LAYOUT_OPS.contains(&op) => (self.op(node, data)?, grid),
            _ => {
                let mut op = self.op(node, data)?;
                if let Some(g) = grid {
                    self.quantize_weights(node, &mut op, g)?;
                }
                (op, None)
            }
        };
        // Annotated: what QuantizeLinear and the QLinear ops make. Not: a DequantizeLinear's
        // float output (the next layer reads the grid as its input's quantization), a
        // layout op's (its input's), and a QuantizeLinear back to the grid the data is
        // already on (DequantizeLinear -> Reshape -> QuantizeLinear, exact).
        let out_q = match node.op_type() {
            "QuantizeLinear" if grid == out_grid => None,
            "QuantizeLinear" | "QLinearConv" | "QLinearMatMul" => out_grid,
            _ => None,
        };
        Ok(Lowered {
            node: ir::Node {
                name: match node.name() {
                    "" => node.output.first().cloned().unwrap_or_default(),
                    n => n.to_string(),
                },
                op_type: node.op_type().to_string(),
                op,
                out_q,
            },
            grid: out_grid,
        })
    }

    /// The grid `node` states for its data input (inputs 1 and 2 of the QLinear ops),
    /// which must be the one the data is on.
    fn qlinear_input(&self, node: &pb::NodeProto, grid: Option<QParams>) -> Result<QParams> {
        let x = self.g.qlinear_q(node, 1, 2)?;
        if let Some(g) = grid.filter(|g| *g != x) {
            return Err(err(format!(
                "{}: its input quantization (scale {}, zero point {}) is not its input's \
                 (scale {}, zero point {}, u8 grid)",
                label(node),
                x.scale,
                x.zero_point,
                g.scale,
                g.zero_point
            )));
        }
        Ok(x)
    }

    /// QLinearConv: a convolution of integer weights (input 3, scale and zero point 4 and
    /// 5, per output channel) with an int32 bias (input 8) at `x_scale * w_scale`, from
    /// the grid of inputs 1, 2 to that of 6, 7.
    fn qlinear_conv(
        &self,
        node: &pb::NodeProto,
        grid: Option<QParams>,
    ) -> Result<(ir::Conv, QParams)> {
        let x = self.qlinear_input(node, grid)?;
        let y = self.g.qlinear_q(node, 6, 7)?;
        let w = self.g.qlinear_weight(node, 3, 0)?;
        let &[o, i, h, kw] = w.values.dims.as_slice() else {
            return Err(err(format!(
                "{}: weight '{}' has dims {:?}, expected 4 (OIHW)",
                label(node),
                w.name,
                w.values.dims
            )));
        };
        let (q, w_scale) = w.s8_weights(0)?;
        let bias = i32_bias(&self.g, node, 8, x.scale, &w_scale)?;
        let attrs = self.conv_attrs(node)?;
        let real_bias = bias
            .iter()
            .zip(&w_scale)
            .map(|(&b, &s)| b as f32 * (x.scale * s))
            .collect();
        let mut conv = self.conv_from(node, &attrs, w.real(), &w.values.dims, real_bias)?;
        conv.quant = Some(ir::QuantWeights {
            weights: oihw_to_ohwi(&q, o, i, h, kw),
            weight_scale: w_scale,
            bias,
        });
        Ok((conv, y))
    }

    /// QLinearMatMul of the data by an integer [in][out] constant (per output column
    /// scales), from the grid of inputs 1, 2 to that of 6, 7.
    fn qlinear_matmul(
        &self,
        node: &pb::NodeProto,
        grid: Option<QParams>,
    ) -> Result<(ir::Dense, QParams)> {
        let x = self.qlinear_input(node, grid)?;
        let y = self.g.qlinear_q(node, 6, 7)?;
        let w = self.g.qlinear_weight(node, 3, 1)?;
        let &[inputs, outputs] = w.values.dims.as_slice() else {
            return Err(err(format!(
                "{}: weight '{}' has dims {:?}, expected 2",
                label(node),
                w.name,
                w.values.dims
            )));
        };
        let (q, weight_scale) = w.s8_weights(1)?;
        let _ = x;
        Ok((
            ir::Dense {
                weights: transpose(&w.real(), inputs, outputs),
                inputs,
                outputs,
                bias: vec![0.0; outputs],
                clamp: Clamp::NONE,
                quant: Some(ir::QuantWeights {
                    weights: transpose(&q, inputs, outputs),
                    weight_scale,
                    bias: vec![0; outputs],
                }),
            },
            y,
        ))
    }

    /// The integer weights of a Conv, Gemm or MatMul whose weight is a DequantizeLinear of
    /// integers and whose input is on `grid` (a QDQ model): s8 weights per output channel,
    /// the bias in i32 at `s_in * s_w` (a float bias quantized as ONNX Runtime does).
    fn quantize_weights(&self, node: &pb::NodeProto, op: &mut Op, grid: QParams) -> Result<()> {
        let Some(dq) = node.input.get(1).and_then(|w| self.g.dequantized(w)) else {
            return Ok(());
        };
        let w = self.g.dequantize_const(dq)?;
        match op {
            Op::Conv(conv) => {
                let &[o, i, h, kw] = w.values.dims.as_slice() else {
                    return Ok(());
                };
                let (q, w_scale) = w.s8_weights(0)?;
                let bias = i32_bias(&self.g, node, 2, grid.scale, &w_scale)?;
                conv.quant = Some(ir::QuantWeights {
                    weights: oihw_to_ohwi(&q, o, i, h, kw),
                    weight_scale: w_scale,
                    bias,
                });
            }
            Op::Dense(dense) => {
                let &[r, c] = w.values.dims.as_slice() else {
                    return Ok(());
                };
                let attrs = Attrs::new(node, &["alpha", "beta", "transA", "transB"])?;
                if attrs.float("alpha", 1.0)? != 1.0 || attrs.float("beta", 1.0)? != 1.0 {
                    return Err(err(format!(
                        "{}: alpha and beta must be 1 with quantized weights",
                        label(node)
                    )));
                }
                // [out][in] (Gemm with transB) or [in][out] (MatMul, Gemm).
                let trans_b = node.op_type() == "Gemm" && attrs.int("transB", 0)? != 0;
                let (q, w_scale) = w.s8_weights(if trans_b { 0 } else { 1 })?;
                let weights = if trans_b { q } else { transpose(&q, r, c) };
                let bias = i32_bias(&self.g, node, 2, grid.scale, &w_scale)?;
                dense.quant = Some(ir::QuantWeights {
                    weights,
                    weight_scale: w_scale,
                    bias,
                });
            }
            _ => {}
        }
        Ok(())
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

    fn conv_attrs<'n>(&self, node: &'n pb::NodeProto) -> Result<Attrs<'n>> {
        let mut allowed = vec![
            "auto_pad",
            "dilations",
            "group",
            "kernel_shape",
            "pads",
            "strides",
        ];
        if node.op_type() == "QLinearConv" {
            // ONNX Runtime's NHWC variant is a contrib op, refused by domain; the
            // attribute is harmless at its default.
            allowed.push("channels_last");
        }
        Attrs::new(node, &allowed)
    }

    fn conv(&self, node: &pb::NodeProto) -> Result<ir::Conv> {
        let attrs = self.conv_attrs(node)?;
        let weight = self.weight(node, 1)?;
        let o = weight.dims.first().copied().unwrap_or(0);
        let bias = self.bias(node, 2, o)?;
        let dims = weight.dims.clone();
        self.conv_from(node, &attrs, f32s(weight), &dims, bias)
    }

    /// A convolution of OIHW `weights` of `dims`.
    fn conv_from(
        &self,
        node: &pb::NodeProto,
        attrs: &Attrs,
        weights: Vec<f32>,
        dims: &[usize],
        bias: Vec<f32>,
    ) -> Result<ir::Conv> {
        let &[o, i, h, w] = dims else {
            return Err(err(format!(
                "{}: weight '{}' has dims {:?}, expected 4 (OIHW)",
                label(node),
                node.input[1],
                dims
            )));
        };
        if attrs.int("channels_last", 0)? != 0 {
            return Err(err(format!(
                "{}: channels_last is not supported",
                label(node)
            )));
        }
        if let Some(k) = attrs.ints("kernel_shape")? {
            if k != [h as i64, w as i64] {
                return Err(err(format!(
                    "{}: kernel_shape {k:?} does not match the weight dims {:?}",
                    label(node),
                    dims
                )));
            }
        }
        let group = attrs.int("group", 1)?;
        let group = usize::try_from(group)
            .ok()
            .filter(|&g| g >= 1)
            .ok_or_else(|| err(format!("{}: group {group}", label(node))))?;
        Ok(ir::Conv {
            weights: oihw_to_ohwi(&weights, o, i, h, w),
            out_c: o,
            kernel: (h, w),
            in_c_per_group: i,
            bias,
            stride: pair(node, "strides", attrs.ints("strides")?, 1)?,
            dilation: pair(node, "dilations", attrs.ints("dilations")?, 1)?,
            pads: self.pads(node, attrs)?,
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

    fn pad(&self, node: &pb::NodeProto, grid: Option<QParams>) -> Result<Op> {
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
            let value = match node.input.get(2).filter(|s| !s.is_empty()) {
                None => 0.0,
                // A Pad of quantized data (QOperator) pads with codes: the zero point is
                // real 0.
                Some(name) if self.g.is_int_constant(name) => {
                    let c = self.g.int_constant(node, name)?;
                    let code = c.values.first().copied().unwrap_or(0)
                        + if c.ty == IntType::S8 { 128 } else { 0 };
                    match grid {
                        Some(g) => g.dequantize(code.clamp(0, 255) as u8),
                        None => {
                            return Err(err(format!(
                                "{}: pads with the integer '{name}' data that is not quantized",
                                label(node)
                            )))
                        }
                    }
                }
                Some(_) => match self.g.input_f32(node, 2)? {
                    None => 0.0,
                    Some(c) => f32s(c).first().copied().unwrap_or(0.0),
                },
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
