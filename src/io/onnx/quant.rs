//! Quantization parameters as ONNX states them: the scale and zero point inputs of
//! QuantizeLinear / DequantizeLinear (per tensor, or per channel along `axis`) and of the
//! QLinear ops, checked with errors naming the tensor; quantized constants (a
//! DequantizeLinear of an integer initializer) dequantized for the f32 path and turned
//! into s8 weights and i32 biases for the int8 one.

use super::graph::{err, label, Attrs, Data, Graph, IntConst, IntType};
use super::proto as pb;
use crate::quant::QParams;
use crate::Result;

/// The scale and zero point a node gives a tensor.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QuantParams {
    pub scale: Vec<f32>,
    /// As many as `scale`.
    pub zero_point: Vec<i32>,
    /// The quantized tensor's type (the zero point's, or the data's without one).
    pub ty: IntType,
    /// The axis of per-channel parameters; `None` per tensor.
    pub axis: Option<usize>,
    /// The scale tensor's name, and the zero point's (empty without one), for errors.
    pub scale_name: String,
    pub zp_name: String,
}

/// A quantized constant and its parameters.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct QuantConst {
    pub name: String,
    pub values: IntConst,
    pub params: QuantParams,
}

impl QuantConst {
    /// The parameter index of element `i`.
    fn channel(&self, i: usize) -> usize {
        match self.params.axis {
            None => 0,
            Some(a) => {
                let inner: usize = self.values.dims[a + 1..].iter().product();
                (i / inner) % self.values.dims[a]
            }
        }
    }

    /// The real values, `(q - zp) * scale` in f32 (DequantizeLinear's arithmetic).
    pub fn real(&self) -> Vec<f32> {
        let p = &self.params;
        self.values
            .values
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = self.channel(i);
                (q.wrapping_sub(p.zero_point[c])) as f32 * p.scale[c]
            })
            .collect()
    }

    /// The weights as s8 (`q - zp`, in the file's order) and one scale per output
    /// channel, the channels along `out_axis`; an error if the parameters are per channel
    /// along another axis or a weight minus its zero point does not fit int8.
    pub fn s8_weights(&self, out_axis: usize) -> Result<(Vec<i8>, Vec<f32>)> {
        let p = &self.params;
        if let Some(a) = p.axis.filter(|&a| a != out_axis) {
            return Err(err(format!(
                "tensor '{}': per-channel quantization along axis {a} of weight '{}' (dims \
                 {:?}), expected the output channel axis {out_axis}",
                p.scale_name, self.name, self.values.dims
            )));
        }
        let weights = self
            .values
            .values
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let zp = p.zero_point[self.channel(i)];
                i8::try_from(i64::from(q) - i64::from(zp)).map_err(|_| {
                    err(format!(
                        "weight '{}': value {q} minus zero point {zp} does not fit int8 \
                         (sepconv's weights are symmetric s8)",
                        self.name
                    ))
                })
            })
            .collect::<Result<Vec<i8>>>()?;
        let out_c = self.values.dims[out_axis];
        let scale = match p.axis {
            None => vec![p.scale[0]; out_c],
            Some(_) => p.scale.clone(),
        };
        Ok((weights, scale))
    }
}

/// Whether two scales are the same up to the rounding of an f32 product computed another
/// way (quantizers compute a bias scale `s_in * s_w` in f64 or f32).
fn same_scale(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs())
}

/// The i32 bias of a quantized layer in units of `s_in * w_scale[c]`: a DequantizeLinear
/// of int32 integers (zero point 0) taken as is when its scale is that product, else
/// rescaled; a float bias quantized as ONNX Runtime does (`round_half_even(b / (s_in *
/// s_w))`, its BiasQuantization transformer); zeros without a bias.
pub(crate) fn i32_bias(
    g: &Graph,
    node: &pb::NodeProto,
    index: usize,
    s_in: f32,
    w_scale: &[f32],
) -> Result<Vec<i32>> {
    let n = w_scale.len();
    let Some(name) = node.input.get(index).filter(|s| !s.is_empty()) else {
        return Ok(vec![0; n]);
    };
    let quantize = |b: f32, s: f32| {
        let v = (b / s).round_ties_even();
        v.clamp(i32::MIN as f32, i32::MAX as f32) as i32
    };
    let bad_len = |len: usize| {
        err(format!(
            "{}: bias '{name}' has {len} values for {n} outputs",
            label(node)
        ))
    };
    if let Some(dq) = g.dequantized(name) {
        let q = g.dequantize_const(dq)?;
        if q.values.values.len() != n {
            return Err(bad_len(q.values.values.len()));
        }
        if q.params.zero_point.iter().any(|&z| z != 0) {
            return Err(err(format!(
                "tensor '{}': the zero point of bias '{name}' must be 0",
                q.params.zp_name
            )));
        }
        let real = q.real();
        return Ok((0..n)
            .map(|c| {
                let s = s_in * w_scale[c];
                let sb = q.params.scale[q.channel(c)];
                if q.values.ty == IntType::I32 && same_scale(sb, s) {
                    q.values.values[c]
                } else {
                    quantize(real[c], s)
                }
            })
            .collect());
    }
    match g.constant(node, name)?.data {
        // QLinearConv's bias: int32 at `x_scale * w_scale` by definition.
        Data::I64(v) if node.op_type().starts_with("QLinear") => {
            if v.len() != n {
                return Err(bad_len(v.len()));
            }
            v.iter()
                .map(|&b| {
                    i32::try_from(b).map_err(|_| {
                        err(format!(
                            "{}: bias '{name}' value {b} is not int32",
                            label(node)
                        ))
                    })
                })
                .collect()
        }
        Data::I64(_) => Err(err(format!(
            "{}: bias '{name}' is an integer tensor without DequantizeLinear",
            label(node)
        ))),
        Data::F32(b) => {
            if b.len() != n {
                return Err(bad_len(b.len()));
            }
            Ok((0..n).map(|c| quantize(b[c], s_in * w_scale[c])).collect())
        }
    }
}

impl<'a> Graph<'a> {
    /// The parameters `node` states in its inputs `scale_index` and `zp_index`: scales
    /// finite and positive, as many zero points, per channel along `axis` (negative counts
    /// from the end of `rank` dims) when there is more than one. `data_ty` is the type
    /// without a zero point (uint8 if unknown, as QuantizeLinear's default).
    pub fn quant_params(
        &self,
        node: &pb::NodeProto,
        scale_index: usize,
        zp_index: usize,
        axis: i64,
        data_ty: Option<IntType>,
        rank: Option<usize>,
    ) -> Result<QuantParams> {
        let Some(scale_name) = node.input.get(scale_index).filter(|s| !s.is_empty()) else {
            return Err(err(format!(
                "{}: no scale (input {scale_index})",
                label(node)
            )));
        };
        let c = self.constant(node, scale_name)?;
        let Data::F32(scale) = c.data else {
            return Err(err(format!(
                "tensor '{scale_name}': a quantization scale must be float, not integer"
            )));
        };
        if scale.is_empty() || c.dims.len() > 1 {
            return Err(err(format!(
                "tensor '{scale_name}': a quantization scale has dims {:?} (a scalar, or one \
                 per channel)",
                c.dims
            )));
        }
        if let Some((i, s)) = scale
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            return Err(err(format!(
                "tensor '{scale_name}': quantization scale {s} (element {i}) must be finite \
                 and positive"
            )));
        }
        let zp_name = node
            .input
            .get(zp_index)
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_default();
        let (zero_point, ty) = if zp_name.is_empty() {
            (vec![0; scale.len()], data_ty.unwrap_or(IntType::U8))
        } else {
            let z = self.int_constant(node, &zp_name)?;
            if z.values.len() != scale.len() {
                return Err(err(format!(
                    "tensor '{zp_name}': {} zero points for the {} scales of '{scale_name}'",
                    z.values.len(),
                    scale.len()
                )));
            }
            (z.values, z.ty)
        };
        let axis = if scale.len() > 1 {
            let Some(rank) = rank else {
                return Err(err(format!(
                    "{}: per-channel quantization ('{scale_name}' has {} scales) of an \
                     activation is not supported (one scale and zero point per tensor)",
                    label(node),
                    scale.len()
                )));
            };
            let a = if axis < 0 { axis + rank as i64 } else { axis };
            Some(
                usize::try_from(a)
                    .ok()
                    .filter(|&a| a < rank)
                    .ok_or_else(|| {
                        err(format!(
                            "{}: per-channel axis {axis} is outside the {rank} dims of the \
                             quantized tensor",
                            label(node)
                        ))
                    })?,
            )
        } else {
            None
        };
        Ok(QuantParams {
            scale,
            zero_point,
            ty,
            axis,
            scale_name: scale_name.clone(),
            zp_name,
        })
    }

    /// The quantized constant a DequantizeLinear of an initializer reads, its parameters
    /// checked against its dims.
    pub fn dequantize_const(&self, dq: &pb::NodeProto) -> Result<QuantConst> {
        let attrs = Attrs::new(dq, &["axis", "block_size"])?;
        if attrs.int("block_size", 0)? != 0 {
            return Err(err(format!(
                "{}: blocked quantization is not supported",
                label(dq)
            )));
        }
        let name = &dq.input[0];
        let values = self.int_constant(dq, name)?;
        let params = self.quant_params(
            dq,
            1,
            2,
            attrs.int("axis", 1)?,
            Some(values.ty),
            Some(values.dims.len()),
        )?;
        self.check_const_params(dq, name, &values, &params)?;
        Ok(QuantConst {
            name: name.clone(),
            values,
            params,
        })
    }

    /// A QLinear op's integer weight (input `index`) with its scale and zero point (the
    /// next two inputs), per channel along axis 0.
    pub fn qlinear_weight(
        &self,
        node: &pb::NodeProto,
        index: usize,
        axis: i64,
    ) -> Result<QuantConst> {
        let Some(name) = node.input.get(index).filter(|s| !s.is_empty()) else {
            return Err(err(format!("{}: no weight input {index}", label(node))));
        };
        let values = self.int_constant(node, name)?;
        let params = self.quant_params(
            node,
            index + 1,
            index + 2,
            axis,
            Some(values.ty),
            Some(values.dims.len()),
        )?;
        self.check_const_params(node, name, &values, &params)?;
        Ok(QuantConst {
            name: name.clone(),
            values,
            params,
        })
    }

    fn check_const_params(
        &self,
        node: &pb::NodeProto,
        name: &str,
        values: &IntConst,
        p: &QuantParams,
    ) -> Result<()> {
        if p.ty != values.ty {
            return Err(err(format!(
                "tensor '{}': zero point of type {} for '{name}' of type {}",
                p.zp_name,
                p.ty.name(),
                values.ty.name()
            )));
        }
        if let Some(a) = p.axis {
            if values.dims[a] != p.scale.len() {
                return Err(err(format!(
                    "{}: {} scales in '{}' for the {} channels of axis {a} of '{name}' (dims \
                     {:?})",
                    label(node),
                    p.scale.len(),
                    p.scale_name,
                    values.dims[a],
                    values.dims
                )));
            }
        }
        Ok(())
    }

    /// The per-tensor u8-grid quantization of an activation that a QuantizeLinear or
    /// DequantizeLinear on the data path states (inputs 1 and 2; an int8 zero point plus
    /// 128).
    pub fn activation_q(&self, node: &pb::NodeProto) -> Result<QParams> {
        let attrs = Attrs::new(node, &["axis", "saturate", "block_size", "output_dtype"])?;
        if attrs.int("block_size", 0)? != 0 || attrs.int("output_dtype", 0)? != 0 {
            return Err(err(format!(
                "{}: block_size and output_dtype are not supported",
                label(node)
            )));
        }
        self.qlinear_q(node, 1, 2)
    }

    /// The per-tensor u8-grid quantization in inputs `scale_index`, `zp_index` of `node`.
    pub fn qlinear_q(
        &self,
        node: &pb::NodeProto,
        scale_index: usize,
        zp_index: usize,
    ) -> Result<QParams> {
        let p = self.quant_params(node, scale_index, zp_index, 1, None, None)?;
        let shift = match p.ty {
            IntType::U8 => 0,
            IntType::S8 => 128,
            IntType::I32 => {
                return Err(err(format!(
                    "tensor '{}': int32 activations are not supported (uint8 or int8)",
                    p.zp_name
                )))
            }
        };
        QParams::new(
            p.scale[0],
            p.zero_point[0] + shift,
            &format!("tensor '{}'", p.scale_name),
        )
        .map_err(|e| match e {
            crate::Error::Model(m) => err(m),
            e => e,
        })
    }
}
