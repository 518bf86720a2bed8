//! ONNX QDQ export of a [`Q8Network`]: the quantized network as an opset-13 ONNX model
//! that ONNX Runtime (and any ONNX runtime) runs, and whose integer semantics are what
//! sepconv runs for it.
//!
//! The graph, per layer: `DequantizeLinear` of the s8 weights (per output channel, axis 0,
//! zero points 0) and of the i32 bias (scale `s_in * s_w[c]`), `Conv` (group = channels for
//! a depthwise layer, the layer's pads and strides), the layer's activation as written
//! (`Relu`, or `Clip(0, 6)` for ReLU6), then `QuantizeLinear` / `DequantizeLinear` of the
//! u8 output (per tensor). The input is quantized the same way (after a `Transpose` to NCHW
//! when the model takes NHWC); then `GlobalAveragePool` with its own Q/DQ, `Flatten` and a
//! `Gemm` classifier on the dequantized s8 weights and i32 bias (f32 logits), and `Softmax`
//! if the network has one.
//!
//! The activations are kept as nodes (so that an importer reads the network's own
//! activations back) although the quantization makes them redundant: the quantizer widens
//! every range to hold 0 (ReLU's zero point is 0) and keeps `255 * scale` at or below 6
//! after a ReLU6, which is when ONNX Runtime's graph optimizer removes a `Relu` or `Clip`
//! before a `QuantizeLinear`; it then fuses each DQ-Conv-Q into `QLinearConv`, whose
//! requantization (`s_in * s_w / s_out` in f32, the accumulator times it, rounded to
//! nearest even, plus the zero point, saturated) is sepconv's.
//!
//! What QDQ cannot say is refused with an error naming the layer: a clamp other than the
//! activation's on the output's u8 range, or a requantization scale that is not
//! `s_in * s_w[c] / s_out` as f32 computes it (a runtime recomputes it from the file).

use super::proto as pb;
use crate::activation::Activation;
use crate::io::graph::Layout;
use crate::net::q8::{activation_bounds, Q8Network};
use crate::net::LayerKind;
use crate::quant::{OutQ, QParams};
use crate::{Error, Result};
use prost::Message;

/// The opset the file imports: QuantizeLinear / DequantizeLinear 13 take a per-channel
/// axis, and ONNX Runtime's Clip and Relu removal before a QuantizeLinear matches these
/// versions.
pub const QDQ_OPSET: i64 = 13;

/// How the file's input and output look: the source model's names and input layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QdqIo {
    pub input_name: String,
    pub output_name: String,
    /// NHWC adds a Transpose to NCHW first (and back at the end for a feature-map
    /// output).
    pub input_layout: Layout,
}

impl Default for QdqIo {
    fn default() -> Self {
        QdqIo {
            input_name: "input".into(),
            output_name: "output".into(),
            input_layout: Layout::Nchw,
        }
    }
}

fn err(what: impl std::fmt::Display) -> Error {
    Error::Model(format!("ONNX QDQ export: {what}"))
}

/// The builder's graph so far.
struct Builder {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
}

fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        r#type: Some(pb::attribute_proto::AttributeType::Int as i32),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: Some(name.into()),
        r#type: Some(pb::attribute_proto::AttributeType::Ints as i32),
        ints: v.to_vec(),
        ..Default::default()
    }
}

use pb::tensor_proto::DataType;

impl Builder {
    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        output: &str,
        attrs: Vec<pb::AttributeProto>,
    ) -> String {
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: Some(name.to_string()),
            op_type: Some(op.to_string()),
            attribute: attrs,
            ..Default::default()
        });
        output.to_string()
    }

    fn init(&mut self, name: &str, dt: DataType, dims: &[usize], raw: Vec<u8>) -> String {
        self.inits.push(pb::TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(dt as i32),
            name: Some(name.to_string()),
            raw_data: Some(raw),
            ..Default::default()
        });
        name.to_string()
    }

    fn f32s(&mut self, name: &str, dims: &[usize], v: &[f32]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(name, DataType::Float, dims, raw)
    }

    fn i32s(&mut self, name: &str, dims: &[usize], v: &[i32]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(name, DataType::Int32, dims, raw)
    }

    fn i8s(&mut self, name: &str, dims: &[usize], v: &[i8]) -> String {
        let raw = v.iter().map(|&x| x as u8).collect();
        self.init(name, DataType::Int8, dims, raw)
    }

    /// Q then DQ of `x` with the per-tensor u8 parameters `q`: returns the DQ output.
    fn qdq(&mut self, x: &str, name: &str, q: QParams) -> String {
        let s = self.f32s(&format!("{name}.scale"), &[], &[q.scale]);
        let zp = self.init(
            &format!("{name}.zero_point"),
            DataType::Uint8,
            &[],
            vec![q.zero_point as u8],
        );
        let xq = self.node(
            "QuantizeLinear",
            &format!("{name}.quantize"),
            &[x, &s, &zp],
            &format!("{name}.q"),
            vec![],
        );
        self.node(
            "DequantizeLinear",
            &format!("{name}.dequantize"),
            &[&xq, &s, &zp],
            &format!("{name}.dq"),
            vec![],
        )
    }

    /// DQ of per-channel (axis 0) s8 weights and of the i32 bias at `bias_scale`: returns
    /// (weights, bias).
    fn weights(
        &mut self,
        name: &str,
        dims: &[usize],
        w: &[i8],
        w_scale: &[f32],
        bias: &[i32],
        bias_scale: &[f32],
    ) -> (String, String) {
        let c = w_scale.len();
        let wq = self.i8s(&format!("{name}.weight_q"), dims, w);
        let ws = self.f32s(&format!("{name}.weight_scale"), &[c], w_scale);
        let wz = self.i8s(&format!("{name}.weight_zero_point"), &[c], &vec![0; c]);
        let wd = self.node(
            "DequantizeLinear",
            &format!("{name}.weight_dequantize"),
            &[&wq, &ws, &wz],
            &format!("{name}.weight"),
            vec![attr_int("axis", 0)],
        );
        let bq = self.i32s(&format!("{name}.bias_q"), &[c], bias);
        let bs = self.f32s(&format!("{name}.bias_scale"), &[c], bias_scale);
        let bz = self.i32s(&format!("{name}.bias_zero_point"), &[c], &vec![0; c]);
        let bd = self.node(
            "DequantizeLinear",
            &format!("{name}.bias_dequantize"),
            &[&bq, &bs, &bz],
            &format!("{name}.bias"),
            vec![attr_int("axis", 0)],
        );
        (wd, bd)
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    pb::ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(match d {
                                Some(v) => Value::DimValue(*v as i64),
                                None => Value::DimParam("N".into()),
                            }),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The weight scale `s` of the classifier's channel with accumulator scale `scale` on an
/// input of scale `s_in`: an f32 with `s_in * s == scale` exactly, so that a runtime
/// computing the product from the file gets `scale` back.
fn factor(scale: f32, s_in: f32) -> Option<f32> {
    let mut s = scale / s_in;
    for _ in 0..4 {
        s = s.next_down();
    }
    (0..9).find_map(|_| {
        let hit = (s_in * s == scale).then_some(s);
        s = s.next_up();
        hit
    })
}

/// Checks what the file cannot express; the error names the layer.
fn check(q: &Q8Network) -> Result<()> {
    q.validate()?;
    let net = &q.network;
    for (l, ql) in net.layers.iter().zip(&q.layers) {
        let name = &l.spec.name;
        if ql.out != activation_bounds(l.activation, ql.output) {
            return Err(err(format!(
                "layer {name}: output clamp {}..={} is not what {:?} gives on the output's \
                 quantization ({}..={}); QDQ has no way to say it",
                ql.out.lo,
                ql.out.hi,
                l.activation,
                activation_bounds(l.activation, ql.output).lo,
                activation_bounds(l.activation, ql.output).hi
            )));
        }
        for (c, (&s, &sw)) in ql.scale.iter().zip(&ql.weight_scale).enumerate() {
            let implied = ql.input.scale * sw / ql.output.scale;
            if s.to_bits() != implied.to_bits() {
                return Err(err(format!(
                    "layer {name}: channel {c}'s requantization scale {s:e} is not \
                     s_in * s_w / s_out = {implied:e}, which a runtime computes from the file"
                )));
            }
        }
    }
    if let Some(p) = &q.pool {
        let (h, w, _) = net.features();
        let implied = p.input.scale / (p.output.scale * (h * w) as f32);
        if p.out != OutQ::full(p.output.zero_point) || p.scale.to_bits() != implied.to_bits() {
            return Err(err(
                "pool: a clamp or a scale other than s_in / (s_out * h * w)",
            ));
        }
    }
    if let Some(fc) = &q.fc {
        if let Some(c) = fc
            .scale
            .iter()
            .position(|&s| factor(s, fc.input.scale).is_none())
        {
            return Err(err(format!(
                "classifier: channel {c}'s scale {:e} is no f32 product of the input scale \
                 {:e} and a weight scale",
                fc.scale[c], fc.input.scale
            )));
        }
    }
    Ok(())
}

/// `q` as ONNX QDQ model bytes (deterministic: the same network gives the same bytes).
pub fn write_qdq(q: &Q8Network, io: &QdqIo) -> Result<Vec<u8>> {
    check(q)?;
    let net = &q.network;
    let mut names: Vec<&str> = net.layers.iter().map(|l| l.spec.name.as_str()).collect();
    names.sort_unstable();
    let unique = names.windows(2).all(|w| w[0] != w[1])
        && !names
            .iter()
            .any(|n| n.is_empty() || ["input", "pool", "fc"].contains(n));
    let mut b = Builder {
        nodes: Vec::new(),
        inits: Vec::new(),
    };
    let nhwc = io.input_layout == Layout::Nhwc;
    let mut x = io.input_name.clone();
    if nhwc {
        x = b.node(
            "Transpose",
            "input.to_nchw",
            &[&x],
            "input.nchw",
            vec![attr_ints("perm", &[0, 3, 1, 2])],
        );
    }
    x = b.qdq(&x, "input", q.input);
    let mut relu6_bounds: Option<(String, String)> = None;
    for (i, (l, ql)) in net.layers.iter().zip(&q.layers).enumerate() {
        let s = &l.spec;
        let name = if unique {
            s.name.clone()
        } else {
            format!("layer{i}")
        };
        let (k, group, in_per_group) = match s.kind {
            LayerKind::Conv0 => (3, 1, s.in_c),
            LayerKind::Depthwise => (3, s.in_c, 1),
            LayerKind::Pointwise => (1, 1, s.in_c),
        };
        // OHWI -> OIHW (the same order for depthwise and pointwise).
        let mut w = vec![0i8; ql.weights.len()];
        for o in 0..s.out_c {
            for y in 0..k {
                for xx in 0..k {
                    for c in 0..in_per_group {
                        w[((o * in_per_group + c) * k + y) * k + xx] =
                            ql.weights[((o * k + y) * k + xx) * in_per_group + c];
                    }
                }
            }
        }
        let bias_scale: Vec<f32> = ql
            .weight_scale
            .iter()
            .map(|sw| ql.input.scale * sw)
            .collect();
        let (wd, bd) = b.weights(
            &name,
            &[s.out_c, in_per_group, k, k],
            &w,
            &ql.weight_scale,
            &ql.bias,
            &bias_scale,
        );
        let p = s.padding;
        let mut y = b.node(
            "Conv",
            &format!("{name}.conv"),
            &[&x, &wd, &bd],
            &format!("{name}.conv"),
            vec![
                attr_ints("kernel_shape", &[k as i64, k as i64]),
                attr_ints("strides", &[s.stride as i64, s.stride as i64]),
                attr_ints(
                    "pads",
                    &[p.top, p.left, p.bottom, p.right].map(|v| v as i64),
                ),
                attr_ints("dilations", &[1, 1]),
                attr_int("group", group as i64),
            ],
        );
        match l.activation {
            Activation::None => {}
            Activation::Relu => {
                y = b.node(
                    "Relu",
                    &format!("{name}.relu"),
                    &[&y],
                    &format!("{name}.relu"),
                    vec![],
                );
            }
            Activation::Relu6 => {
                let (lo, hi) = relu6_bounds
                    .get_or_insert_with(|| {
                        (
                            b.f32s("relu6.min", &[], &[0.0]),
                            b.f32s("relu6.max", &[], &[6.0]),
                        )
                    })
                    .clone();
                y = b.node(
                    "Clip",
                    &format!("{name}.relu6"),
                    &[&y, &lo, &hi],
                    &format!("{name}.relu6"),
                    vec![],
                );
            }
        }
        x = b.qdq(&y, &name, ql.output);
    }
    if let Some(p) = &q.pool {
        let y = b.node("GlobalAveragePool", "pool", &[&x], "pool", vec![]);
        let y = b.qdq(&y, "pool", p.output);
        x = b.node(
            "Flatten",
            "flatten",
            &[&y],
            "flatten",
            vec![attr_int("axis", 1)],
        );
    } else if nhwc {
        x = b.node(
            "Transpose",
            "output.to_nhwc",
            &[&x],
            "output.nhwc",
            vec![attr_ints("perm", &[0, 2, 3, 1])],
        );
    }
    if let Some(fc) = &q.fc {
        let s_w: Vec<f32> = fc
            .scale
            .iter()
            .map(|&s| factor(s, fc.input.scale).expect("checked"))
            .collect();
        let k = fc.bias.len();
        let features = net.features().2;
        let (wd, bd) = b.weights("fc", &[k, features], &fc.weights, &s_w, &fc.bias, &fc.scale);
        x = b.node(
            "Gemm",
            "fc",
            &[&x, &wd, &bd],
            "fc",
            vec![attr_int("transB", 1)],
        );
    }
    if net.head.softmax {
        x = b.node(
            "Softmax",
            "softmax",
            &[&x],
            "softmax",
            vec![attr_int("axis", 1)],
        );
    }
    // The last node writes the graph's output.
    let last = b.nodes.last_mut().ok_or_else(|| err("no nodes"))?;
    last.output[0].clone_from(&io.output_name);
    let _ = x;

    let (h, w, c) = (net.in_h, net.in_w, net.in_c);
    let input_dims = if nhwc {
        [None, Some(h), Some(w), Some(c)]
    } else {
        [None, Some(c), Some(h), Some(w)]
    };
    let mut output_dims = vec![None];
    match (net.head.pool, net.features()) {
        (true, _) => output_dims.push(Some(net.output_len())),
        (false, (fh, fw, fc)) if nhwc => output_dims.extend([Some(fh), Some(fw), Some(fc)]),
        (false, (fh, fw, fc)) => output_dims.extend([Some(fc), Some(fh), Some(fw)]),
    }
    let model = pb::ModelProto {
        ir_version: Some(7),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(QDQ_OPSET),
        }],
        producer_name: Some("sepconv quantize".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(pb::GraphProto {
            node: b.nodes,
            name: Some("sepconv_q8".into()),
            initializer: b.inits,
            input: vec![value_info(&io.input_name, &input_dims)],
            output: vec![value_info(&io.output_name, &output_dims)],
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}
