//! Depthwise 3x3 on every depthwise layer of MobileNet V1 1.0-224 and 0.25-128, per ISA.
//!
//! Criterion reports time and GB/s (input + output bytes); the summary table at the end,
//! from its own best-of-trials loop, adds GFLOP/s (2 x 9 x outputs) and % of the FMA peak
//! measured in the same run. `SEPCONV_ISA` restricts the run to one ISA.

use criterion::{BenchmarkId, Criterion, Throughput};
use sepconv::kernels::peak::fma_peak_gflops;
use sepconv::net::LayerKind;
use sepconv::ops::depthwise::{depthwise3x3, DepthwiseParams, PackedDepthwise};
use sepconv::{kernel_set, Activation, Isa, MobileNetConfig};
use std::hint::black_box;
use std::time::{Duration, Instant};

struct Layer {
    model: &'static str,
    /// How many layers of the network have this shape.
    count: usize,
    p: DepthwiseParams,
}

impl Layer {
    fn name(&self) -> String {
        let p = &self.p;
        format!(
            "{} {}x{}x{} s{}",
            self.model, p.in_h, p.in_w, p.channels, p.stride
        )
    }
    fn flops(&self) -> f64 {
        (2 * 9 * self.p.out_h() * self.p.out_w() * self.p.channels) as f64
    }
    fn bytes(&self) -> u64 {
        let p = &self.p;
        (4 * p.channels * (p.in_h * p.in_w + p.out_h() * p.out_w())) as u64
    }
}

/// The distinct depthwise layer shapes of a MobileNet V1 (TF SAME padding), in order.
fn layers(model: &'static str, alpha: f32, resolution: usize) -> Vec<Layer> {
    let config = MobileNetConfig {
        alpha,
        resolution,
        ..MobileNetConfig::default()
    };
    let mut out: Vec<Layer> = Vec::new();
    for l in config.layers().unwrap() {
        if l.kind != LayerKind::Depthwise {
            continue;
        }
        let p = DepthwiseParams {
            batch: 1,
            in_h: l.in_h,
            in_w: l.in_w,
            channels: l.in_c,
            stride: l.stride,
            padding: l.padding,
            clamp: Activation::Relu6.clamp(),
        };
        match out.iter_mut().find(|x| x.p == p) {
            Some(x) => x.count += 1,
            None => out.push(Layer { model, count: 1, p }),
        }
    }
    out
}

/// A zeroed buffer of `n` floats starting on a 64-byte boundary (as an arena would give).
struct Aligned {
    buf: Vec<f32>,
    off: usize,
    n: usize,
}

impl Aligned {
    fn new(n: usize, f: impl Fn(usize) -> f32) -> Aligned {
        let mut buf = vec![0.0f32; n + 16];
        let off = buf.as_ptr().align_offset(64);
        for (i, v) in buf[off..off + n].iter_mut().enumerate() {
            *v = f(i);
        }
        Aligned { buf, off, n }
    }
    fn get(&self) -> &[f32] {
        &self.buf[self.off..self.off + self.n]
    }
    fn get_mut(&mut self) -> &mut [f32] {
        &mut self.buf[self.off..self.off + self.n]
    }
}

struct Prepared {
    w: PackedDepthwise,
    input: Aligned,
    output: Aligned,
}

fn prepare(isa: Isa, l: &Layer) -> Prepared {
    let c = l.p.channels;
    let weights: Vec<f32> = (0..9 * c).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
    let bias: Vec<f32> = (0..c).map(|i| (i % 5) as f32 * 0.01).collect();
    let n_in = l.p.in_h * l.p.in_w * c;
    Prepared {
        w: PackedDepthwise::new(kernel_set(isa).unwrap(), c, &weights, &bias).unwrap(),
        input: Aligned::new(n_in, |i| ((i * 7919 % 255) as f32) / 127.5 - 1.0),
        output: Aligned::new(l.p.out_h() * l.p.out_w() * c, |_| 0.0),
    }
}

impl Prepared {
    fn run(&mut self, p: &DepthwiseParams) {
        depthwise3x3(p, &self.w, self.input.get(), self.output.get_mut()).unwrap();
        black_box(self.output.get()[0]);
    }
}

/// Best per-call seconds over many ~0.5 ms trials: short trials are the ones that escape
/// preemption on a shared machine, and the best of them is the kernel's own speed.
fn best_time(l: &Layer, prep: &mut Prepared) -> f64 {
    let t = Instant::now();
    let mut calls = 0;
    while t.elapsed() < Duration::from_millis(5) || calls < 3 {
        prep.run(&l.p);
        calls += 1;
    }
    let per_trial = (calls / 10).max(1);
    (0..60)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_trial {
                prep.run(&l.p);
            }
            t.elapsed().as_secs_f64() / per_trial as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// The FMA peak, best of three measurements (each is itself a best of trials; taking the
/// best again discounts time lost to other processes).
fn peak(isa: Isa) -> f64 {
    (0..3)
        .map(|_| fma_peak_gflops(isa).unwrap())
        .fold(0.0, f64::max)
}

fn isas() -> Vec<Isa> {
    match std::env::var("SEPCONV_ISA") {
        Ok(name) if !name.trim().is_empty() => {
            vec![Isa::resolve(Some(name.parse().unwrap())).unwrap()]
        }
        _ => Isa::available(),
    }
}

fn main() {
    let all: Vec<Layer> = [layers("1.0-224", 1.0, 224), layers("0.25-128", 0.25, 128)]
        .into_iter()
        .flatten()
        .collect();

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600))
        .sample_size(20)
        .configure_from_args();
    for isa in isas() {
        let mut group = c.benchmark_group(format!("depthwise/{isa}"));
        for l in &all {
            let mut prep = prepare(isa, l);
            group.throughput(Throughput::Bytes(l.bytes()));
            group.bench_function(BenchmarkId::from_parameter(l.name()), |b| {
                b.iter(|| prep.run(&l.p))
            });
        }
        group.finish();
    }
    c.final_summary();

    // Skip the table when criterion was only listing or filtering to nothing in particular.
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return;
    }
    println!();
    for isa in isas() {
        let peak = peak(isa);
        println!(
            "{isa}: {} (FMA peak measured now: {peak:.1} GFLOP/s)",
            kernel_set(isa).unwrap().dw3x3_impl
        );
        println!(
            "  {:<28} {:>3} {:>10} {:>9} {:>8} {:>7}",
            "layer", "n", "time us", "GFLOP/s", "GB/s", "% peak"
        );
        let mut totals: Vec<(&str, f64)> = Vec::new();
        for l in &all {
            let mut prep = prepare(isa, l);
            let t = best_time(l, &mut prep);
            let gflops = l.flops() / t / 1e9;
            println!(
                "  {:<28} {:>3} {:>10.2} {:>9.1} {:>8.1} {:>6.1}%",
                l.name(),
                l.count,
                t * 1e6,
                gflops,
                l.bytes() as f64 / t / 1e9,
                100.0 * gflops / peak
            );
            match totals.iter_mut().find(|(m, _)| *m == l.model) {
                Some((_, s)) => *s += t * l.count as f64,
                None => totals.push((l.model, t * l.count as f64)),
            }
        }
        for (model, s) in totals {
            println!(
                "  total of the 13 depthwise layers of {model}: {:.3} ms",
                s * 1e3
            );
        }
        println!();
    }
}
