//! Models from the real exporters (scripts/gen_exporter_fixtures.py: tf2onnx from Keras and
//! from a SavedModel, Keras 3's ONNX export, PyTorch's TorchScript and dynamo exporters,
//! TFLiteConverter), each against its exporter's own runtime (ONNX Runtime, LiteRT): the
//! runner on every ISA under test matches within 1e-4 of the output's largest magnitude.

use sepconv::io::{self, graph::Layout};
use sepconv::net::{Model, Options};
use std::path::{Path, PathBuf};

mod common;

/// Largest error allowed, relative to the largest magnitude of the expected output.
const REL_TOL: f32 = 1e-4;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exporters")
}

/// Every fixture: (name, model path).
fn fixtures() -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(dir())
        .expect("tests/fixtures/exporters")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let ext = p.extension()?.to_str()?;
            let stem = p.file_stem()?.to_str()?.to_string();
            matches!(ext, "onnx" | "tflite").then(|| (stem, p.clone()))
        })
        .collect();
    v.sort();
    v
}

/// The largest |got - want| over max |want|.
fn rel_error(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-30);
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f32, |m, (g, w)| m.max((g - w).abs()));
    err / scale
}

fn run_fixture(name: &str, path: &Path, isa: sepconv::Isa, threads: usize) -> f32 {
    let m = io::load_network(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let input = io::read_npy_file(dir().join(format!("{name}_input.npy"))).unwrap();
    let want = io::read_npy_file(dir().join(format!("{name}_output.npy"))).unwrap();
    let model = Model::build_network(
        &m.network,
        &m.weights,
        Options {
            threads,
            cpu: Some(sepconv::Cpu::with_isa(isa).unwrap()),
            ..Options::default()
        },
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    let batch = input.shape[0];
    assert_eq!(
        input.data.len(),
        batch * m.network.input_len(),
        "{name}: input {:?}",
        input.shape
    );
    let mut ws = model.workspace(batch).unwrap();
    let mut out = vec![0.0; batch * m.network.output_len()];
    match m.input_layout {
        Layout::Nhwc => model.run(&mut ws, &input.data, batch, &mut out),
        Layout::Nchw => model.run_nchw(&mut ws, &input.data, batch, &mut out),
    }
    .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(
        out.len(),
        want.data.len(),
        "{name}: output {:?} vs the runtime's {:?}",
        m.network.output_dims(),
        want.shape
    );
    rel_error(&out, &want.data)
}

#[test]
fn every_exporter_fixture_matches_its_runtime_on_every_isa() {
    let all = fixtures();
    assert!(!all.is_empty(), "no fixtures in {}", dir().display());
    for isa in common::isas_under_test() {
        for (name, path) in &all {
            for threads in [1, 2] {
                let e = run_fixture(name, path, isa, threads);
                println!("{name} {isa} {threads}T: max relative error {e:.2e}");
                assert!(
                    e <= REL_TOL,
                    "{name} on {isa} at {threads} threads: {e:.2e}"
                );
            }
        }
    }
}

#[test]
fn info_lists_each_fixture() {
    for (name, path) in fixtures() {
        let m = io::load_network(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!m.network.layers.is_empty(), "{name}");
        // MobileNets from the exporters are recognised as such (the tuned path), the
        // include_top=False ones are embeddings.
        if name.contains("notop") {
            assert!(
                m.network.head.pool && m.network.head.classes.is_none(),
                "{name}"
            );
        }
    }
}
