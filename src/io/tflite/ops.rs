//! One TFLite operator as [`Node`]s: its options and constant inputs resolved, weights in
//! the IR's layouts (OHWI convolutions, [out][in] dense).

use super::schema::{activation, builtin, padding, BuiltinOptions, Operator};
use super::tensors::{err, Tensors};
use crate::activation::Clamp;
use crate::geometry::Padding;
use crate::io::graph::{BinOp, Conv, Dense, Node, Op, Pads, QuantWeights};
use crate::Result;

/// s8 weights and their per output channel scales.
type Q8Weights = (Vec<i8>, Vec<f32>);

/// What lowering one operator needs.
pub(crate) struct OpCtx<'t, 'a> {
    pub t: &'t Tensors<'a>,
    pub op: Operator<'a>,
    pub index: usize,
    pub code: i32,
    /// The opcode's name ("CONV_2D").
    pub name: &'t str,
    pub inputs: &'t [i32],
    /// The first output: the data path after this operator.
    pub output: i32,
    /// The data path before it (one of `inputs`).
    pub data: i32,
}

impl OpCtx<'_, '_> {
    /// "operator 3 (CONV_2D)".
    fn label(&self) -> String {
        format!("operator {} ({})", self.index, self.name)
    }

    fn fail(&self, why: impl std::fmt::Display) -> crate::Error {
        err(format!("{}: {why}", self.label()))
    }

    /// The node, with its output's quantization (checked by `data_first` / the chain).
    fn node(&self, op: Op) -> Node {
        Node {
            name: self.t.name(self.output),
            op_type: self.name.to_string(),
            op,
            out_q: self.t.data_q(self.output, "output").ok().flatten(),
        }
    }

    /// The data input's quantization.
    fn in_q(&self) -> Result<Option<crate::quant::QParams>> {
        self.t
            .data_q(self.data, &format!("{}: input", self.label()))
    }

    /// Weights of input 1: f32, or quantized (s8 with `out_c` scales along `axis`) with
    /// their dequantized values.
    fn weights(&self, axis: usize, out_c: usize) -> Result<(Vec<f32>, Option<Q8Weights>)> {
        let ti = self.required(1, "weights")?;
        match self.t.tensor_type(ti)? {
            super::schema::tensor_type::INT8 | super::schema::tensor_type::UINT8 => {
                let role = format!("{}: weights", self.label());
                let (w, s) = self.t.const_q8(ti, &role, axis, out_c)?;
                let inner = w.len() / out_c.max(1);
                let f = w
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let c = if axis == 0 {
                            i / inner.max(1)
                        } else {
                            i % out_c.max(1)
                        };
                        f32::from(v) * s[c]
                    })
                    .collect();
                Ok((f, Some((w, s))))
            }
            _ => Ok((self.const_f32(1, "weights")?.data, None)),
        }
    }

    /// The quantized form of a layer: weights and scales in the IR's order, the int32
    /// bias, and the f32 bias its dequantized values. Needs a quantized data input.
    fn quant_bias(&self, n: usize, weight_scale: &[f32]) -> Result<(Vec<f32>, Vec<i32>)> {
        let s_in = self.in_q()?.ok_or_else(|| {
            self.fail(format!(
                "int8 weights on the float input {} (dynamic-range models are not supported)",
                self.t.label(self.data)
            ))
        })?;
        let bias = match self.input(2) {
            None => vec![0; n],
            Some(ti) => {
                let b = self.t.const_i32(ti, &format!("{}: bias", self.label()))?;
                if b.data.len() != n || b.dims.len() != 1 {
                    return Err(self.fail(format!(
                        "bias {} has dims {:?}, expected [{n}]",
                        self.t.label(ti),
                        b.dims
                    )));
                }
                b.data
            }
        };
        let f = bias
            .iter()
            .zip(weight_scale)
            .map(|(&b, &s)| b as f32 * (s_in.scale * s))
            .collect();
        Ok((f, bias))
    }

    /// Input `i`, or None when absent (-1 or past the end).
    fn input(&self, i: usize) -> Option<i32> {
        self.inputs.get(i).copied().filter(|&ti| ti != -1)
    }

    /// Input `i`, which must be there.
    fn required(&self, i: usize, what: &str) -> Result<i32> {
        self.input(i)
            .ok_or_else(|| self.fail(format!("input {i} ({what}) is missing")))
    }

    /// The data input must be input 0.
    fn data_first(&self) -> Result<()> {
        if self.inputs.first() != Some(&self.data) {
            return Err(self.fail(format!(
                "the data path {} must be input 0",
                self.t.label(self.data)
            )));
        }
        self.in_q().map(|_| ())
    }

    fn const_f32(&self, i: usize, what: &str) -> Result<super::tensors::Const<f32>> {
        let ti = self.required(i, what)?;
        self.t.const_f32(ti, &format!("{}: {what}", self.label()))
    }

    fn const_ints(&self, i: usize, what: &str) -> Result<super::tensors::Const<i64>> {
        let ti = self.required(i, what)?;
        self.t.const_ints(ti, &format!("{}: {what}", self.label()))
    }

    /// The data input's channels (the last dim of its shape).
    fn in_channels(&self) -> Result<usize> {
        let dims = self.t.dims(self.data)?;
        match dims.as_slice() {
            [_, _, _, c] if *c > 0 => Ok(*c),
            _ => Err(self.fail(format!(
                "the data input {} has shape {dims:?}, expected [n, h, w, c]",
                self.t.label(self.data)
            ))),
        }
    }

    /// A bias of `n` values from input 2, zeros when absent.
    fn bias(&self, n: usize) -> Result<Vec<f32>> {
        if self.input(2).is_none() {
            return Ok(vec![0.0; n]);
        }
        let b = self.const_f32(2, "bias")?;
        if b.data.len() != n || b.dims.len() != 1 {
            return Err(self.fail(format!(
                "bias {} has dims {:?}, expected [{n}]",
                self.t.label(self.inputs[2]),
                b.dims
            )));
        }
        Ok(b.data)
    }

    fn positive(&self, what: &str, v: i32) -> Result<usize> {
        usize::try_from(v)
            .ok()
            .filter(|&v| v > 0)
            .ok_or_else(|| self.fail(format!("{what} is {v}, expected a positive number")))
    }

    fn pads(&self, p: i8) -> Result<Pads> {
        match p {
            padding::SAME => Ok(Pads::SameUpper),
            padding::VALID => Ok(Pads::Explicit(Padding::new(0, 0, 0, 0))),
            other => Err(self.fail(format!("unknown padding {other} (SAME 0 or VALID 1)"))),
        }
    }

    fn missing_options(&self, what: &str) -> crate::Error {
        self.fail(format!("has no {what} (builtin_options)"))
    }
}

/// A fused activation as a clamp, or why it is not supported.
fn fused(act: i8) -> std::result::Result<Clamp, String> {
    match act {
        activation::NONE => Ok(Clamp::NONE),
        activation::RELU => Ok(Clamp {
            min: 0.0,
            max: f32::INFINITY,
        }),
        activation::RELU6 => Ok(Clamp { min: 0.0, max: 6.0 }),
        activation::RELU_N1_TO_1 => Ok(Clamp {
            min: -1.0,
            max: 1.0,
        }),
        activation::TANH => Err("fused activation TANH is not supported".into()),
        activation::SIGN_BIT => Err("fused activation SIGN_BIT is not supported".into()),
        other => Err(format!("unknown fused activation {other}")),
    }
}

/// The operator as one node, or two when a fused activation of an op without a clamp of
/// its own follows it.
pub(crate) fn lower_op(c: &OpCtx) -> Result<Vec<Node>> {
    let opts = c.op.builtin_options();
    let one = |op: Op| Ok(vec![c.node(op)]);
    let unsupported = |why: String| Ok(vec![c.node(Op::Unsupported(why))]);
    match c.code {
        builtin::CONV_2D => {
            let BuiltinOptions::Conv2D(o) = opts else {
                return Err(c.missing_options("Conv2DOptions"));
            };
            c.data_first()?;
            let clamp = match fused(o.fused_activation_function()) {
                Ok(cl) => cl,
                Err(why) => return unsupported(why),
            };
            let wi = c.required(1, "weights")?;
            let w_dims = c.t.dims(wi)?;
            let in_c = c.in_channels()?;
            let [out_c, kh, kw, ipg] = w_dims[..] else {
                return Err(c.fail(format!(
                    "weights {} have dims {:?}, expected 4 ([out][h][w][in])",
                    c.t.label(c.inputs[1]),
                    w_dims
                )));
            };
            if out_c == 0 || kh == 0 || kw == 0 || ipg == 0 || in_c % ipg != 0 {
                return Err(c.fail(format!(
                    "weights {} have dims {:?}: the input has {in_c} channels, not a \
                     multiple of {ipg}",
                    c.t.label(c.inputs[1]),
                    w_dims
                )));
            }
            let (weights, qw) = c.weights(0, out_c)?;
            let (bias, quant) = match qw {
                Some((w, s)) => {
                    let (fb, b) = c.quant_bias(out_c, &s)?;
                    (
                        fb,
                        Some(QuantWeights {
                            weights: w,
                            weight_scale: s,
                            bias: b,
                        }),
                    )
                }
                None => (c.bias(out_c)?, None),
            };
            let group = in_c / ipg;
            if out_c % group != 0 {
                return Err(c.fail(format!(
                    "weights {} have {out_c} output channels, not a multiple of the {group} \
                     groups",
                    c.t.label(c.inputs[1])
                )));
            }
            one(Op::Conv(Conv {
                weights,
                out_c,
                kernel: (kh, kw),
                in_c_per_group: ipg,
                bias,
                stride: (
                    c.positive("stride_h", o.stride_h())?,
                    c.positive("stride_w", o.stride_w())?,
                ),
                dilation: (
                    c.positive("dilation_h_factor", o.dilation_h_factor())?,
                    c.positive("dilation_w_factor", o.dilation_w_factor())?,
                ),
                pads: c.pads(o.padding())?,
                group,
                clamp,
                quant,
            }))
        }
        builtin::DEPTHWISE_CONV_2D => {
            let BuiltinOptions::DepthwiseConv2D(o) = opts else {
                return Err(c.missing_options("DepthwiseConv2DOptions"));
            };
            c.data_first()?;
            let clamp = match fused(o.fused_activation_function()) {
                Ok(cl) => cl,
                Err(why) => return unsupported(why),
            };
            let wi = c.required(1, "weights")?;
            let w_dims = c.t.dims(wi)?;
            let ch = c.in_channels()?;
            let [1, kh, kw, cm] = w_dims[..] else {
                return Err(c.fail(format!(
                    "weights {} have dims {:?}, expected [1][h][w][channels]",
                    c.t.label(c.inputs[1]),
                    w_dims
                )));
            };
            if kh == 0 || kw == 0 {
                return Err(c.fail(format!(
                    "weights {} have an empty kernel {:?}",
                    c.t.label(c.inputs[1]),
                    w_dims
                )));
            }
            if cm != ch {
                if cm % ch == 0 && cm > ch {
                    return unsupported(format!(
                        "depth_multiplier {} ({cm} output channels from {ch}) is not supported",
                        cm / ch
                    ));
                }
                return Err(c.fail(format!(
                    "weights {} have dims {:?}: the input has {ch} channels",
                    c.t.label(c.inputs[1]),
                    w_dims
                )));
            }
            let (wf, qw) = c.weights(3, ch)?;
            // [1][h][w][c] to OHWI [c][h][w][1].
            fn to_ohwi<T: Copy + Default>(w: &[T], ch: usize, khw: usize) -> Vec<T> {
                let mut out = vec![T::default(); w.len()];
                for (hw, row) in w.chunks_exact(ch).enumerate() {
                    for (k, &v) in row.iter().enumerate() {
                        out[k * khw + hw] = v;
                    }
                }
                out
            }
            let weights = to_ohwi(&wf, ch, kh * kw);
            let (bias, quant) = match qw {
                Some((w, s)) => {
                    let (fb, b) = c.quant_bias(ch, &s)?;
                    (
                        fb,
                        Some(QuantWeights {
                            weights: to_ohwi(&w, ch, kh * kw),
                            weight_scale: s,
                            bias: b,
                        }),
                    )
                }
                None => (c.bias(ch)?, None),
            };
            one(Op::Conv(Conv {
                weights,
                out_c: ch,
                kernel: (kh, kw),
                in_c_per_group: 1,
                bias,
                stride: (
                    c.positive("stride_h", o.stride_h())?,
                    c.positive("stride_w", o.stride_w())?,
                ),
                dilation: (
                    c.positive("dilation_h_factor", o.dilation_h_factor())?,
                    c.positive("dilation_w_factor", o.dilation_w_factor())?,
                ),
                pads: c.pads(o.padding())?,
                group: ch,
                clamp,
                quant,
            }))
        }
        builtin::FULLY_CONNECTED => {
            let (act, format) = match opts {
                BuiltinOptions::FullyConnected(o) => {
                    (o.fused_activation_function(), o.weights_format())
                }
                _ => (activation::NONE, 0),
            };
            c.data_first()?;
            if format != 0 {
                return unsupported(format!("weights_format {format} (shuffled int8)"));
            }
            let clamp = match fused(act) {
                Ok(cl) => cl,
                Err(why) => return unsupported(why),
            };
            let wi = c.required(1, "weights")?;
            let w_dims = c.t.dims(wi)?;
            let [outputs, inputs] = w_dims[..] else {
                return Err(c.fail(format!(
                    "weights {} have dims {:?}, expected [out][in]",
                    c.t.label(c.inputs[1]),
                    w_dims
                )));
            };
            let in_dims = c.t.dims(c.data)?;
            let features = crate::io::graph::shape::elements(&in_dims[in_dims.len().min(1)..]);
            if inputs == 0
                || outputs == 0
                || (in_dims.last() != Some(&inputs) && features != inputs)
            {
                return Err(c.fail(format!(
                    "weights {} have dims {:?}, but the input {} has shape {in_dims:?}",
                    c.t.label(c.inputs[1]),
                    w_dims,
                    c.t.label(c.data)
                )));
            }
            let (weights, qw) = c.weights(0, outputs)?;
            let (bias, quant) = match qw {
                Some((w, s)) => {
                    let (fb, b) = c.quant_bias(outputs, &s)?;
                    (
                        fb,
                        Some(QuantWeights {
                            weights: w,
                            weight_scale: s,
                            bias: b,
                        }),
                    )
                }
                None => (c.bias(outputs)?, None),
            };
            one(Op::Dense(Dense {
                weights,
                inputs,
                outputs,
                bias,
                clamp,
                quant,
            }))
        }
        builtin::AVERAGE_POOL_2D => {
            let BuiltinOptions::Pool2D(o) = opts else {
                return Err(c.missing_options("Pool2DOptions"));
            };
            c.data_first()?;
            let op = Op::AveragePool {
                kernel: (
                    c.positive("filter_height", o.filter_height())?,
                    c.positive("filter_width", o.filter_width())?,
                ),
                stride: (
                    c.positive("stride_h", o.stride_h())?,
                    c.positive("stride_w", o.stride_w())?,
                ),
                pads: c.pads(o.padding())?,
                count_include_pad: false,
            };
            with_activation(c, op, o.fused_activation_function())
        }
        builtin::MEAN => {
            let keepdims = match opts {
                BuiltinOptions::Reducer(o) => o.keep_dims(),
                _ => false,
            };
            c.data_first()?;
            let axes = c.const_ints(1, "axes")?.data;
            one(Op::ReduceMean { axes, keepdims })
        }
        builtin::RESHAPE => {
            c.data_first()?;
            let shape = match (c.input(1), opts) {
                // Computed from SHAPE of the activations (a dynamic batch): checked by
                // shape inference to keep one vector per image.
                (Some(ti), _) if !c.t.is_const(ti)? => {
                    return one(Op::Reshape { shape: None });
                }
                (Some(_), _) => c.const_ints(1, "shape")?.data,
                (None, BuiltinOptions::Reshape(o)) if o.new_shape().is_some() => o
                    .new_shape()
                    .map(|s| s.iter().map(i64::from).collect())
                    .unwrap_or_default(),
                _ => c.t.shape(c.output)?.into_iter().map(i64::from).collect(),
            };
            one(Op::Reshape { shape: Some(shape) })
        }
        builtin::SQUEEZE => {
            c.data_first()?;
            let axes = match opts {
                BuiltinOptions::Squeeze(o) => o
                    .squeeze_dims()
                    .filter(|d| !d.is_empty())
                    .map(|d| d.iter().map(i64::from).collect()),
                _ => None,
            };
            one(Op::Squeeze { axes })
        }
        builtin::SOFTMAX => {
            c.data_first()?;
            // The schema's default beta is 0; converters always write it.
            let beta = match opts {
                BuiltinOptions::Softmax(o) => o.beta(),
                _ => 0.0,
            };
            if beta != 1.0 {
                return unsupported(format!("beta {beta} (only 1 is supported)"));
            }
            one(Op::Softmax { axis: -1 })
        }
        builtin::PAD => {
            c.data_first()?;
            let p = c.const_ints(1, "paddings")?;
            let ti = c.inputs[1];
            if p.dims != [4, 2] {
                return Err(c.fail(format!(
                    "paddings {} have dims {:?}, expected [4][2]",
                    c.t.label(ti),
                    p.dims
                )));
            }
            let sizes: Vec<usize> = p
                .data
                .iter()
                .map(|&v| usize::try_from(v))
                .collect::<std::result::Result<_, _>>()
                .map_err(|_| {
                    c.fail(format!(
                        "paddings {} hold a negative value: {:?}",
                        c.t.label(ti),
                        p.data
                    ))
                })?;
            one(Op::Pad {
                begin: sizes.iter().step_by(2).copied().collect(),
                end: sizes.iter().skip(1).step_by(2).copied().collect(),
                value: 0.0,
            })
        }
        builtin::ADD | builtin::SUB | builtin::MUL | builtin::DIV => {
            let bin = match c.code {
                builtin::ADD => BinOp::Add,
                builtin::SUB => BinOp::Sub,
                builtin::MUL => BinOp::Mul,
                _ => BinOp::Div,
            };
            let act = match opts {
                BuiltinOptions::Arithmetic(o) => o.fused_activation_function(),
                _ => activation::NONE,
            };
            let (a, b) = (c.required(0, "operand")?, c.required(1, "operand")?);
            let const_first = b == c.data;
            if !const_first && a != c.data {
                return Err(c.fail("the data path is neither operand"));
            }
            c.t.check_f32(c.data, &format!("{}: input", c.label()))?;
            let k = c.const_f32(if const_first { 0 } else { 1 }, "constant operand")?;
            let op = Op::Binary {
                op: bin,
                value: k.data,
                dims: k.dims,
                const_first,
            };
            with_activation(c, op, act)
        }
        builtin::RELU | builtin::RELU6 | builtin::RELU_N1_TO_1 => {
            c.data_first()?;
            let act = match c.code {
                builtin::RELU => activation::RELU,
                builtin::RELU6 => activation::RELU6,
                _ => activation::RELU_N1_TO_1,
            };
            one(Op::Clamp(fused(act).expect("a known activation")))
        }
        // At the edges the chain lowering takes them (`lower`); inside, a requantization.
        builtin::QUANTIZE | builtin::DEQUANTIZE => unsupported(format!(
            "{} inside the network (a requantization or a float section) is not supported: \
             only at the input and the output",
            c.name
        )),
        _ => unsupported(format!("{} is not supported by the TFLite import", c.name)),
    }
}

/// `op`, then a Clamp node for its fused activation unless that is NONE.
fn with_activation(c: &OpCtx, op: Op, act: i8) -> Result<Vec<Node>> {
    match fused(act) {
        Ok(clamp) if clamp == Clamp::NONE => Ok(vec![c.node(op)]),
        Ok(clamp) => Ok(vec![c.node(op), c.node(Op::Clamp(clamp))]),
        Err(why) => Ok(vec![c.node(Op::Unsupported(why))]),
    }
}
