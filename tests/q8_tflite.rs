//! Int8 TFLite models (tests/fixtures/q8_tflite, from scripts/gen_q8_tflite_fixtures.py)
//! against LiteRT's outputs: its XNNPACK delegate and its builtin kernels. Single-op
//! models must agree within 1 with both; the MobileNets within 1 of XNNPACK on >= 99% of
//! the logits with the same top-1 on >= 95% of the inputs (their top-1 agreement with the
//! float Keras model is printed, not checked). Every ISA under test runs the imported
//! network bit for bit as `reference::q8_network_forward`. A missing fixture fails.
//! `cargo test --release --test q8_tflite -- --nocapture` prints the agreement table.

mod common;

use sepconv::io::{load_network, read_npy_file, read_npy_tensor_file, NpyArray, NpyData};
use sepconv::net::q8::{EdgeType, Q8Input, Q8Model, Q8Network, Q8Output};
use sepconv::net::Options;
use sepconv::reference;
use sepconv::tensor::{Shape, Tensor};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/q8_tflite")
}

const SINGLE: &[&str] = &[
    "conv0",
    "conv0_relu",
    "dw_s1",
    "dw_s2",
    "dw_s2_same",
    "pw",
    "pw_linear",
    "pool_mean",
    "pool_avg",
    "fc",
];

/// The MobileNet variants: TAG_VARIANT.tflite with TAG_input.npy (int8 codes shared by
/// the variants of TAG) and TAG_float.npy (the float Keras model's logits).
const MOBILENETS: &[(&str, &str)] = &[
    ("mobilenet_a025_r128", "int8io"),
    ("mobilenet_a025_r128", "f32io"),
    ("mobilenet_a05_r160", "int8io"),
];

const REGENERATE: &str = "run /work/venvs/tf215/bin/python scripts/gen_q8_tflite_fixtures.py";

/// A fixture's path; panics naming it when it is missing, so a lost fixture fails the
/// test instead of skipping it.
fn fixture(file: &str) -> PathBuf {
    let p = dir().join(file);
    assert!(
        p.exists(),
        "q8_tflite: fixture {} is missing ({REGENERATE})",
        p.display()
    );
    p
}

fn read_f32(file: &str) -> NpyArray {
    read_npy_file(fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// An int8 (`|i1`) `.npy` file.
fn read_i8(file: &str) -> (Vec<usize>, Vec<i8>) {
    let t = read_npy_tensor_file(fixture(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    match t.data {
        NpyData::I8(v) => (t.shape, v),
        _ => panic!("{file}: not int8 codes"),
    }
}

struct Case {
    q: Q8Network,
    input: Tensor,
    /// The input codes (s8) when the model takes them.
    codes: Option<Vec<i8>>,
    /// sepconv's output codes (s8), per image.
    ours: Vec<Vec<i32>>,
    xnnpack: Vec<Vec<i32>>,
    builtin: Vec<Vec<i32>>,
}

/// The s8 codes of a dequantized output.
fn codes(q: &Q8Network, y: &[f32]) -> Vec<i32> {
    let oq =
        q.fc.as_ref()
            .and_then(|f| f.output)
            .unwrap_or_else(|| q.last_q());
    y.iter()
        .map(|&v| (v / oq.scale).round() as i32 + oq.zero_point - 128)
        .collect()
}

fn split_rows<T: Copy + Into<f64>>(data: &[T], n: usize) -> Vec<Vec<i32>> {
    data.chunks(data.len() / n)
        .map(|r| r.iter().map(|&v| v.into() as i32).collect())
        .collect()
}

fn rows_f32(file: &str) -> Vec<Vec<i32>> {
    let a = read_f32(file);
    split_rows(&a.data, a.shape[0])
}

fn rows_i8(file: &str) -> Vec<Vec<i32>> {
    let (shape, data) = read_i8(file);
    split_rows(&data, shape[0])
}

fn load_model(name: &str) -> Q8Network {
    let path = fixture(&format!("{name}.tflite"));
    let m = load_network(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    m.quant.unwrap_or_else(|| panic!("{name}: not quantized"))
}

/// Runs the reference on `input`, the codes of its outputs.
fn reference_codes(q: &Q8Network, input: &Tensor) -> Vec<Vec<i32>> {
    let y = reference::q8_network_forward(q, input).unwrap();
    let per = y.data.len() / input.shape.n;
    y.data.chunks(per).map(|r| codes(q, r)).collect()
}

/// A single-op model: f32 inputs (dequantized codes), LiteRT's codes stored as f32.
fn load(name: &str) -> Case {
    let q = load_model(name);
    let x = read_f32(&format!("{name}_input.npy"));
    let s = &x.shape;
    let input = Tensor::from_vec(Shape::new(s[0], s[1], s[2], s[3]), x.data).unwrap();
    Case {
        ours: reference_codes(&q, &input),
        xnnpack: rows_f32(&format!("{name}_xnnpack.npy")),
        builtin: rows_f32(&format!("{name}_builtin.npy")),
        codes: None,
        q,
        input,
    }
}

/// A MobileNet variant on TAG_input.npy's int8 codes: an int8-input model takes them as
/// they are, a float-input one their values `scale * (code - zp_s8)` with the model's
/// input quantization (whose QUANTIZE maps them back to the same codes).
fn load_mobilenet(tag: &str, variant: &str) -> Case {
    let name = format!("{tag}_{variant}");
    let q = load_model(&name);
    let (s, raw) = read_i8(&format!("{tag}_input.npy"));
    let iq = q.input;
    let zp_s8 = iq.zero_point - 128;
    let data: Vec<f32> = raw
        .iter()
        .map(|&c| iq.scale * (i32::from(c) - zp_s8) as f32)
        .collect();
    for (&c, &v) in raw.iter().zip(&data) {
        let back = i32::from(q.input_rounding.quantize(iq, v)) - 128;
        assert_eq!(
            back,
            i32::from(c),
            "{name}: input code {c} comes back {back}"
        );
    }
    let input = Tensor::from_vec(Shape::new(s[0], s[1], s[2], s[3]), data).unwrap();
    let int8_in = q.input_type == EdgeType::I8;
    assert_eq!(
        int8_in,
        variant == "int8io",
        "{name}: input type {:?}",
        q.input_type
    );
    Case {
        ours: reference_codes(&q, &input),
        xnnpack: rows_i8(&format!("{name}_xnnpack.npy")),
        builtin: rows_i8(&format!("{name}_builtin.npy")),
        codes: int8_in.then_some(raw),
        q,
        input,
    }
}

struct Agreement {
    within1: f64,
    exact: f64,
    top1: f64,
    max_diff: i32,
}

fn agree(a: &[Vec<i32>], b: &[Vec<i32>]) -> Agreement {
    let (mut n, mut w, mut e, mut t, mut max_diff) = (0usize, 0usize, 0usize, 0usize, 0);
    assert_eq!(a.len(), b.len(), "image counts differ");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.len(), y.len());
        for (p, q) in x.iter().zip(y) {
            let d = (p - q).abs();
            max_diff = max_diff.max(d);
            n += 1;
            w += usize::from(d <= 1);
            e += usize::from(d == 0);
        }
        t += usize::from(argmax(x) == argmax(y));
    }
    Agreement {
        within1: 100.0 * w as f64 / n as f64,
        exact: 100.0 * e as f64 / n as f64,
        top1: 100.0 * t as f64 / a.len() as f64,
        max_diff,
    }
}

fn argmax<T: PartialOrd + Copy>(r: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in r.iter().enumerate() {
        if v > r[best] {
            best = i;
        }
    }
    best
}

/// The share of images whose top-1 class in `a` is that of the f32 logits `want`.
fn top1_vs_float(a: &[Vec<i32>], want: &NpyArray) -> f64 {
    let per = want.data.len() / want.shape[0];
    let same = a
        .iter()
        .zip(want.data.chunks(per))
        .filter(|(x, y)| argmax(x) == argmax(y))
        .count();
    100.0 * same as f64 / a.len() as f64
}

fn row(what: &str, a: &Agreement) -> String {
    format!(
        "vs {what} {:>6.2}% within 1, {:>6.2}% exact, top-1 {:>5.1}%, max {:>2}",
        a.within1, a.exact, a.top1, a.max_diff
    )
}

fn table_row(name: &str, c: &Case) -> (Agreement, Agreement) {
    let (x, b) = (agree(&c.ours, &c.xnnpack), agree(&c.ours, &c.builtin));
    let lx = agree(&c.xnnpack, &c.builtin);
    eprintln!(
        "{name:<26} {}  |  {}  |  XNNPACK vs builtin {:>6.2}% within 1, top-1 {:>5.1}%",
        row("XNNPACK", &x),
        row("builtin", &b),
        lx.within1,
        lx.top1
    );
    (x, b)
}

/// Every ISA under test runs the network as the reference, bit for bit: from f32, and
/// from the input codes when the model takes codes (into f32 and into output codes).
fn check_isas(name: &str, c: &Case) {
    let want = reference::q8_network_forward(&c.q, &c.input).unwrap();
    let n = c.input.shape.n;
    for isa in common::isas_under_test() {
        let options = Options {
            cpu: Some(sepconv::Cpu::with_isa(isa).unwrap()),
            ..Options::default()
        };
        let model = Q8Model::build(c.q.clone(), options).unwrap();
        let mut ws = model.workspace(n).unwrap();
        let mut out = vec![f32::NAN; n * model.output_len()];
        model.run(&mut ws, &c.input.data, n, &mut out).unwrap();
        let same = |out: &[f32]| {
            out.iter()
                .zip(&want.data)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        };
        assert!(
            same(&out),
            "{name} on {isa:?}: Q8Model differs from the reference"
        );
        let Some(codes) = &c.codes else { continue };
        out.fill(f32::NAN);
        model
            .run_codes(&mut ws, Q8Input::I8(codes), n, Q8Output::F32(&mut out))
            .unwrap();
        assert!(
            same(&out),
            "{name} on {isa:?}: Q8Model on codes differs from the reference"
        );
        if model.output_quant().is_some() {
            let mut y = vec![0i8; n * model.output_len()];
            model
                .run_codes(&mut ws, Q8Input::I8(codes), n, Q8Output::I8(&mut y))
                .unwrap();
            assert_eq!(
                split_rows(&y, n),
                c.ours,
                "{name} on {isa:?}: output codes differ from the reference's"
            );
        }
    }
}

#[test]
fn single_op_models_agree_within_one_with_litert() {
    for name in SINGLE {
        let c = load(name);
        let (x, b) = table_row(name, &c);
        assert!(
            x.max_diff <= 1,
            "{name}: differs from XNNPACK by {}",
            x.max_diff
        );
        assert!(
            b.max_diff <= 1,
            "{name}: differs from builtin by {}",
            b.max_diff
        );
        check_isas(name, &c);
    }
}

#[test]
fn mobilenets_agree_with_xnnpack() {
    for &(tag, variant) in MOBILENETS {
        let name = format!("{tag}_{variant}");
        let c = load_mobilenet(tag, variant);
        let (x, _) = table_row(&name, &c);
        let float = read_f32(&format!("{tag}_float.npy"));
        eprintln!(
            "{name:<26} top-1 vs the float model: sepconv {:>5.1}%, XNNPACK {:>5.1}%, \
             builtin {:>5.1}%",
            top1_vs_float(&c.ours, &float),
            top1_vs_float(&c.xnnpack, &float),
            top1_vs_float(&c.builtin, &float)
        );
        assert!(x.within1 >= 99.0, "{name}: {:.2}% within 1", x.within1);
        assert!(x.top1 >= 95.0, "{name}: top-1 {:.1}%", x.top1);
        check_isas(&name, &c);
    }
}
