//! TFLite lowering (`io::tflite::lower_tflite`): the real MobileNet V1 fixture
//! (tests/fixtures/tflite, float32 from the TFLite converter) and tiny models built here
//! (tests/tflite/builder.rs) for every refusal, each error naming the operator or tensor.

#[path = "tflite/builder.rs"]
mod builder;

use builder::{Operator, Options, Tensor};
use sepconv::io::graph::{BinOp, Conv, Dense, Dim, Graph, Layout, Op, Pads};
use sepconv::io::tflite::{import_tflite, lower_tflite, schema};
use sepconv::Clamp;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tflite")
        .join(name)
}

fn real_model() -> Vec<u8> {
    let p = fixture("mbv1_a0.25_r128.tflite");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn lower(m: &builder::Model) -> Graph {
    lower_tflite(&m.build()).unwrap_or_else(|e| panic!("{e}"))
}

/// The error of lowering `m`, which must fail.
fn error(m: &builder::Model) -> String {
    match lower_tflite(&m.build()) {
        Ok(g) => panic!("lowered: {:#?}", g.nodes),
        Err(e) => e.to_string(),
    }
}

fn assert_has(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} should contain {p:?}");
    }
}

fn conv(op: &Op) -> &Conv {
    match op {
        Op::Conv(c) => c,
        other => panic!("not a Conv: {other:?}"),
    }
}

fn le_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The raw values of the constant named `name`, read straight from its buffer.
fn raw_tensor(bytes: &[u8], name: &str) -> (Vec<i32>, Vec<f32>) {
    let m = schema::root(bytes).unwrap();
    let sg = m.subgraphs().unwrap().get(0);
    let t = sg
        .tensors()
        .unwrap()
        .iter()
        .find(|t| t.name() == Some(name))
        .unwrap_or_else(|| panic!("no tensor {name}"));
    let data = m
        .buffers()
        .unwrap()
        .get(t.buffer() as usize)
        .data()
        .unwrap();
    (t.shape().unwrap().iter().collect(), le_f32(data.bytes()))
}

/// Where `needle` (4 bytes per value) starts in `hay`, if anywhere.
fn find_bytes(hay: &[u8], values: &[f32]) -> Option<usize> {
    let needle: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn real_mobilenet_lowers_to_the_expected_chain() {
    let bytes = real_model();
    let g = lower_tflite(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(g.format, "TFLite");
    assert_eq!(g.input_name, "serving_default_input:0");
    assert_eq!(
        g.input_dims,
        [1, 128, 128, 3].map(Dim::Fixed).to_vec(),
        "input dims"
    );
    assert_eq!(g.input_layout, Layout::Nhwc);
    assert_eq!(g.input_hwc().unwrap(), (128, 128, 3));
    // The logits; the file's second output, their Softmax, is left out.
    assert_eq!(g.output_name, "PartitionedCall:0");

    let ops: Vec<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
    let mut expected = vec!["CONV_2D"];
    for _ in 0..13 {
        expected.extend(["DEPTHWISE_CONV_2D", "CONV_2D"]);
    }
    expected.extend(["AVERAGE_POOL_2D", "FULLY_CONNECTED"]);
    assert_eq!(ops, expected);

    // Channels of MobileNet V1 at alpha 0.25.
    let widths = [
        8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256,
    ];
    let strides = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1];
    let c0 = conv(&g.nodes[0].op);
    assert_eq!((c0.out_c, c0.kernel, c0.in_c_per_group), (8, (3, 3), 3));
    assert_eq!((c0.stride, c0.group, c0.pads), ((2, 2), 1, Pads::SameUpper));
    assert_eq!(c0.weights.len(), 8 * 3 * 3 * 3);
    for (i, pair) in g.nodes[1..27].chunks(2).enumerate() {
        let (dw, pw) = (conv(&pair[0].op), conv(&pair[1].op));
        let c = widths[i];
        assert_eq!(
            (dw.out_c, dw.group, dw.in_c_per_group, dw.kernel),
            (c, c, 1, (3, 3)),
            "depthwise {i}"
        );
        assert_eq!(dw.stride, (strides[i + 1], strides[i + 1]), "depthwise {i}");
        assert_eq!(dw.weights.len(), c * 9);
        assert_eq!(
            (pw.out_c, pw.kernel, pw.in_c_per_group, pw.group),
            (widths[i + 1], (1, 1), c, 1),
            "pointwise {i}"
        );
        assert_eq!(pw.weights.len(), widths[i + 1] * c);
        for cv in [dw, pw] {
            assert_eq!(cv.dilation, (1, 1));
            assert_eq!(cv.pads, Pads::SameUpper);
            assert_eq!(cv.clamp, Clamp::new(0.0, f32::INFINITY).unwrap());
            assert_eq!(cv.bias.len(), cv.out_c);
        }
    }
    match &g.nodes[27].op {
        Op::AveragePool {
            kernel,
            stride,
            pads,
            count_include_pad,
        } => {
            assert_eq!((*kernel, *stride), ((4, 4), (1, 1)));
            assert_eq!(*pads, Pads::Explicit(sepconv::Padding::new(0, 0, 0, 0)));
            assert!(!count_include_pad);
        }
        other => panic!("{other:?}"),
    }
    let Op::Dense(Dense {
        weights,
        inputs,
        outputs,
        bias,
        clamp,
        quant: None,
    }) = &g.nodes[28].op
    else {
        panic!("{:?}", g.nodes[28].op)
    };
    assert_eq!((*inputs, *outputs, bias.len()), (256, 1000, 1000));
    assert_eq!(*clamp, Clamp::NONE);

    // Weights are the file's bytes: OHWI convolutions and [out][in] dense as they are...
    let at = find_bytes(&bytes, &c0.weights).expect("conv0 weights in the file");
    assert_eq!(le_f32(&bytes[at..at + 864]), c0.weights);
    assert!(find_bytes(&bytes, &weights[..64]).is_some());
    let (shape, raw) = raw_tensor(&bytes, "MatMul");
    assert_eq!((shape, &raw), (vec![1000, 256], weights));
    let (_, raw_bias) = raw_tensor(&bytes, "BiasAdd_27");
    assert_eq!(&raw_bias, bias);
    // ...and depthwise [1][h][w][c] transposed to [c][h][w][1].
    let (shape, raw) = raw_tensor(&bytes, "depthwise");
    assert_eq!(shape, [1, 3, 3, 8]);
    let dw0 = conv(&g.nodes[1].op);
    for c in 0..8 {
        for hw in 0..9 {
            assert_eq!(dw0.weights[c * 9 + hw], raw[hw * 8 + c], "c {c} hw {hw}");
        }
    }
    let (_, raw) = raw_tensor(&bytes, "Relu_1;BiasAdd_1;depthwise;Const_52");
    assert_eq!(dw0.bias, raw);
}

#[test]
fn real_mobilenet_imports_as_mobilenet_v1() {
    let m = import_tflite(&real_model()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m.input_layout, Layout::Nhwc);
    assert_eq!(m.output_name, "PartitionedCall:0");
    let c = m.network.as_mobilenet().expect("a MobileNet V1");
    assert_eq!((c.alpha, c.resolution, c.classes), (0.25, 128, 1000));
    assert_eq!(c.activation, sepconv::Activation::Relu);
    assert_eq!(c.padding, sepconv::PaddingStyle::TfSame);
    assert!(!c.softmax);
}

/// The .tflite and .onnx peer models share their weights: the reference forward pass of
/// the TFLite import matches ONNX Runtime's logits of the ONNX one.
#[test]
fn real_mobilenet_matches_onnx_runtime_logits() {
    let (config, weights) = import_tflite(&real_model())
        .and_then(|m| m.into_mobilenet())
        .unwrap_or_else(|e| panic!("{e}"));
    let x = sepconv::io::read_npy_file(fixture("mbv1_a0.25_r128_input_nhwc.npy")).unwrap();
    let d = x.shape.as_slice();
    let input =
        sepconv::Tensor::from_vec(sepconv::Shape::new(d[0], d[1], d[2], d[3]), x.data).unwrap();
    let got = sepconv::reference::mobilenet_v1_forward(&config, &weights, &input).unwrap();
    let want = sepconv::io::read_npy_file(fixture("mbv1_a0.25_r128_ort_logits.npy")).unwrap();
    assert_eq!(got.data.len(), want.data.len(), "logits {:?}", want.shape);
    let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let tol = 1e-4 + 1e-3 * scale;
    for (i, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "logit {i}: got {g}, ORT {w} (tol {tol})"
        );
    }
}

#[test]
fn load_functions_sniff_and_dispatch_tflite() {
    let bytes = real_model();
    assert_eq!(
        sepconv::io::sniff_format(&bytes).unwrap(),
        sepconv::io::ModelFormat::Tflite
    );
    let net = sepconv::io::load_network_bytes(&bytes).unwrap();
    assert_eq!(net.network.as_mobilenet().unwrap().resolution, 128);
    let (c, _) = sepconv::io::load_model_bytes(&bytes).unwrap();
    assert_eq!(c.alpha, 0.25);
    let (c, _) = sepconv::io::load_model(fixture("mbv1_a0.25_r128.tflite")).unwrap();
    assert_eq!(c.classes, 1000);
}

#[test]
fn fixture_input_is_an_nhwc_batch() {
    let a = sepconv::io::read_npy_file(fixture("mbv1_a0.25_r128_input_nhwc.npy")).unwrap();
    assert_eq!(a.shape, [1, 128, 128, 3]);
}

#[test]
fn tiny_model_lowers_every_op() {
    let m = builder::tiny();
    let g = lower(&m);
    assert_eq!(g.input_name, "input");
    assert_eq!(g.output_name, "logits");
    assert_eq!(g.input_dims, [1, 4, 4, 3].map(Dim::Fixed).to_vec());
    let names: Vec<(&str, &str)> = g
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.op_type.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("conv", "CONV_2D"),
            ("dw", "DEPTHWISE_CONV_2D"),
            ("mean", "MEAN"),
            ("logits", "FULLY_CONNECTED"),
        ]
    );
    let c = conv(&g.nodes[0].op);
    assert_eq!(c.weights, builder::values(6, 1));
    assert_eq!((c.out_c, c.in_c_per_group, c.group), (2, 3, 1));
    assert_eq!(c.bias, [0.5, -0.5]);
    assert_eq!(c.clamp, Clamp { min: 0.0, max: 6.0 });
    let d = conv(&g.nodes[1].op);
    let raw = builder::values(18, 2);
    let want: Vec<f32> = (0..2)
        .flat_map(|ch| (0..9).map(move |hw| (ch, hw)))
        .map(|(ch, hw)| raw[hw * 2 + ch])
        .collect();
    assert_eq!(d.weights, want);
    assert_eq!((d.out_c, d.group, d.stride), (2, 2, (2, 2)));
    assert_eq!(
        d.clamp,
        Clamp {
            min: 0.0,
            max: f32::INFINITY
        }
    );
    assert_eq!(
        g.nodes[2].op,
        Op::ReduceMean {
            axes: vec![1, 2],
            keepdims: false
        }
    );
    assert_eq!(
        g.nodes[3].op,
        Op::Dense(Dense {
            weights: builder::values(6, 3),
            inputs: 2,
            outputs: 3,
            bias: vec![1.0, 2.0, 3.0],
            clamp: Clamp::NONE,
            quant: None,
        })
    );
}

#[test]
fn softmax_as_the_output_is_lowered() {
    let mut m = builder::tiny();
    m.outputs = vec![12];
    let g = lower(&m);
    assert_eq!(g.output_name, "probs");
    assert_eq!(g.nodes.last().unwrap().op, Op::Softmax { axis: -1 });
    // beta other than 1 is left to the passes to refuse.
    m.operators[4].options = Options::Softmax { beta: 0.5 };
    let g = lower(&m);
    assert!(
        matches!(&g.nodes.last().unwrap().op, Op::Unsupported(why) if why.contains("beta 0.5"))
    );
}

#[test]
fn free_batch_from_shape_signature() {
    let mut m = builder::tiny();
    m.tensors[0].signature = Some(vec![-1, 4, 4, 3]);
    let g = lower(&m);
    assert_eq!(
        g.input_dims,
        vec![
            Dim::Symbolic("batch".into()),
            Dim::Fixed(4),
            Dim::Fixed(4),
            Dim::Fixed(3)
        ]
    );
    assert_eq!(g.input_hwc().unwrap(), (4, 4, 3));
}

#[test]
fn every_prefix_of_a_model_is_an_error() {
    let bytes = builder::tiny().build();
    assert!(lower_tflite(&bytes).is_ok());
    for n in 0..bytes.len() {
        assert!(lower_tflite(&bytes[..n]).is_err(), "prefix of {n} bytes");
    }
}

#[test]
fn mutated_models_never_panic() {
    let bytes = builder::tiny().build();
    for i in 0..bytes.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff, bytes[i] ^ 0x10] {
            let mut b = bytes.clone();
            b[i] = v;
            let _ = lower_tflite(&b);
        }
    }
}

/// Fuzzer finds (fuzz/fuzz_targets/load_tflite.rs's format: 0, then 3-byte edits of
/// the tiny model, each a little-endian u16 offset modulo its length and a byte).
#[test]
fn fuzzer_regressions_are_errors() {
    let edits: &[&[u8]] = &[
        // A huge input dim made the FullyConnected feature count overflow.
        &[0xf8, 0x86, 0x06, 0x00, 0x00],
    ];
    let tiny = builder::tiny().build();
    for e in edits {
        let mut b = tiny.clone();
        for c in e.chunks_exact(3) {
            let at = usize::from(u16::from_le_bytes([c[0], c[1]])) % b.len();
            b[at] = c[2];
        }
        let _ = lower_tflite(&b);
        let _ = sepconv::io::import_tflite(&b);
    }
}

#[test]
fn wrong_file_identifier() {
    let mut bytes = builder::tiny().build();
    assert_eq!(&bytes[4..8], b"TFL3");
    bytes[4..8].copy_from_slice(b"ONNX");
    let e = lower_tflite(&bytes).unwrap_err().to_string();
    assert_has(&e, &["not a TFLite model", "\"ONNX\"", "TFL3"]);
    let e = lower_tflite(b"\x08\x00\x00\x00TF").unwrap_err().to_string();
    assert_has(&e, &["too short"]);
}

#[test]
fn garbage_after_the_identifier_is_an_error() {
    let mut bytes = builder::tiny().build();
    // The root offset points past the end.
    bytes[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = lower_tflite(&bytes).unwrap_err().to_string();
    assert_has(&e, &["not a valid TFLite flatbuffer"]);
}

#[test]
fn wrong_weight_dims() {
    let mut m = builder::tiny();
    // 8 values as [2][1][1][4]: the input has 3 channels.
    *m.tensor_mut("conv/w") = Tensor::f32("conv/w", &[2, 1, 1, 4], &builder::values(8, 1));
    let e = error(&m);
    assert_has(
        &e,
        &[
            "operator 0 (CONV_2D)",
            "'conv/w'",
            "[2, 1, 1, 4]",
            "3 channels",
        ],
    );

    let mut m = builder::tiny();
    *m.tensor_mut("dw/w") = Tensor::f32("dw/w", &[1, 3, 3, 3], &builder::values(27, 2));
    let e = error(&m);
    assert_has(
        &e,
        &["operator 1 (DEPTHWISE_CONV_2D)", "'dw/w'", "[1, 3, 3, 3]"],
    );

    let mut m = builder::tiny();
    *m.tensor_mut("fc/w") = Tensor::f32("fc/w", &[3, 5], &builder::values(15, 3));
    let e = error(&m);
    assert_has(&e, &["operator 3 (FULLY_CONNECTED)", "'fc/w'", "[3, 5]"]);

    // A buffer that does not hold its shape.
    let mut m = builder::tiny();
    m.tensor_mut("conv/b").shape = vec![3];
    let e = error(&m);
    assert_has(&e, &["'conv/b'", "8 bytes", "needs 12"]);

    let mut m = builder::tiny();
    *m.tensor_mut("conv/b") = Tensor::f32("conv/b", &[3], &[0.0; 3]);
    let e = error(&m);
    assert_has(
        &e,
        &[
            "operator 0 (CONV_2D)",
            "bias tensor 'conv/b'",
            "expected [2]",
        ],
    );
}

#[test]
fn a_cycle_is_refused() {
    let m = builder::Model {
        tensors: vec![
            Tensor::act("x", &[1, 2, 2, 1]),
            Tensor::act("a", &[1, 2, 2, 1]),
            Tensor::act("y", &[1, 2, 2, 1]),
        ],
        // x > RELU > a > RELU6 > x again; y is never reached.
        operators: vec![
            Operator::new(builder::RELU, &[0], &[1], Options::None),
            Operator::new(builder::RELU6, &[1], &[0], Options::None),
        ],
        inputs: vec![0],
        outputs: vec![2],
    };
    assert_has(&error(&m), &["operator 1 (RELU6)", "'x'", "cycle"]);
}

#[test]
fn a_dangling_input_is_refused() {
    let mut m = builder::tiny();
    // The conv's bias becomes a tensor with no data that nothing produces.
    m.tensors.push(Tensor::act("ghost", &[2]));
    m.operators[0].inputs[2] = m.tensors.len() as i32 - 1;
    assert_has(
        &error(&m),
        &[
            "operator 0 (CONV_2D)",
            "input 2",
            "'ghost'",
            "no operator produces it",
        ],
    );
}

#[test]
fn a_branch_is_refused() {
    let mut m = builder::tiny();
    // A second consumer of the conv's output.
    m.tensors.push(Tensor::act("side", &[1, 4, 4, 2]));
    let side = m.tensors.len() as i32 - 1;
    m.operators
        .push(Operator::new(builder::RELU, &[3], &[side], Options::None));
    assert_has(
        &error(&m),
        &[
            "'conv' feeds 2 operators",
            "operator 1 (DEPTHWISE_CONV_2D)",
            "operator 5 (RELU)",
        ],
    );
}

#[test]
fn an_operator_off_the_path_is_refused() {
    let mut m = builder::tiny();
    m.tensors.push(Tensor::act("stray", &[1, 3]));
    let stray = m.tensors.len() as i32 - 1;
    // Reads a constant only: not on the chain.
    m.operators
        .push(Operator::new(builder::RELU, &[10], &[stray], Options::None));
    assert_has(
        &error(&m),
        &[
            "operator 5 (RELU) is not on the data path",
            "'input'",
            "'logits'",
        ],
    );
}

#[test]
fn two_data_inputs_are_refused() {
    let mut m = builder::tiny();
    m.tensors.push(Tensor::act("other", &[1, 3]));
    m.inputs.push(m.tensors.len() as i32 - 1);
    assert_has(
        &error(&m),
        &["expected one data input, found 2", "'input'", "'other'"],
    );
}

#[test]
fn unsupported_ops_are_left_to_the_passes() {
    let mut m = builder::tiny();
    // FLOOR (8) in place of the depthwise convolution's activation: a node of its own.
    m.tensors.push(Tensor::act("floored", &[1, 2, 2, 2]));
    let f = m.tensors.len() as i32 - 1;
    m.operators
        .insert(2, Operator::new(builder::FLOOR, &[6], &[f], Options::None));
    m.operators[3].inputs[0] = f;
    let g = lower(&m);
    assert_eq!(g.nodes[2].op_type, "FLOOR");
    assert_eq!(g.nodes[2].name, "floored");
    assert!(matches!(&g.nodes[2].op, Op::Unsupported(why) if why.contains("FLOOR")));
    let e = import_tflite(&m.build()).unwrap_err().to_string();
    assert_has(&e, &["TFLite: ", "'floored' (FLOOR)"]);

    // QUANTIZE says why.
    m.operators[2].code = builder::QUANTIZE;
    let g = lower(&m);
    assert!(
        matches!(&g.nodes[2].op, Op::Unsupported(why) if why.contains("QUANTIZE") && why.contains("only at the input and the output"))
    );
}

#[test]
fn depth_multiplier_is_unsupported() {
    let mut m = builder::tiny();
    *m.tensor_mut("dw/w") = Tensor::f32("dw/w", &[1, 3, 3, 4], &builder::values(36, 2));
    *m.tensor_mut("dw/b") = Tensor::f32("dw/b", &[4], &[0.0; 4]);
    m.tensor_mut("dw").shape = vec![1, 2, 2, 4];
    m.operators[1].options = Options::Depthwise {
        padding: builder::SAME,
        stride: (2, 2),
        multiplier: 2,
        act: builder::NONE,
    };
    let g = lower(&m);
    assert!(
        matches!(&g.nodes[1].op, Op::Unsupported(why) if why.contains("depth_multiplier 2")),
        "{:?}",
        g.nodes[1].op
    );
}

#[test]
fn bad_quantization_is_refused_by_name() {
    // int8 weights without their scales.
    let mut m = builder::tiny();
    let w = m.tensor_mut("conv/w");
    w.ty = builder::INT8;
    w.data = vec![1; 6];
    assert_has(
        &error(&m),
        &["operator 0 (CONV_2D)", "'conv/w'", "quantized", "no scales"],
    );

    // int8 activations without their scale and zero point.
    let mut m = builder::tiny();
    m.tensor_mut("input").ty = builder::INT8;
    assert_has(&error(&m), &["input", "'input'", "INT8", "0 scales"]);

    let mut m = builder::tiny();
    m.tensor_mut("dw").ty = builder::INT8;
    assert_has(
        &error(&m),
        &["operator 2 (MEAN)", "'dw'", "INT8", "0 scales"],
    );

    // Float32 with quantization parameters.
    let mut m = builder::tiny();
    m.tensor_mut("fc/w").scale = Some(vec![0.5]);
    assert_has(
        &error(&m),
        &[
            "operator 3 (FULLY_CONNECTED)",
            "'fc/w'",
            "has quantization parameters",
        ],
    );
}

/// input [1, 4, 4, 2] > `ops`... with the tensors they name added after the input.
fn chain(extra: Vec<Tensor>, ops: Vec<Operator>, output: &str) -> builder::Model {
    let mut tensors = vec![Tensor::act("input", &[1, 4, 4, 2])];
    tensors.extend(extra);
    let out = tensors.iter().position(|t| t.name == output).unwrap() as i32;
    builder::Model {
        tensors,
        operators: ops,
        inputs: vec![0],
        outputs: vec![out],
    }
}

#[test]
fn elementwise_pool_pad_reshape_and_squeeze() {
    let m = chain(
        vec![
            Tensor::f32("scale", &[2], &[2.0, 3.0]),
            Tensor::act("mul", &[1, 4, 4, 2]),
            Tensor::f32("shift", &[2], &[1.0, -1.0]),
            Tensor::act("add", &[1, 4, 4, 2]),
            Tensor::i32("pads", &[4, 2], &[0, 0, 1, 2, 0, 1, 0, 0]),
            Tensor::act("pad", &[1, 7, 5, 2]),
            Tensor::act("pool", &[1, 1, 1, 2]),
            Tensor::act("relu", &[1, 1, 1, 2]),
            Tensor::act("squeeze", &[1, 2]),
            Tensor::act("reshape", &[1, 2]),
        ],
        vec![
            Operator::new(
                builder::MUL,
                &[0, 1],
                &[2],
                Options::Arithmetic {
                    tag: 21,
                    act: builder::NONE,
                },
            ),
            // Constant first, with a fused RELU6.
            Operator::new(
                builder::ADD,
                &[3, 2],
                &[4],
                Options::Arithmetic {
                    tag: 11,
                    act: builder::RELU6_ACT,
                },
            ),
            Operator::new(builder::PAD, &[4, 5], &[6], Options::None),
            Operator::new(
                builder::AVERAGE_POOL_2D,
                &[6],
                &[7],
                Options::Pool {
                    padding: builder::VALID,
                    stride: (1, 1),
                    filter: (7, 5),
                    act: builder::NONE,
                },
            ),
            Operator::new(builder::RELU, &[7], &[8], Options::None),
            Operator::new(
                builder::SQUEEZE,
                &[8],
                &[9],
                Options::Squeeze { dims: vec![1, 2] },
            ),
            Operator::new(
                builder::RESHAPE,
                &[9],
                &[10],
                Options::Reshape {
                    new_shape: vec![-1, 2],
                },
            ),
        ],
        "reshape",
    );
    let g = lower(&m);
    let ops: Vec<(&str, &str, &Op)> = g
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.op_type.as_str(), &n.op))
        .collect();
    let relu6 = Op::Clamp(Clamp { min: 0.0, max: 6.0 });
    let relu = Op::Clamp(Clamp {
        min: 0.0,
        max: f32::INFINITY,
    });
    let expected = [
        (
            "mul",
            "MUL",
            Op::Binary {
                op: BinOp::Mul,
                value: vec![2.0, 3.0],
                dims: vec![2],
                const_first: false,
            },
        ),
        (
            "add",
            "ADD",
            Op::Binary {
                op: BinOp::Add,
                value: vec![1.0, -1.0],
                dims: vec![2],
                const_first: true,
            },
        ),
        ("add", "ADD", relu6),
        (
            "pad",
            "PAD",
            Op::Pad {
                begin: vec![0, 1, 0, 0],
                end: vec![0, 2, 1, 0],
                value: 0.0,
            },
        ),
        (
            "pool",
            "AVERAGE_POOL_2D",
            Op::AveragePool {
                kernel: (7, 5),
                stride: (1, 1),
                pads: Pads::Explicit(sepconv::Padding::new(0, 0, 0, 0)),
                count_include_pad: false,
            },
        ),
        ("relu", "RELU", relu),
        (
            "squeeze",
            "SQUEEZE",
            Op::Squeeze {
                axes: Some(vec![1, 2]),
            },
        ),
        (
            "reshape",
            "RESHAPE",
            Op::Reshape {
                shape: Some(vec![-1, 2]),
            },
        ),
    ];
    assert_eq!(ops.len(), expected.len(), "{ops:#?}");
    for (got, want) in ops.iter().zip(&expected) {
        assert_eq!((got.0, got.1, got.2), (want.0, want.1, &want.2));
    }
}

#[test]
fn elementwise_without_a_constant_is_refused() {
    let m = chain(
        vec![
            Tensor::act("other", &[1, 4, 4, 2]),
            Tensor::act("sum", &[1, 4, 4, 2]),
        ],
        vec![Operator::new(
            builder::ADD,
            &[0, 1],
            &[2],
            Options::Arithmetic {
                tag: 11,
                act: builder::NONE,
            },
        )],
        "sum",
    );
    assert_has(&error(&m), &["operator 0 (ADD)", "input 1 tensor 'other'"]);
}

#[test]
fn missing_conv_options_are_refused() {
    let mut m = builder::tiny();
    m.operators[0].options = Options::None;
    assert_has(&error(&m), &["operator 0 (CONV_2D)", "no Conv2DOptions"]);
    let mut m = builder::tiny();
    m.operators[0].options = Options::Conv {
        padding: builder::SAME,
        stride: (0, 1),
        act: builder::NONE,
        dilation: (1, 1),
    };
    assert_has(&error(&m), &["operator 0 (CONV_2D)", "stride_h is 0"]);
}
