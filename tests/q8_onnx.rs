//! Quantized ONNX models (tests/fixtures/q8_onnx/, scripts/gen_q8_onnx_fixtures.py:
//! onnxruntime's quantize_static in the QDQ and QOperator formats, and single-layer
//! models) against ONNX Runtime's outputs; the errors for bad quantization parameters.
//!
//! `cargo test --release --test q8_onnx -- --nocapture` prints the agreement table.

mod common;

use sepconv::io::{self, InputLayout};
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
    // The first values of lcg_floats(7, 3) in scripts/gen_q8_onnx_fixtures.py.
    let v = lcg_floats(7, 3);
    assert!(v.iter().all(|x| (-1.0..1.0).contains(x)));
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
