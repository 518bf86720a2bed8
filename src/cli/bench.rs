//! `sepconv bench`: latency of the built-in MobileNet V1 with seeded weights, GFLOP/s and
//! % of the FMA peak measured in the same process, optionally per layer and as JSON.

use super::plot::{self, Elem, Panel};
use crate::BenchArgs;
use sepconv::kernels::peak::fma_peak_gflops;
use sepconv::net::{Fuse, Model, Network, Options, StepKind};
use sepconv::{MobileNetConfig, MobileNetWeights};
use std::time::Instant;

/// Seed of the built-in weights.
const SEED: u64 = 42;

pub fn run(args: &BenchArgs) -> sepconv::Result<()> {
    let config = MobileNetConfig {
        alpha: args.alpha,
        resolution: args.res,
        ..MobileNetConfig::default()
    };
    let weights = MobileNetWeights::random(&config, SEED, false)?;
    let t = Instant::now();
    let model = Model::build(
        &config,
        &weights,
        Options {
            threads: args.threads,
            cpu: args.isa,
            fuse: args.fuse,
            depth_first: args.depth_first,
        },
    )?;
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let batch = args.batch;
    let mut ws = model.workspace(batch)?;
    let mut other = match args.against {
        Some(fuse) => {
            let options = Options {
                threads: args.threads,
                cpu: args.isa,
                fuse,
                depth_first: None,
            };
            let m = Model::build(&config, &weights, options)?;
            let ws = m.workspace(batch)?;
            Some((m, ws))
        }
        None => None,
    };
    let input: Vec<f32> = bench_input(model.input_len() * batch);
    let mut output = vec![0.0; model.output_len() * batch];
    let steps = model.steps();

    // Warm up (caches, page faults, thread start-up), then size the run count.
    let t = Instant::now();
    for _ in 0..3 {
        model.run(&mut ws, &input, batch, &mut output)?;
    }
    if let Some((m, ws)) = other.as_mut() {
        for _ in 0..3 {
            m.run(ws, &input, batch, &mut output)?;
        }
    }
    let per_run = t.elapsed().as_secs_f64() / 3.0;
    let runs = args
        .runs
        .unwrap_or_else(|| ((2.0 / per_run) as usize).clamp(20, 5000))
        .max(1);

    let mut times = Vec::with_capacity(runs);
    let mut other_times = Vec::with_capacity(runs);
    for i in 0..runs {
        // With a second model, each goes first in every other pair of runs.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for first in order {
            let t = Instant::now();
            if first {
                model.run(&mut ws, &input, batch, &mut output)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            } else if let Some((m, ws)) = other.as_mut() {
                m.run(ws, &input, batch, &mut output)?;
                other_times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let (median, min) = median_min(&mut times);
    let against = other.as_ref().map(|(m, _)| {
        let (median, min) = median_min(&mut other_times);
        (m, median, min)
    });

    // Per-layer: median of each step over profiled runs.
    let step_median = if args.layers {
        step_medians(steps.len(), runs.clamp(5, 200), |laps| {
            model.run_profiled(&mut ws, &input, batch, &mut output, laps)
        })?
    } else {
        vec![0.0; steps.len()]
    };

    let peak_1 = fma_peak_gflops(model.isa())?;
    let peak = peak_1 * args.threads as f64;
    let flops = 2.0 * config.macs()? as f64 * batch as f64;
    let gflops = flops / (median * 1e6);
    let layer_gflops =
        |i: usize| 2.0 * steps[i].macs as f64 * batch as f64 / (step_median[i] * 1e6).max(1e-12);

    if let Some(path) = &args.plot {
        // One point per layer: the layers run whole, not fused or depth-first.
        let layered = Model::build(
            &config,
            &weights,
            Options {
                threads: args.threads,
                cpu: args.isa,
                fuse: Fuse::Never,
                depth_first: Some(0),
            },
        )?;
        let mut lws = layered.workspace(batch)?;
        let lsteps = layered.steps();
        let ms = step_medians(lsteps.len(), runs.clamp(5, 200), |laps| {
            layered.run_profiled(&mut lws, &input, batch, &mut output, laps)
        })?;
        let net = Network::mobilenet(&config)?;
        let panel = Panel {
            title: format!("f32, {}, {} thread(s)", model.isa(), args.threads),
            peak,
            peak_label: format!("FMA peak {peak:.0} GFLOP/s"),
            points: plot::points(&net, &lsteps, &ms, batch, Elem { act: 4, weight: 4 }),
        };
        plot::write_roofline(path, &[panel], &plot::read_bandwidths())?;
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
                        "gflops": layer_gflops(i),
                        "peak_pct": 100.0 * layer_gflops(i) / peak,
                    })
                })
                .collect()
        } else {
            Vec::new()
        };
        let report = serde_json::json!({
            "model": { "alpha": config.alpha, "resolution": config.resolution,
                       "classes": config.classes, "mult_adds": config.macs()? },
            "isa": model.isa().name(),
            "threads": args.threads,
            "fuse": args.fuse.name(),
            "depth_first_blocks": model.depth_first_blocks(),
            "batch": batch,
            "runs": runs,
            "build_ms": build_ms,
            "latency_ms": { "median": median, "min": min },
            "gflops": gflops,
            "peak_gflops": peak,
            "peak_pct": 100.0 * gflops / peak,
            "layers": layers,
            "against": against.map(|(m, median, min)| serde_json::json!({
                "fuse": args.against.map(|f| f.name()),
                "depth_first_blocks": m.depth_first_blocks(),
                "latency_ms": { "median": median, "min": min },
            })),
        });
        println!("{report}");
        return Ok(());
    }

    println!(
        "MobileNet V1 {}-{}: {:.1} M mult-adds/image, batch {batch}, isa {}, {} thread(s), fusion {}, \
         {} block(s) depth-first",
        config.alpha,
        config.resolution,
        config.macs()? as f64 / 1e6,
        model.isa(),
        args.threads,
        args.fuse.name(),
        model.depth_first_blocks()
    );
    println!("build (fold BN + pack weights): {build_ms:.2} ms");
    println!(
        "latency: median {median:.3} ms, min {min:.3} ms over {runs} runs; {gflops:.1} GFLOP/s = \
         {:.1}% of the {peak:.1} GFLOP/s FMA peak ({peak_1:.1} per thread, measured now)",
        100.0 * gflops / peak
    );
    if let (Some((m, o_median, o_min)), Some(fuse)) = (against, args.against) {
        println!(
            "against fusion {} ({} block(s) depth-first), runs alternating: median {o_median:.3} \
             ms, min {o_min:.3} ms; this model takes {:.3}x its median, {:.3}x its min",
            fuse.name(),
            m.depth_first_blocks(),
            median / o_median,
            min / o_min
        );
    }
    if let Some(path) = &args.plot {
        println!("roofline of each layer: {}", path.display());
    }
    if args.layers {
        println!();
        println!(
            "{:<11} {:<5} {:>9} {:>9} {:>7}",
            "layer", "kind", "ms", "GFLOP/s", "%peak"
        );
        let mut by_kind = [0.0f64; 7];
        for (i, s) in steps.iter().enumerate() {
            println!(
                "{:<11} {:<5} {:>9.4} {:>9.1} {:>6.1}%",
                s.name,
                s.kind.name(),
                step_median[i],
                layer_gflops(i),
                100.0 * layer_gflops(i) / peak
            );
            by_kind[s.kind as usize] += step_median[i];
        }
        println!();
        for kind in [
            StepKind::Conv0,
            StepKind::Depthwise,
            StepKind::Pointwise,
            StepKind::Fused,
            StepKind::DepthFirst,
            StepKind::Pool,
            StepKind::Fc,
        ] {
            println!(
                "total {:<5} {:>9.4} ms",
                kind.name(),
                by_kind[kind as usize]
            );
        }
    }
    Ok(())
}

/// Runs `run` (a profiled run filling one time per step) `runs` times (at least one) and
/// returns the median time of each of the `n` steps.
pub(crate) fn step_medians(
    n: usize,
    runs: usize,
    mut run: impl FnMut(&mut [f64]) -> sepconv::Result<()>,
) -> sepconv::Result<Vec<f64>> {
    let mut laps = vec![0.0; n];
    let mut per: Vec<Vec<f64>> = vec![Vec::with_capacity(runs); n];
    for _ in 0..runs.max(1) {
        run(&mut laps)?;
        for (v, &ms) in per.iter_mut().zip(&laps) {
            v.push(ms);
        }
    }
    Ok(per.iter_mut().map(|v| median_min(v).0).collect())
}

/// Sorts `times` (ms, at least one) and returns its median and minimum.
/// The timed input: `len` values in [-1, 1), the same in every bench.
pub(crate) fn bench_input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 % 255) as f32) / 127.5 - 1.0)
        .collect()
}

pub(crate) fn median_min(times: &mut [f64]) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}
