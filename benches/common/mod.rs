//! Helpers shared by the benches: the ISAs to time, criterion's settings, the MobileNet
//! layers, deterministic operands, and the best-of-trials timing of the summary tables.
#![allow(dead_code)] // not every bench uses every helper

use criterion::{BenchmarkId, Criterion, Throughput};
use sepconv::kernels::peak::fma_peak_gflops;
use sepconv::net::{LayerKind, LayerSpec};
use sepconv::{Isa, MobileNetConfig};
use std::time::{Duration, Instant};

/// The ISA named by `SEPCONV_ISA`, else every ISA this CPU runs.
pub fn isas() -> Vec<Isa> {
    match std::env::var("SEPCONV_ISA") {
        Ok(name) if !name.trim().is_empty() => {
            vec![Isa::resolve(Some(name.parse().expect("a known ISA"))).unwrap()]
        }
        _ => Isa::available(),
    }
}

/// Criterion with short runs of `samples` samples (the summary tables time more carefully).
pub fn criterion(samples: usize) -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600))
        .sample_size(samples)
        .configure_from_args()
}

/// One criterion group per ISA of [`isas`], named `op/isa`, with one benchmark per layer:
/// `prepare` gives its name, the bytes it moves and the call to time.
pub fn bench_layers<L, F: FnMut()>(
    c: &mut Criterion,
    op: &str,
    layers: &[L],
    mut prepare: impl FnMut(Isa, &L) -> (String, u64, F),
) {
    for isa in isas() {
        let mut group = c.benchmark_group(format!("{op}/{isa}"));
        for l in layers {
            let (name, bytes, mut run) = prepare(isa, l);
            group.throughput(Throughput::Bytes(bytes));
            group.bench_function(BenchmarkId::from_parameter(name), |b| b.iter(&mut run));
        }
        group.finish();
    }
}

/// Whether criterion was only listing or testing the benches (no summary table then).
pub fn listing_only() -> bool {
    std::env::args().any(|a| a == "--list" || a == "--test")
}

/// The distinct layers of `kind` of MobileNet V1 at `alpha` and `resolution` (TF SAME
/// padding), in order, each with how many layers of the network have its shape.
pub fn mobilenet_layers(alpha: f32, resolution: usize, kind: LayerKind) -> Vec<(LayerSpec, usize)> {
    let config = MobileNetConfig {
        alpha,
        resolution,
        ..MobileNetConfig::default()
    };
    let shape = |l: &LayerSpec| LayerSpec {
        name: String::new(),
        ..l.clone()
    };
    let mut out: Vec<(LayerSpec, usize)> = Vec::new();
    for l in config
        .layers()
        .unwrap()
        .into_iter()
        .filter(|l| l.kind == kind)
    {
        match out.iter_mut().find(|(x, _)| shape(x) == shape(&l)) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    out
}

/// Filter taps (`taps` per channel, in +-0.3) and bias (0..0.04) of `channels` channels.
pub fn filter(channels: usize, taps: usize) -> (Vec<f32>, Vec<f32>) {
    let weights = (0..channels * taps)
        .map(|i| ((i % 7) as f32 - 3.0) * 0.1)
        .collect();
    let bias = (0..channels).map(|i| (i % 5) as f32 * 0.01).collect();
    (weights, bias)
}

/// Image values in [-1, 1], spread over the range.
pub fn pixel(i: usize) -> f32 {
    ((i * 7919 % 255) as f32) / 127.5 - 1.0
}

/// Measures the FMA peak and prints the head of `isa`'s summary table, naming its
/// `kernel`; returns the peak.
pub fn summary_head(isa: Isa, kernel: &str) -> f64 {
    let peak = peak(isa);
    println!("{isa}: {kernel} (FMA peak measured now: {peak:.1} GFLOP/s)");
    peak
}

/// Best per-call seconds over `trials` trials of `calls` calls each.
pub fn best_of(trials: usize, calls: u64, mut run: impl FnMut()) -> f64 {
    (0..trials)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                run();
            }
            t.elapsed().as_secs_f64() / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// The FMA peak, best of three measurements (each is itself a best of trials; taking the
/// best again discounts time lost to other processes).
pub fn peak(isa: Isa) -> f64 {
    (0..3)
        .map(|_| fma_peak_gflops(isa).unwrap())
        .fold(0.0, f64::max)
}

/// Best per-call seconds of `run` over 400 trials of about 0.5 ms: short trials are the
/// ones that escape preemption on a shared machine, and the best of them is the
/// kernel's own speed. (60 trials left L2-resident layers 20-40% slow in noisy phases:
/// 28x28x256 depthwise read 61 us, against 40-43 with 400.)
pub fn best_time(mut run: impl FnMut()) -> f64 {
    let t = Instant::now();
    let mut calls = 0;
    while t.elapsed() < Duration::from_millis(5) || calls < 3 {
        run();
        calls += 1;
    }
    best_of(400, (calls / 10).max(1), run)
}
