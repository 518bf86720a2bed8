//! Int8 TFLite models (tests/fixtures/q8_tflite, from scripts/gen_q8_tflite_fixtures.py)
//! against LiteRT's outputs: its XNNPACK delegate and its builtin kernels. Single-op
//! models must agree within 1 with both; the MobileNets within 1 of XNNPACK on >= 99% of
//! the logits with the same top-1 on >= 95% of the inputs. Every ISA under test runs the
//! imported network bit for bit as `reference::q8_network_forward`.
//! `cargo test --test q8_tflite -- --nocapture` prints the agreement table.

mod common;

use sepconv::io::{load_network, read_npy_file};
use sepconv::net::q8::{Q8Model, Q8Network};
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

const MOBILENETS: &[&str] = &[
    "mobilenet_a025_r128_int8io",
    "mobilenet_a025_r128_f32io",
    "mobilenet_a05_r160_int8io",
    "mobilenet_a05_r160_f32io",
];

struct Case {
    q: Q8Network,
    input: Tensor,
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

fn rows(path: PathBuf) -> Vec<Vec<i32>> {
    let a = read_npy_file(&path).unwrap();
    let per = a.data.len() / a.shape[0];
    a.data
        .chunks(per)
        .map(|r| r.iter().map(|&v| v as i32).collect())
        .collect()
}

fn load(name: &str) -> Option<Case> {
    let model = dir().join(format!("{name}.tflite"));
    if !model.exists() {
        eprintln!("q8_tflite: {name} missing, skipped (run scripts/gen_q8_tflite_fixtures.py)");
        return None;
    }
    let m = load_network(&model).unwrap_or_else(|e| panic!("{name}: {e}"));
    let q = m.quant.unwrap_or_else(|| panic!("{name}: not quantized"));
    let x = read_npy_file(dir().join(format!("{name}_input.npy"))).unwrap();
    let s = &x.shape;
    let input = Tensor::from_vec(Shape::new(s[0], s[1], s[2], s[3]), x.data).unwrap();
    let y = reference::q8_network_forward(&q, &input).unwrap();
    let per = y.data.len() / s[0];
    let ours = y.data.chunks(per).map(|r| codes(&q, r)).collect();
    Some(Case {
        ours,
        xnnpack: rows(dir().join(format!("{name}_xnnpack.npy"))),
        builtin: rows(dir().join(format!("{name}_builtin.npy"))),
        q,
        input,
    })
}

struct Agreement {
    within1: f64,
    exact: f64,
    top1: f64,
    max_diff: i32,
}

fn agree(a: &[Vec<i32>], b: &[Vec<i32>]) -> Agreement {
    let (mut n, mut w, mut e, mut t, mut max_diff) = (0usize, 0usize, 0usize, 0usize, 0);
    let argmax = |r: &[i32]| {
        r.iter()
            .enumerate()
            .max_by_key(|&(i, &v)| (v, std::cmp::Reverse(i)))
            .map(|(i, _)| i)
    };
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

fn table_row(name: &str, c: &Case) -> (Agreement, Agreement) {
    let (x, b) = (agree(&c.ours, &c.xnnpack), agree(&c.ours, &c.builtin));
    let lx = agree(&c.xnnpack, &c.builtin);
    println!(
        "{name:<28} vs XNNPACK {:>6.2}% {:>6.2}% {:>6.1}% (max {:>2})  vs builtin {:>6.2}% \
         {:>6.2}% {:>6.1}% (max {:>2})  XNNPACK vs builtin {:>6.2}% {:>6.1}%",
        x.within1,
        x.exact,
        x.top1,
        x.max_diff,
        b.within1,
        b.exact,
        b.top1,
        b.max_diff,
        lx.within1,
        lx.top1
    );
    (x, b)
}

/// Every ISA under test runs the network as the reference, bit for bit.
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
        let same = out
            .iter()
            .zip(&want.data)
            .all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(
            same,
            "{name} on {isa:?}: Q8Model differs from the reference"
        );
    }
}

#[test]
fn single_op_models_agree_within_one_with_litert() {
    println!(
        "{:<28} {:>33}  {:>33}",
        "model", "within-1 exact top-1", "within-1 exact top-1"
    );
    for name in SINGLE {
        let Some(c) = load(name) else { continue };
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
    for name in MOBILENETS {
        let Some(c) = load(name) else { continue };
        let (x, _) = table_row(name, &c);
        assert!(x.within1 >= 99.0, "{name}: {:.2}% within 1", x.within1);
        assert!(x.top1 >= 95.0, "{name}: top-1 {:.1}%", x.top1);
        check_isas(name, &c);
    }
}
