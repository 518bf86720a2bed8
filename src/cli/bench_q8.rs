//! `sepconv bench --dtype int8`: the built-in seeded MobileNet V1 quantized by min/max
//! calibration on seeded images, timed alternately with the same network in f32 (so the
//! ratio is measured under the same conditions; `--against f32`, the default, or `none`
//! for int8 alone), G int8-MAC/s and % of the int8 peak measured in the same process,
//! optionally per layer (and per layer against f32) and as JSON.

use super::bench::{bench_input, median_min};
use super::plot::{self, Elem, Panel};
use crate::BenchArgs;
use sepconv::kernels::peak::fma_peak_gflops;
use sepconv::kernels::peak_q8::q8_peak_gops;
use sepconv::net::q8::quantize::{calibrate_with, quantize, seeded_images, Method};
use sepconv::net::q8::Q8Model;
use sepconv::net::{Fuse, Model, Network, NetworkWeights, Options, StepKind};
use sepconv::{MobileNetConfig, MobileNetWeights};
use std::time::Instant;

/// Seed of the built-in weights (the f32 bench's).
const SEED: u64 = 42;
/// Calibration images (seeded).
const CALIBRATION_IMAGES: usize = 2;

pub fn run(args: &BenchArgs) -> sepconv::Result<()> {
    let config = MobileNetConfig {
        alpha: args.alpha,
        resolution: args.res,
        ..MobileNetConfig::default()
    };
    let weights = MobileNetWeights::random(&config, SEED, false)?;
    let net = Network::mobilenet(&config)?;
    let nw = NetworkWeights::from_mobilenet(&weights);
    let options = Options {
        threads: args.threads,
        cpu: args.isa,
        ..Options::default()
    };
    // Each layer through the f32 kernels of the benched CPU (not the naive reference,
    // which takes seconds per image at 1.0-224).
    let t = Instant::now();
    let images = seeded_images(&net, CALIBRATION_IMAGES, SEED);
    let cal = calibrate_with(&net, &nw, &images, Method::MinMax, options)?;
    let calib_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let q = quantize(&net, &nw, &cal)?;
    let model = Q8Model::build(q, options)?;
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let f32_model = Model::build(&config, &weights, options)?;
    let batch = args.batch;
    let mut ws = model.workspace(batch)?;
    let mut fws = f32_model.workspace(batch)?;
    let input: Vec<f32> = bench_input(model.input_len() * batch);
    let mut output = vec![0.0; model.output_len() * batch];

    let t = Instant::now();
    let with_f32 = args.against_f32;
    for _ in 0..3 {
        model.run(&mut ws, &input, batch, &mut output)?;
        if with_f32 {
            f32_model.run(&mut fws, &input, batch, &mut output)?;
        }
    }
    let per_run = t.elapsed().as_secs_f64() / 3.0;
    let runs = args
        .runs
        .unwrap_or_else(|| ((2.0 / per_run) as usize).clamp(20, 5000))
        .max(1);
    let (mut times, mut f32_times) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for i in 0..runs {
        for int8_first in [i % 2 == 0, i % 2 != 0] {
            let t = Instant::now();
            if int8_first {
                model.run(&mut ws, &input, batch, &mut output)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            } else if with_f32 {
                f32_model.run(&mut fws, &input, batch, &mut output)?;
                f32_times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let (median, min) = median_min(&mut times);
    let (f32_median, f32_min) = if with_f32 {
        median_min(&mut f32_times)
    } else {
        (f64::NAN, f64::NAN)
    };

    // Per layer, f32 runs every layer whole (no fusion, no depth-first), so that its
    // layer groups compare with int8's one to one.
    let f32_layers = Model::build(
        &config,
        &weights,
        Options {
            fuse: Fuse::Never,
            depth_first: Some(0),
            ..options
        },
    )?;
    let mut lws = f32_layers.workspace(batch)?;
    let steps = model.steps();
    let f32_steps = f32_layers.steps();
    let mut step_ms = vec![0.0; steps.len()];
    let mut f32_step_ms = vec![0.0; f32_steps.len()];
    let mut per_step: Vec<Vec<f64>> = vec![Vec::new(); steps.len()];
    let mut f32_per_step: Vec<Vec<f64>> = vec![Vec::new(); f32_steps.len()];
    if args.layers || args.plot.is_some() {
        for _ in 0..runs.clamp(5, 200) {
            model.run_profiled(&mut ws, &input, batch, &mut output, &mut step_ms)?;
            if with_f32 {
                f32_layers.run_profiled(&mut lws, &input, batch, &mut output, &mut f32_step_ms)?;
            }
            for (v, ms) in per_step.iter_mut().zip(&step_ms) {
                v.push(*ms);
            }
            for (v, ms) in f32_per_step.iter_mut().zip(&f32_step_ms) {
                v.push(*ms);
            }
        }
    }
    let medians = |per: &mut Vec<Vec<f64>>| -> Vec<f64> {
        per.iter_mut()
            .map(|v| {
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or(0.0)
            })
            .collect()
    };
    let step_median = medians(&mut per_step);
    let f32_step_median = medians(&mut f32_per_step);
    // Per kind: int8 and f32 totals (the f32 model's steps of the same kind).
    let mut by_kind = [(0.0f64, 0.0f64); 7];
    for (s, ms) in steps.iter().zip(&step_median) {
        by_kind[s.kind as usize].0 += ms;
    }
    for (s, ms) in f32_steps.iter().zip(&f32_step_median) {
        by_kind[s.kind as usize].1 += ms;
    }

    let isa = model.kernels().isa();
    let peak_1 = q8_peak_gops(model.kernels())?;
    let peak = peak_1 * args.threads as f64;
    let fma_1 = fma_peak_gflops(isa)?;
    let ops = 2.0 * config.macs()? as f64 * batch as f64;
    let gops = ops / (median * 1e6);
    let layer_gops =
        |i: usize| 2.0 * steps[i].macs as f64 * batch as f64 / (step_median[i] * 1e6).max(1e-12);

    if let Some(path) = &args.plot {
        let f32_peak = fma_1 * args.threads as f64;
        let mut panels = vec![
            Panel {
                title: format!("f32, {isa}, {} thread(s)", args.threads),
                peak: f32_peak,
                peak_label: format!("FMA peak {f32_peak:.0} GFLOP/s"),
                points: plot::points(&net, &f32_steps, &f32_step_median, batch, F32),
            },
            Panel {
                title: format!("int8, {isa}, {} thread(s)", args.threads),
                peak,
                peak_label: format!("int8 peak {peak:.0} GOP/s"),
                points: plot::points(&net, &steps, &step_median, batch, INT8),
            },
        ];
        if !with_f32 {
            panels.remove(0);
        }
        plot::write_roofline(path, &panels, &plot::read_bandwidths())?;
    }

    if args.json {
        let layers: Vec<serde_json::Value> = if args.layers {
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    serde_json::json!({
                        "name": s.name,
                        "kind": s.kind.name(),
                        "ms": step_median[i],
                        "gops": layer_gops(i),
                        "peak_pct": 100.0 * layer_gops(i) / peak,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let kinds: serde_json::Map<String, serde_json::Value> = KINDS
            .iter()
            .filter(|k| args.layers && by_kind[**k as usize] != (0.0, 0.0))
            .map(|k| {
                let (i8ms, fms) = by_kind[*k as usize];
                (
                    k.name().to_string(),
                    serde_json::json!({ "int8_ms": i8ms, "f32_ms": fms }),
                )
            })
            .collect();
        let report = serde_json::json!({
            "model": { "alpha": config.alpha, "resolution": config.resolution,
                       "classes": config.classes, "mult_adds": config.macs()? },
            "dtype": "int8",
            "isa": isa.name(),
            "kernels": model.kernels().ids().iter().filter(|(op, _)| op.starts_with("q8"))
                .map(|(op, id)| serde_json::json!({ "op": op, "name": id.name }))
                .collect::<Vec<_>>(),
            "threads": args.threads,
            "batch": batch,
            "runs": runs,
            "calibration_ms": calib_ms,
            "build_ms": build_ms,
            "latency_ms": { "median": median, "min": min },
            "gops": gops,
            "peak_gops": peak,
            "peak_pct": 100.0 * gops / peak,
            "peak_gflops": fma_1 * args.threads as f64,
            "f32": if with_f32 {
                serde_json::json!({ "latency_ms": { "median": f32_median, "min": f32_min },
                                    "speedup_median": f32_median / median })
            } else {
                serde_json::Value::Null
            },
            "kinds": kinds,
            "layers": layers,
        });
        println!("{report}");
        return Ok(());
    }

    println!(
        "MobileNet V1 {}-{} int8 (min/max calibration on {CALIBRATION_IMAGES} seeded images): \
         {:.1} M mult-adds/image, batch {batch}, isa {}, {} thread(s)",
        config.alpha,
        config.resolution,
        config.macs()? as f64 / 1e6,
        isa,
        args.threads,
    );
    println!("calibration: {calib_ms:.0} ms; quantize + pack: {build_ms:.2} ms");
    println!(
        "latency: median {median:.3} ms, min {min:.3} ms over {runs} runs; {gops:.1} GOP/s = \
         {:.1}% of the {peak:.1} GOP/s int8 peak ({peak_1:.1} per thread, measured now)",
        100.0 * gops / peak
    );
    if with_f32 {
        println!(
            "f32, runs alternating: median {f32_median:.3} ms, min {f32_min:.3} ms: int8 is \
             {:.2}x faster (median), {:.2}x (min)",
            f32_median / median,
            f32_min / min
        );
    }
    if let Some(path) = &args.plot {
        println!("roofline of each layer, f32 and int8: {}", path.display());
    }
    if args.layers {
        println!();
        println!(
            "{:<11} {:<5} {:>9} {:>9} {:>7}",
            "layer", "kind", "ms", "GOP/s", "%peak"
        );
        for (i, s) in steps.iter().enumerate() {
            println!(
                "{:<11} {:<5} {:>9.4} {:>9.1} {:>6.1}%",
                s.name,
                s.kind.name(),
                step_median[i],
                layer_gops(i),
                100.0 * layer_gops(i) / peak
            );
        }
        println!();
        println!(
            "{:<11} {:>9} {:>9} {:>7}",
            "total", "int8 ms", "f32 ms", "ratio"
        );
        for k in KINDS {
            let (i8ms, fms) = by_kind[k as usize];
            if (i8ms, fms) != (0.0, 0.0) {
                println!(
                    "{:<11} {i8ms:>9.4} {fms:>9.4} {:>6.2}x",
                    k.name(),
                    fms / i8ms.max(1e-12)
                );
            }
        }
    }
    Ok(())
}

const F32: Elem = Elem { act: 4, weight: 4 };
const INT8: Elem = Elem { act: 1, weight: 1 };

const KINDS: [StepKind; 7] = [
    StepKind::Conv0,
    StepKind::Depthwise,
    StepKind::Pointwise,
    StepKind::Fused,
    StepKind::DepthFirst,
    StepKind::Pool,
    StepKind::Fc,
];
