//! `sepconv bench --model FILE [--against-model FILE2]`: latency of model files (a
//! quantized file runs in int8, a float one in f32 or, with `--dtype int8`, quantized on
//! seeded images), each model's runs alternating with the other's so that both see the
//! same machine; the same files that ONNX Runtime and LiteRT time, so their figures
//! compare with these.

use super::bench::{bench_input, median_min};
use crate::{BenchArgs, Dtype};
use sepconv::io::load_network;
use sepconv::net::q8::quantize::{calibrate_with, quantize, seeded_images, Method};
use sepconv::net::q8::{Q8Model, Q8Workspace};
use sepconv::net::{Model, Options, Workspace};
use sepconv::Result;
use std::path::Path;
use std::time::Instant;

/// Seeded calibration of a float file with `--dtype int8` (`bench --dtype int8`'s).
const CALIBRATION_IMAGES: usize = 2;
const CALIBRATION_SEED: u64 = 42;

/// One timed model with its buffers.
// Two per command, on the stack: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Timed {
    F32(Model, Workspace),
    Int8(Q8Model, Q8Workspace),
}

struct Entry {
    path: String,
    dtype: &'static str,
    timed: Timed,
    input: Vec<f32>,
    output: Vec<f32>,
    macs: usize,
    build_ms: f64,
    times: Vec<f64>,
}

impl Entry {
    fn load(path: &Path, args: &BenchArgs) -> Result<Entry> {
        let m = load_network(path)?;
        let options = Options {
            threads: args.threads,
            cpu: args.isa,
            ..Options::default()
        };
        let batch = args.batch;
        let t = Instant::now();
        let timed = match (&m.quant, args.dtype) {
            (Some(q), _) => {
                let model = Q8Model::build(q.clone(), options)?;
                let ws = model.workspace(batch)?;
                Timed::Int8(model, ws)
            }
            (None, Dtype::Int8) => {
                let images = seeded_images(&m.network, CALIBRATION_IMAGES, CALIBRATION_SEED);
                let cal = calibrate_with(&m.network, &m.weights, &images, Method::MinMax, options)?;
                let model = Q8Model::build(quantize(&m.network, &m.weights, &cal)?, options)?;
                let ws = model.workspace(batch)?;
                Timed::Int8(model, ws)
            }
            (None, Dtype::F32) => {
                let model = Model::build_network(&m.network, &m.weights, options)?;
                let ws = model.workspace(batch)?;
                Timed::F32(model, ws)
            }
        };
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let net = &m.network;
        let input = bench_input(net.input_len() * batch);
        let macs = net.macs();
        Ok(Entry {
            path: path.display().to_string(),
            dtype: match timed {
                Timed::F32(..) => "f32",
                Timed::Int8(..) => "int8",
            },
            timed,
            input,
            output: vec![0.0; net.output_len() * batch],
            macs,
            build_ms,
            times: Vec::new(),
        })
    }

    fn run(&mut self, batch: usize) -> Result<f64> {
        let t = Instant::now();
        match &mut self.timed {
            Timed::F32(m, ws) => m.run(ws, &self.input, batch, &mut self.output)?,
            Timed::Int8(m, ws) => m.run(ws, &self.input, batch, &mut self.output)?,
        }
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }
}

pub fn run(args: &BenchArgs, model: &Path) -> Result<()> {
    let mut entries = vec![Entry::load(model, args)?];
    if let Some(other) = &args.against_model {
        entries.push(Entry::load(other, args)?);
    }
    let batch = args.batch;
    let t = Instant::now();
    for _ in 0..3 {
        for e in entries.iter_mut() {
            e.run(batch)?;
        }
    }
    let per_round = t.elapsed().as_secs_f64() / 3.0;
    let runs = args
        .runs
        .unwrap_or_else(|| ((2.0 / per_round) as usize).clamp(20, 5000))
        .max(1);
    for i in 0..runs {
        // Alternate which goes first, so neither always runs on the other's warm caches.
        let order: Vec<usize> = if i % 2 == 0 {
            (0..entries.len()).collect()
        } else {
            (0..entries.len()).rev().collect()
        };
        for k in order {
            let ms = entries[k].run(batch)?;
            entries[k].times.push(ms);
        }
    }
    let rows: Vec<(f64, f64)> = entries
        .iter_mut()
        .map(|e| median_min(&mut e.times))
        .collect();
    if args.json {
        let models: Vec<serde_json::Value> = entries
            .iter()
            .zip(&rows)
            .map(|(e, (median, min))| {
                serde_json::json!({
                    "model": e.path,
                    "dtype": e.dtype,
                    "median_ms": median,
                    "min_ms": min,
                    "build_ms": e.build_ms,
                    "gops": 2.0 * e.macs as f64 * batch as f64 / (median * 1e6),
                })
            })
            .collect();
        let report = serde_json::json!({
            "threads": args.threads,
            "batch": batch,
            "runs": runs,
            "models": models,
        });
        println!("{report}");
        return Ok(());
    }
    println!(
        "{} run(s) each, {} thread(s), batch {batch}, alternating",
        runs, args.threads
    );
    for (e, (median, min)) in entries.iter().zip(&rows) {
        println!(
            "{:<5} {}: median {median:.3} ms, min {min:.3} ms, {:.1} G ops/s (build {:.1} ms)",
            e.dtype,
            e.path,
            2.0 * e.macs as f64 * batch as f64 / (median * 1e6),
            e.build_ms
        );
    }
    if let [(a, _), (b, _)] = rows.as_slice() {
        println!("ratio (first / second, medians): {:.3}", a / b);
    }
    Ok(())
}
