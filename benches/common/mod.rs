//! Helpers shared by the benches' summary tables.

use sepconv::kernels::peak::fma_peak_gflops;
use sepconv::Isa;
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

/// The FMA peak, best of three measurements (each is itself a best of trials; taking the
/// best again discounts time lost to other processes).
#[allow(dead_code)] // not every bench prints % of peak from one measurement
pub fn peak(isa: Isa) -> f64 {
    (0..3)
        .map(|_| fma_peak_gflops(isa).unwrap())
        .fold(0.0, f64::max)
}

/// Best per-call seconds of `run` over 400 trials of about 0.5 ms: short trials are the
/// ones that escape preemption on a shared machine, and the best of them is the
/// kernel's own speed. (60 trials left L2-resident layers 20-40% slow in noisy phases:
/// 28x28x256 depthwise read 61 us, against 40-43 with 400.)
#[allow(dead_code)] // the pointwise bench batches its calls its own way
pub fn best_time(mut run: impl FnMut()) -> f64 {
    let t = Instant::now();
    let mut calls = 0;
    while t.elapsed() < Duration::from_millis(5) || calls < 3 {
        run();
        calls += 1;
    }
    let per_trial = (calls / 10).max(1);
    (0..400)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_trial {
                run();
            }
            t.elapsed().as_secs_f64() / per_trial as f64
        })
        .fold(f64::INFINITY, f64::min)
}
