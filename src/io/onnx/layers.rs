//! The convolutions of the chain and what follows each: Pad, Conv, BatchNormalization, and
//! the activation (Relu or Clip).

use super::graph::{err, label, Attrs};
use super::proto as pb;
use super::{f32s, usize_list, FoundConv, Importer, Pads};
use crate::activation::Activation;
use crate::geometry::Padding;
use crate::net::BatchNormParams;
use crate::Result;

impl<'a> Importer<'a> {
    pub(super) fn conv(&self, node: &'a pb::NodeProto) -> Result<FoundConv<'a>> {
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
    pub(super) fn pad(&self, node: &pb::NodeProto) -> Result<Padding> {
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

    pub(super) fn batch_norm(&self, node: &pb::NodeProto) -> Result<BatchNormParams> {
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

    pub(super) fn activation(&self, node: &pb::NodeProto) -> Result<Activation> {
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
}
