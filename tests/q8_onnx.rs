//! Quantized ONNX models (tests/fixtures/q8_onnx/, scripts/gen_q8_onnx_fixtures.py:
//! onnxruntime's quantize_static in the QDQ and QOperator formats, and single-layer
//! models) against ONNX Runtime's outputs; the errors for bad quantization parameters.
//!
//! `cargo test --release --test q8_onnx -- --nocapture` prints the agreement table.

mod common;

use sepconv::io::{self, InputLayout};
use sepconv::net::q8::Q8Model;
use sepconv::{reference, Shape, Tensor};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/q8_onnx")
}

fn manifest() -> Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(format!("{name}.onnx"))).unwrap()
}

/// The script's `lcg_floats`: the suites' Lcg, each step's top 24 bits k as
/// `k * 2^-23 - 1` (exact in f32).
fn lcg_floats(seed: u64, count: usize) -> Vec<f32> {
    let mut g = common::Lcg(seed);
    (0..count)
        .map(|_| (g.next() >> 8) as f32 * (1.0 / 8_388_608.0) - 1.0)
        .collect()
}

/// A fixture's input batch as an NHWC tensor, and its facts.
struct Fixture {
    name: String,
    input: Tensor,
    /// ONNX Runtime's f32 output (optimized), its raw codes, and the unoptimized run.
    ort: Vec<f32>,
    ort_q: Vec<f32>,
    noopt: Vec<f32>,
    /// Output scale and zero point (u8 grid).
    out_q: (f32, i32),
    /// Values per input.
    per: usize,
}

fn fixture(m: &Value, name: &str) -> Fixture {
    let e = &m[name];
    let dims: Vec<usize> = e["input_dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let count: usize = dims.iter().product();
    let amp = e["amp"].as_f64().unwrap_or(1.0) as f32;
    let data: Vec<f32> = lcg_floats(e["seed"].as_u64().unwrap(), count)
        .into_iter()
        .map(|v| v * amp)
        .collect();
    let input = match e["input_layout"].as_str().unwrap() {
        "NCHW" => Tensor::from_nchw(dims[0], dims[1], dims[2], dims[3], &data).unwrap(),
        _ => Tensor::from_vec(Shape::new(dims[0], dims[1], dims[2], dims[3]), data).unwrap(),
    };
    let npy = |suffix: &str| {
        io::read_npy_file(dir().join(format!("{name}_{suffix}.npy")))
            .unwrap()
            .data
    };
    let ort = npy("output");
    Fixture {
        name: name.to_string(),
        per: ort.len() / dims[0],
        input,
        ort_q: npy("output_q"),
        noopt: npy("output_noopt"),
        ort,
        out_q: (
            e["output_scale"].as_f64().unwrap() as f32,
            e["output_zero_point"].as_i64().unwrap() as i32,
        ),
    }
}

/// The fixtures that run (all but the contrib-op one), single ops first.
fn runnable(m: &Value) -> Vec<String> {
    let mut names: Vec<String> = m
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, v)| !k.starts_with('_') && v.get("refused").is_none())
        .map(|(k, _)| k.clone())
        .collect();
    names.sort_by_key(|n| (m[n]["kind"] != "op", n.clone()));
    names
}

/// ONNX Runtime's output layout is NCHW for the 4-D single-op outputs; sepconv's NHWC.
fn to_nchw(t: &Tensor) -> Vec<f32> {
    let s = t.shape;
    if s.h == 1 && s.w == 1 {
        return t.data.clone();
    }
    let mut out = vec![0.0; t.data.len()];
    for n in 0..s.n {
        for y in 0..s.h {
            for x in 0..s.w {
                for c in 0..s.c {
                    out[((n * s.c + c) * s.h + y) * s.w + x] =
                        t.data[((n * s.h + y) * s.w + x) * s.c + c];
                }
            }
        }
    }
    out
}

#[test]
fn lcg_matches_the_script() {
    // lcg_floats(7, 3) in scripts/gen_q8_onnx_fixtures.py.
    let v = lcg_floats(7, 3);
    assert_eq!(v, [-0.013575554, 0.911319, 0.8131516]);
}

/// How a run compares with ONNX Runtime's: the share of outputs within one step of the
/// output quantization, the largest difference in steps, and top-1 agreement.
#[derive(Default)]
struct Agreement {
    within_1: usize,
    total: usize,
    max_steps: i64,
    top1_same: usize,
    inputs: usize,
}

impl Agreement {
    fn of(got: &[f32], want_codes: &[f32], want: &[f32], out_q: (f32, i32), per: usize) -> Self {
        let code = |v: f32| (v / out_q.0).round() as i64 + i64::from(out_q.1);
        let mut a = Agreement {
            total: got.len(),
            inputs: got.len() / per,
            ..Agreement::default()
        };
        for (g, w) in got.iter().zip(want_codes) {
            let d = (code(*g) - *w as i64).abs();
            a.within_1 += usize::from(d <= 1);
            a.max_steps = a.max_steps.max(d);
        }
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &x)| if x > b.1 { (i, x) } else { b },
                )
                .0
        };
        for (g, w) in got.chunks(per).zip(want.chunks(per)) {
            a.top1_same += usize::from(argmax(g) == argmax(w));
        }
        a
    }

    fn within(&self) -> f64 {
        self.within_1 as f64 / self.total as f64
    }

    fn top1(&self) -> f64 {
        self.top1_same as f64 / self.inputs as f64
    }

    fn cell(&self) -> String {
        format!(
            "{:6.2}% max {:2} top-1 {:3.0}%",
            100.0 * self.within(),
            self.max_steps,
            100.0 * self.top1()
        )
    }
}

/// Codes of `v` on the output grid, as f32 (to compare with ONNX Runtime's).
fn codes(v: &[f32], q: (f32, i32)) -> Vec<f32> {
    v.iter()
        .map(|x| ((x / q.0).round() as i32 + q.1) as f32)
        .collect()
}

/// Every runnable fixture through the int8 path: the quantized network of the file, run
/// by `Q8Model` on every ISA under test bit for bit as `reference::q8_network_forward`,
/// within one output step of ONNX Runtime: every value for the single ops, >= 99% of the
/// logits and the same top-1 on >= 95% of the inputs for the MobileNets.
#[test]
fn int8_path_agrees_with_onnx_runtime() {
    let m = manifest();
    let mut table = vec![format!(
        "| {:26} | {:9} | {:3} | {:30} | {:30} |",
        "fixture", "format", "act", "vs ONNX Runtime (optimized)", "vs ONNX Runtime (no opt.)"
    )];
    let mut failed = Vec::new();
    for name in runnable(&m) {
        let f = fixture(&m, &name);
        let model = io::import_onnx(&bytes(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let q = model
            .quant
            .clone()
            .unwrap_or_else(|| panic!("{name}: no quantized network"));
        let want = reference::q8_network_forward(&q, &f.input).unwrap();
        let n = f.input.shape.n;
        for isa in common::isas_under_test() {
            let options = sepconv::net::Options {
                cpu: Some(sepconv::Cpu::with_isa(isa).unwrap()),
                ..Default::default()
            };
            let run = Q8Model::build(q.clone(), options).unwrap();
            let mut ws = run.workspace(n).unwrap();
            let mut out = vec![f32::NAN; n * run.output_len()];
            run.run(&mut ws, &f.input.data, n, &mut out).unwrap();
            assert_eq!(out, want.data, "{name}: {isa:?} differs from the reference");
        }
        let got = to_nchw(&want);
        assert_eq!(got.len(), f.ort.len(), "{name}: output length");
        let opt = Agreement::of(&got, &f.ort_q, &f.ort, f.out_q, f.per);
        let noopt = Agreement::of(&got, &codes(&f.noopt, f.out_q), &f.noopt, f.out_q, f.per);
        table.push(format!(
            "| {name:26} | {:9} | {:3} | {:30} | {:30} |",
            m[&name]["format"].as_str().unwrap(),
            m[&name]["activations"].as_str().unwrap(),
            opt.cell(),
            noopt.cell()
        ));
        let ok = if m[&name]["kind"] == "op" {
            opt.max_steps <= 1
        } else {
            // The input quantized as ONNX Runtime's QuantizeLinear does (a division,
            // `InputRounding::Divide`): with XNNPACK's reciprocal multiply three input
            // codes of the QOperator MobileNet differ by one, and 1.7% of its logits by two.
            opt.within() >= 0.99 && opt.top1() >= 0.95
        };
        if !ok {
            failed.push(format!("{name}: {}", opt.cell()));
        }
    }
    println!("{}", table.join("\n"));
    assert!(failed.is_empty(), "below the bar: {failed:?}");
}

/// The single-op fixtures also import as f32 networks (weights dequantized, the
/// QuantizeLinear/DequantizeLinear pairs dropped), which stay near ONNX Runtime's
/// unoptimized (float-simulated) output. (Not the MobileNets: quantize_static drops the
/// Relu/Clip before each QuantizeLinear, whose saturation does their work.)
#[test]
fn single_ops_import_as_float_networks() {
    let m = manifest();
    for name in runnable(&m).into_iter().filter(|n| m[n]["kind"] == "op") {
        let f = fixture(&m, &name);
        let model = io::import_onnx(&bytes(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            model.input_layout == InputLayout::Nhwc,
            m[&name]["input_layout"] == "NHWC"
        );
        let out = reference::network_forward(&model.network, &model.weights, &f.input).unwrap();
        let got = to_nchw(&out);
        assert_eq!(got.len(), f.noopt.len(), "{name}");
        let step = f.out_q.0;
        let far = got
            .iter()
            .zip(&f.noopt)
            .filter(|(g, w)| (*g - *w).abs() > 8.0 * step)
            .count();
        println!(
            "{name}: f32 import vs ONNX Runtime (unoptimized): {far} of {} values beyond 8 steps",
            got.len()
        );
        assert!(
            far * 10 <= got.len(),
            "{name}: {far} of {} values far",
            got.len()
        );
        let _ = (&f.ort, &f.ort_q, f.per, &f.name);
    }
}

// ---------------------------------------------------------------------------------------
// Errors: each test breaks one quantization parameter of a fixture with the prost types
// and checks that the message names the tensor (or node) at fault.

#[allow(clippy::all, missing_docs, rustdoc::all, dead_code)]
#[path = "../src/io/onnx/proto.rs"]
mod proto;

use prost::Message;

fn model(name: &str) -> proto::ModelProto {
    proto::ModelProto::decode(bytes(name).as_slice()).unwrap()
}

fn init<'m>(m: &'m mut proto::ModelProto, name: &str) -> &'m mut proto::TensorProto {
    let g = m.graph.as_mut().unwrap();
    g.initializer.iter_mut().find(|t| t.name() == name).unwrap()
}

fn set_f32(m: &mut proto::ModelProto, name: &str, v: &[f32]) {
    let t = init(m, name);
    t.raw_data = Some(v.iter().flat_map(|x| x.to_le_bytes()).collect());
    t.dims = if v.len() == 1 && t.dims.is_empty() {
        vec![]
    } else {
        vec![v.len() as i64]
    };
}

/// The error of importing `m`, which must name every one of `parts`.
fn error_names(m: &proto::ModelProto, parts: &[&str]) {
    let msg = match io::import_onnx(&m.encode_to_vec()) {
        Ok(_) => panic!("a model with bad quantization loaded (expected {parts:?})"),
        Err(e) => e.to_string(),
    };
    for p in parts {
        assert!(msg.contains(p), "{msg:?} does not name {p:?}");
    }
}

#[test]
fn the_error_fixtures_load_unbroken() {
    for name in ["op_conv0_s2", "qop_dw_s2", "op_pw_gap_gemm_s8"] {
        io::import_onnx(&bytes(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn zero_negative_or_non_finite_scales_are_named() {
    for bad in [0.0, -0.5, f32::INFINITY] {
        // An activation's scale.
        let mut m = model("op_conv0_s2");
        set_f32(&mut m, "input_scale", &[bad]);
        error_names(&m, &["input_scale", "finite"]);
        // One channel of a weight's.
        let mut m = model("op_conv0_s2");
        let mut s = vec![0.01; 8];
        s[5] = bad;
        set_f32(&mut m, "l0_w_scale", &s);
        error_names(&m, &["l0_w_scale", "finite"]);
        // The output's, in QOperator.
        let mut m = model("qop_dw_s2");
        set_f32(&mut m, "y_scale", &[bad]);
        error_names(&m, &["y_scale", "finite"]);
    }
    let mut m = model("op_conv0_s2");
    set_f32(&mut m, "l0_out_scale", &[f32::NAN]);
    error_names(&m, &["l0_out_scale"]);
}

#[test]
fn zero_points_out_of_range_are_named() {
    // uint8 and int8 zero points kept in int32_data (not raw) can hold anything.
    for (fixture, name, v) in [
        ("op_conv0_s2", "input_zero_point", 256),
        ("op_conv0_s2", "l0_out_zero_point", -1),
        ("op_dw_s2_s8", "input_zero_point", 128),
        ("op_conv0_s2", "l0_w_zero_point", -129),
    ] {
        let mut m = model(fixture);
        let t = init(&mut m, name);
        let n = t.raw_data().len().max(1);
        t.raw_data = None;
        t.int32_data = vec![v; n];
        error_names(&m, &[name, &v.to_string(), "range"]);
    }
}

#[test]
fn per_channel_axis_and_length_mismatches_are_named() {
    // The weight's scales along the wrong axis (1: the input channels, 3 of them).
    let mut m = model("op_conv0_s2");
    set_f32(&mut m, "l0_w_scale", &[0.01; 3]);
    set_f32(&mut m, "l0_w_zero_point", &[]);
    init(&mut m, "l0_w_zero_point").raw_data = Some(vec![0; 3]);
    init(&mut m, "l0_w_zero_point").dims = vec![3];
    let g = m.graph.as_mut().unwrap();
    let dq = g.node.iter_mut().find(|n| n.name() == "l0_w_DQ").unwrap();
    dq.attribute[0].i = Some(1);
    error_names(
        &m,
        &["l0_w_scale", "axis 1", "l0_w", "output channel axis 0"],
    );
    // Seven scales for eight channels.
    let mut m = model("op_conv0_s2");
    set_f32(&mut m, "l0_w_scale", &[0.01; 7]);
    error_names(&m, &["l0_w_zero_point", "8 zero points", "7 scales"]);
    let mut m = model("op_conv0_s2");
    set_f32(&mut m, "l0_w_scale", &[0.01; 7]);
    let t = init(&mut m, "l0_w_zero_point");
    t.raw_data = Some(vec![0; 7]);
    t.dims = vec![7];
    error_names(&m, &["7 scales", "l0_w_scale", "8 channels", "l0_w"]);
    // An axis outside the weight's dims.
    let mut m = model("op_conv0_s2");
    let g = m.graph.as_mut().unwrap();
    let dq = g.node.iter_mut().find(|n| n.name() == "l0_w_DQ").unwrap();
    dq.attribute[0].i = Some(4);
    error_names(&m, &["l0_w_DQ", "axis 4"]);
    // Per-channel activation parameters.
    let mut m = model("op_conv0_s2");
    set_f32(&mut m, "input_scale", &[0.01, 0.02]);
    let t = init(&mut m, "input_zero_point");
    t.raw_data = Some(vec![128, 128]);
    t.dims = vec![2];
    error_names(&m, &["input_Q", "input_scale", "per-channel", "activation"]);
}

#[test]
fn missing_scales_are_named() {
    let mut m = model("op_conv0_s2");
    let g = m.graph.as_mut().unwrap();
    let q = g.node.iter_mut().find(|n| n.name() == "l0_out_Q").unwrap();
    q.input.truncate(1);
    error_names(&m, &["l0_out_Q", "no scale"]);
    let mut m = model("op_conv0_s2");
    let g = m.graph.as_mut().unwrap();
    g.initializer.retain(|t| t.name() != "l0_w_scale");
    error_names(&m, &["l0_w_scale"]);
}

#[test]
fn weights_that_do_not_fit_s8_are_named() {
    // A zero point of 100 on int8 weights: -127 - 100 does not fit.
    let mut m = model("op_conv0_s2");
    init(&mut m, "l0_w_zero_point").raw_data = Some(vec![100; 8]);
    error_names(&m, &["l0_w", "zero point 100", "does not fit int8"]);
    // uint8 weights with zero point 0: values above 127 do not fit.
    let mut m = model("qop_dw_s2");
    let w = init(&mut m, "w");
    w.data_type = Some(2);
    w.raw_data = Some(w.raw_data().iter().map(|b| b.wrapping_add(128)).collect());
    let z = init(&mut m, "w_zero_point");
    z.data_type = Some(2);
    error_names(&m, &["weight 'w'", "does not fit int8"]);
    // ... while uint8 weights with zero point 128 are s8 weights shifted: they load.
    let mut m = model("qop_dw_s2");
    let w = init(&mut m, "w");
    w.data_type = Some(2);
    w.raw_data = Some(w.raw_data().iter().map(|b| b.wrapping_add(128)).collect());
    let z = init(&mut m, "w_zero_point");
    z.data_type = Some(2);
    z.raw_data = Some(vec![128; z.raw_data().len()]);
    io::import_onnx(&m.encode_to_vec()).unwrap();
}

#[test]
fn a_bias_with_a_zero_point_is_named() {
    let mut m = model("op_conv0_s2");
    let t = init(&mut m, "l0_b_zero_point");
    t.raw_data = Some([3i32; 8].iter().flat_map(|x| x.to_le_bytes()).collect());
    error_names(&m, &["l0_b_zero_point", "must be 0"]);
}

#[test]
fn contrib_ops_are_refused_by_name() {
    let m = manifest();
    let e = &m["keras_a025_r128_qop_contrib"];
    assert!(e["ops"]["com.microsoft.QLinearGlobalAveragePool"].as_u64() == Some(1));
    let msg = match io::import_onnx(&bytes("keras_a025_r128_qop_contrib")) {
        Ok(_) => panic!("the contrib-op model loaded"),
        Err(e) => e.to_string(),
    };
    for p in ["QLinearGlobalAveragePool", "com.microsoft", "contrib"] {
        assert!(msg.contains(p), "{msg:?} does not name {p:?}");
    }
}

/// Makes a graph input or output a tensor of ONNX element type `elem`.
fn set_elem(vi: &mut proto::ValueInfoProto, elem: i32) {
    if let Some(proto::type_proto::Value::TensorType(t)) =
        vi.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.elem_type = Some(elem);
    }
}

/// A QDQ model taking and giving raw uint8 codes (the input QuantizeLinear and the output
/// DequantizeLinear removed): the model reports U8 edges, and `run_codes` on the codes of
/// an input gives the codes the f32 model's run dequantizes.
#[test]
fn integer_edges_are_reported_and_run_as_codes() {
    use sepconv::net::q8::{EdgeType, Q8Input, Q8Output};
    let m0 = manifest();
    let f = fixture(&m0, "op_pw_relu");
    let float = io::import_onnx(&bytes("op_pw_relu"))
        .unwrap()
        .quant
        .unwrap();
    let mut m = model("op_pw_relu");
    let g = m.graph.as_mut().unwrap();
    g.node
        .retain(|n| n.name() != "input_Q" && n.name() != "l0_out_DQ");
    let dq = g.node.iter_mut().find(|n| n.name() == "input_DQ").unwrap();
    dq.input[0] = "input".into();
    set_elem(&mut g.input[0], 2);
    g.output[0].name = Some("l0_out_q".into());
    set_elem(&mut g.output[0], 2);
    let raw = io::import_onnx(&m.encode_to_vec()).unwrap().quant.unwrap();
    assert_eq!(raw.input, float.input);
    assert_eq!(raw.layers, float.layers);

    let n = f.input.shape.n;
    let (a, b) = (
        Q8Model::build(float, Default::default()).unwrap(),
        Q8Model::build(raw, Default::default()).unwrap(),
    );
    assert_eq!(
        (a.input_type(), a.output_type()),
        (EdgeType::F32, EdgeType::F32)
    );
    assert_eq!(
        (b.input_type(), b.output_type()),
        (EdgeType::U8, EdgeType::U8)
    );
    let q = b.input_quant();
    let codes: Vec<u8> = f.input.data.iter().map(|&v| q.quantize(v)).collect();
    let mut ws = a.workspace(n).unwrap();
    let mut want = vec![0.0; n * a.output_len()];
    a.run(&mut ws, &f.input.data, n, &mut want).unwrap();
    let out_q = b.output_quant().expect("a quantized output");
    let mut got = vec![0u8; n * b.output_len()];
    let mut ws = b.workspace(n).unwrap();
    b.run_codes(&mut ws, Q8Input::U8(&codes), n, Q8Output::U8(&mut got))
        .unwrap();
    let want_codes: Vec<u8> = want
        .iter()
        .map(|&v| ((v / out_q.scale).round() as i32 + out_q.zero_point) as u8)
        .collect();
    assert_eq!(got, want_codes);

    // An integer input must be dequantized by its first op.
    let mut m = model("op_pw_relu");
    set_elem(&mut m.graph.as_mut().unwrap().input[0], 2);
    error_names(&m, &["input", "integer", "input_Q"]);
    // With a zero point of its own type.
    let mut m = model("op_pw_relu");
    let g = m.graph.as_mut().unwrap();
    g.node.retain(|n| n.name() != "input_Q");
    g.node
        .iter_mut()
        .find(|n| n.name() == "input_DQ")
        .unwrap()
        .input[0] = "input".into();
    set_elem(&mut g.input[0], 3);
    error_names(&m, &["input_zero_point", "input"]);
}
