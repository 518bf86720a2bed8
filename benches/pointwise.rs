//! Pointwise GEMM speed per ISA: (a) the bare microkernel on an L1/L2-resident panel,
//! K = 256, 512, 1024; (b) the full operator on every pointwise layer of MobileNet V1
//! 1.0-224 and 0.25-128, and (c) the narrow layers of the small width multipliers (K = 27
//! GEMMs of conv0's former im2col path, the first pointwise layers, the alpha-0.75 widths,
//! the batch-1 classifier). Criterion measures each; a summary table from a plain timing
//! loop follows, in GFLOP/s and % of the FMA peak measured in the same run (before and
//! after each ISA's table, to show drift on a shared machine).
//!
//! `SEPCONV_ISA=avx2 cargo bench --bench pointwise` restricts to one ISA; without it
//! every SIMD ISA of the host is measured (scalar only if forced).

use criterion::{Criterion, Throughput};
use sepconv::kernels::f32_gemm::{GemmArgs, GemmKernel};
use sepconv::kernels::mat::MatMut;
use sepconv::kernels::peak::fma_peak_gflops;
use sepconv::net::LayerKind;
use sepconv::ops::pointwise::{pointwise, PackedGemmB};
use sepconv::{kernel_set, Clamp, Isa};
use std::hint::black_box;
use std::time::{Duration, Instant};

mod common;

/// (M, N, K, times in the network).
type Layer = (usize, usize, usize, usize);

/// The distinct pointwise layers of MobileNet V1 at `alpha` and `resolution`, as GEMMs.
fn mobilenet(alpha: f32, resolution: usize) -> Vec<Layer> {
    common::mobilenet_layers(alpha, resolution, LayerKind::Pointwise)
        .into_iter()
        .map(|(l, count)| (l.out_h * l.out_w, l.out_c, l.in_c, count))
        .collect()
}

/// The narrow layers of the small width multipliers, where a 32-wide tile wastes lanes:
/// the first pointwise layers, and the K = 27 GEMMs that conv0 was as im2col + GEMM
/// (benches/conv0.rs times the direct kernel that replaced it).
const NARROW: [Layer; 9] = [
    (4096, 8, 27, 1),   // 0.25-128 conv0
    (4096, 16, 27, 1),  // 0.5-128 conv0
    (4096, 16, 8, 1),   // 0.25-128 pw1
    (4096, 32, 16, 1),  // 0.5-128 pw1
    (12544, 24, 27, 1), // 0.75-224 conv0
    (12544, 48, 24, 1), // 0.75-224 pw1
    (3136, 96, 48, 1),  // 0.75-224 pw2
    (784, 192, 96, 1),  // 0.75-224 pw4
    (1, 1000, 256, 1),  // 0.25 classifier, batch 1
];

/// Every pointwise layer of MobileNet V1 1.0-224 and 0.25-128, and the narrow layers.
fn nets() -> [(&'static str, Vec<Layer>); 3] {
    [
        ("1.0-224", mobilenet(1.0, 224)),
        ("0.25-128", mobilenet(0.25, 128)),
        ("narrow", NARROW.to_vec()),
    ]
}

const UKERNEL_KS: [usize; 3] = [256, 512, 1024];

/// Every GEMM kernel of `isa`'s set: the wide one, then the narrow ones.
fn gemm_kernels(isa: Isa) -> Vec<&'static GemmKernel> {
    kernel_set(isa).unwrap().gemms().collect()
}

/// The ISAs to time: the scalar GEMM has no microkernel worth a table.
fn isas() -> Vec<Isa> {
    let all = common::isas();
    if all.len() == 1 {
        return all;
    }
    all.into_iter().filter(|&i| i != Isa::Scalar).collect()
}

fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 16) as f32 / 65536.0 - 0.5
        })
        .collect()
}

/// Operands of the bare-microkernel benchmark: one MR x K tile of A, one packed panel.
struct Ukernel {
    g: &'static GemmKernel,
    k: usize,
    a: Vec<f32>,
    panel: Vec<f32>,
    c: Vec<f32>,
}

impl Ukernel {
    fn new(g: &'static GemmKernel, k: usize) -> Self {
        Ukernel {
            g,
            k,
            a: data(g.mr * k, 1),
            panel: data((k + 1) * g.nr, 2),
            c: vec![0.0; g.mr * g.nr],
        }
    }

    fn flops(&self) -> f64 {
        2.0 * (self.g.mr * self.g.nr * self.k) as f64
    }

    fn run(&mut self) {
        let g = self.g;
        (g.ukernel)(GemmArgs {
            mr: g.mr,
            nr: g.nr,
            kc: self.k,
            a: black_box(&self.a),
            lda: self.k,
            panel: &self.panel,
            c: MatMut::new(&mut self.c, g.mr, g.nr, g.nr).unwrap(),
            clamp: Clamp::NONE,
        })
        .unwrap();
    }
}

/// Operands of one layer.
struct LayerRun {
    m: usize,
    n: usize,
    k: usize,
    b: PackedGemmB,
    a: Vec<f32>,
    c: Vec<f32>,
}

impl LayerRun {
    /// Packed for the kernel `PackedGemmB::new` chooses, or for `kernel` if given.
    fn new(isa: Isa, (m, n, k, _): Layer, kernel: Option<&'static GemmKernel>) -> Self {
        let ks = kernel_set(isa).unwrap();
        let (w, bias) = (data(n * k, 3), data(n, 4));
        let b = match kernel {
            None => PackedGemmB::new(ks, k, n, &w, &bias),
            Some(g) => PackedGemmB::with_kernel(ks, g, k, n, &w, &bias),
        }
        .unwrap();
        LayerRun {
            m,
            n,
            k,
            b,
            a: data(m * k, 5),
            c: vec![0.0; m * n],
        }
    }

    fn flops(&self) -> f64 {
        2.0 * (self.m * self.n * self.k) as f64
    }

    fn run(&mut self) {
        let relu6 = Clamp { min: 0.0, max: 6.0 };
        pointwise(
            &self.b,
            self.m,
            black_box(&self.a),
            self.k,
            &mut self.c,
            self.n,
            relu6,
        )
        .unwrap();
    }
}

fn criterion_benches(c: &mut Criterion) {
    for isa in isas() {
        for gk in gemm_kernels(isa) {
            let mut g = c.benchmark_group(format!("gemm_ukernel/{isa}/{}x{}", gk.mr, gk.nr));
            for k in UKERNEL_KS {
                let mut u = Ukernel::new(gk, k);
                g.throughput(Throughput::Elements(u.flops() as u64));
                g.bench_function(format!("k{k}"), |b| b.iter(|| u.run()));
            }
            g.finish();
        }
        for (net, layers) in nets() {
            let mut g = c.benchmark_group(format!("pointwise/{isa}/{net}"));
            for layer in layers {
                let mut l = LayerRun::new(isa, layer, None);
                g.throughput(Throughput::Elements(l.flops() as u64));
                g.bench_function(format!("{}x{}x{}", layer.0, layer.1, layer.2), |b| {
                    b.iter(|| l.run())
                });
            }
            g.finish();
        }
    }
}

/// Seconds per call: the best of 25 batches of >= 2 ms each. Short batches fit between
/// the scheduler's preemptions on a loaded machine, and the best of them is the
/// undisturbed speed.
fn seconds_per_call(mut f: impl FnMut()) -> f64 {
    f();
    let mut iters = 1u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        if t.elapsed() >= Duration::from_millis(2) {
            break;
        }
        iters *= 2;
    }
    common::best_of(25, iters, f)
}

/// Rounds over all shapes: each shape keeps its best time over the rounds, and the peak
/// is re-measured before every shape of every round and its best kept, so a burst of load
/// from other processes (this machine is shared) spoils one sample, not the table.
const ROUNDS: usize = 4;

fn summary() {
    println!("\n== pointwise GEMM summary (own timing loop, best of {ROUNDS} rounds) ==");
    for isa in isas() {
        let g = kernel_set(isa).unwrap().gemm;
        let kernels = gemm_kernels(isa);
        let mut ukernels: Vec<Ukernel> = kernels
            .iter()
            .flat_map(|&gk| UKERNEL_KS.iter().map(move |&k| Ukernel::new(gk, k)))
            .collect();
        // Every kernel of the set forced on every narrow layer: the data behind `col_cost`.
        let mut forced: Vec<(Layer, LayerRun)> = NARROW
            .iter()
            .flat_map(|&l| kernels.iter().map(move |&gk| (l, gk)))
            .map(|(l, gk)| (l, LayerRun::new(isa, l, Some(gk))))
            .collect();
        let nets = nets();
        let mut layers: Vec<(&str, Layer, LayerRun)> = nets
            .iter()
            .flat_map(|(net, ls)| ls.iter().map(move |&l| (*net, l)))
            .map(|(net, l)| (net, l, LayerRun::new(isa, l, None)))
            .collect();
        let mut peaks = Vec::new();
        let mut t_uk = vec![f64::INFINITY; ukernels.len()];
        let mut t_layer = vec![f64::INFINITY; layers.len()];
        let mut t_forced = vec![f64::INFINITY; forced.len()];
        for _ in 0..ROUNDS {
            for (t, u) in t_uk.iter_mut().zip(&mut ukernels) {
                peaks.push(fma_peak_gflops(isa).unwrap());
                *t = t.min(seconds_per_call(|| u.run()));
            }
            for (t, (_, _, l)) in t_layer.iter_mut().zip(&mut layers) {
                peaks.push(fma_peak_gflops(isa).unwrap());
                *t = t.min(seconds_per_call(|| l.run()));
            }
            for (t, (_, l)) in t_forced.iter_mut().zip(&mut forced) {
                *t = t.min(seconds_per_call(|| l.run()));
            }
        }
        peaks.push(fma_peak_gflops(isa).unwrap());
        let peak = peaks.iter().copied().fold(0.0, f64::max);
        let low = peaks.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "\n{isa}: {} ({}x{}), FMA peak {peak:.1} GFLOP/s (best of {} measured in this run, lowest {low:.1})",
            g.id.name,
            g.mr,
            g.nr,
            peaks.len()
        );
        println!(
            "{:<30} {:>10} {:>9}  tile",
            "shape (M x N x K)", "GFLOP/s", "% peak"
        );
        let row = |name: String, gflops: f64, tile: String| {
            println!(
                "{name:<30} {gflops:>10.1} {:>8.1}%  {tile}",
                100.0 * gflops / peak
            );
        };
        let tile = |g: &GemmKernel| format!("{}x{}", g.mr, g.nr);
        for (u, t) in ukernels.iter().zip(&t_uk) {
            row(
                format!("ukernel {} k={}", tile(u.g), u.k),
                u.flops() / t / 1e9,
                String::new(),
            );
        }
        for (net, _) in &nets {
            let (mut flops, mut secs) = (0.0, 0.0);
            for ((name, layer, l), t) in layers
                .iter()
                .zip(&t_layer)
                .filter(|((n, _, _), _)| n == net)
            {
                flops += l.flops() * layer.3 as f64;
                secs += t * layer.3 as f64;
                row(
                    format!("{name} {}x{}x{} (x{})", layer.0, layer.1, layer.2, layer.3),
                    l.flops() / t / 1e9,
                    tile(l.b.gemm()),
                );
            }
            row(
                format!("{net} all pointwise"),
                flops / secs / 1e9,
                String::new(),
            );
            println!(
                "{:<30} {:>10.3} ms",
                format!("{net} pointwise time"),
                secs * 1e3
            );
        }
        println!("every tile forced on the narrow layers:");
        for ((layer, l), t) in forced.iter().zip(&t_forced) {
            row(
                format!("  {}x{}x{}", layer.0, layer.1, layer.2),
                l.flops() / t / 1e9,
                tile(l.b.gemm()),
            );
        }
    }
}

fn main() {
    let mut c = common::criterion(10);
    criterion_benches(&mut c);
    c.final_summary();
    if std::env::var_os("SEPCONV_BENCH_NO_SUMMARY").is_none() {
        summary();
    }
}
