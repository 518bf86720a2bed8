//! The head after the last convolution: the global average pool, reshapes, and the
//! classifier (Gemm, MatMul + Add, or a 1x1 Conv).

use super::graph::{err, label, Attrs};
use super::proto as pb;
use super::Const;
use super::{f32s, usize_list, Classifier, Importer, Pads};
use crate::geometry::Padding;
use crate::Result;

impl<'a> Importer<'a> {
    pub(super) fn reduce_mean(&self, node: &pb::NodeProto, nhwc: bool) -> Result<()> {
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

    /// An AveragePool's kernel (height, width), refusing padding, dilation and ceil mode.
    pub(super) fn average_pool(&self, node: &pb::NodeProto) -> Result<(usize, usize)> {
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
        let kernel = attrs
            .ints("kernel_shape")?
            .ok_or_else(|| err(format!("{}: no kernel_shape", label(node))))?;
        let unpadded = attrs
            .ints("pads")?
            .is_none_or(|p| p.iter().all(|&x| x == 0))
            && matches!(
                attrs.string("auto_pad")?.as_deref(),
                None | Some("NOTSET" | "VALID")
            );
        let plain = attrs.int("ceil_mode", 0)? == 0
            && attrs
                .ints("dilations")?
                .is_none_or(|d| d.iter().all(|&x| x == 1));
        match usize_list(node, "kernel_shape", &kernel)?.as_slice() {
            &[h, w] if unpadded && plain => Ok((h, w)),
            _ => Err(err(format!(
                "{}: only an unpadded 2-D AveragePool over the whole feature map is supported",
                label(node)
            ))),
        }
    }

    /// Flatten / Reshape / Squeeze in the head: only dropping the 1x1 spatial dims.
    pub(super) fn reshape(&self, node: &pb::NodeProto) -> Result<()> {
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

    pub(super) fn bias_input(&self, node: &pb::NodeProto, classes: usize) -> Result<Vec<f32>> {
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

    pub(super) fn classifier(&self, node: &'a pb::NodeProto) -> Result<Classifier<'a>> {
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
