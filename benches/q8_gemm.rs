//! Int8 pointwise GEMM speed per x86 kernel on MobileNet V1 1.0-224's pointwise layers
//! (M = H x W, K = input channels, N = output channels), in G int8 multiply-adds per
//! second and % of the kernel's dot-product peak measured in the same run
//! (`vpdpbusd` zmm / ymm, or `vpmaddwd` + `vpaddd` pairs for AVX2 without VNNI), with the
//! f32 pointwise operator on the same shapes (GFMA/s) for the int8 / f32 ratio.
//!
//! `cargo bench --bench q8_gemm -- none` prints only the summary table (criterion's
//! filter matches nothing); `SEPCONV_ISA=avx2` restricts both kernel families to AVX2.

use criterion::{Criterion, Throughput};
use sepconv::kernels::peak_q8::q8_kernel_peak_gops;
use sepconv::kernels::q8_gemm::{gemm, PackedQ8B, Q8GemmKernel, Q8Out, TABLE};
use sepconv::ops::pointwise::{pointwise, PackedGemmB};
use sepconv::quant::OutQ;
use sepconv::{kernel_set, Clamp, Cpu, Isa};
use std::hint::black_box;

mod common;

/// (M, N, K, times in the network): the 13 pointwise layers of MobileNet V1 1.0-224.
const LAYERS: [(usize, usize, usize, usize); 9] = [
    (112 * 112, 64, 32, 1),
    (56 * 56, 128, 64, 1),
    (56 * 56, 128, 128, 1),
    (28 * 28, 256, 128, 1),
    (28 * 28, 256, 256, 1),
    (14 * 14, 512, 256, 1),
    (14 * 14, 512, 512, 5),
    (7 * 7, 1024, 512, 1),
    (7 * 7, 1024, 1024, 1),
];

fn macs((m, n, k, _): (usize, usize, usize, usize)) -> f64 {
    (m * n * k) as f64
}

/// The kernels of `TABLE` the selected CPU runs, but the scalar one.
fn kernels() -> Vec<&'static Q8GemmKernel> {
    let cpu = Cpu::selected().unwrap();
    TABLE
        .iter()
        .filter(|k| k.id.runs_on(cpu) && k.id.isa != Isa::Scalar)
        .collect()
}

/// The peak (GOP/s, 2 per multiply-add) of the instruction `kernel`'s inner loop uses.
fn peak_gops(kernel: &Q8GemmKernel) -> f64 {
    let probe = || q8_kernel_peak_gops(&kernel.id).unwrap();
    (0..3).map(|_| probe()).fold(0.0, f64::max)
}

struct Q8Run {
    m: usize,
    k: usize,
    b: PackedQ8B,
    a: Vec<u8>,
    c: Vec<u8>,
    n: usize,
}

impl Q8Run {
    fn new(kernel: &'static Q8GemmKernel, (m, n, k, _): (usize, usize, usize, usize)) -> Self {
        let w: Vec<i8> = (0..n * k).map(|i| (i * 7919 % 255) as i8).collect();
        let bias: Vec<i32> = (0..n).map(|i| i as i32 * 31 - 1000).collect();
        let scale: Vec<f32> = (0..n).map(|i| 1e-4 * (1.0 + (i % 7) as f32)).collect();
        let b = PackedQ8B::new(kernel, &w, k, &bias, &scale, 3).unwrap();
        Q8Run {
            m,
            k,
            b,
            a: (0..m * k + 64).map(|i| (i * 131 % 251) as u8).collect(),
            c: vec![0; m * n],
            n,
        }
    }

    fn run(&mut self) {
        let out = OutQ::new(5, 5, 250).unwrap();
        gemm(
            &self.b,
            black_box(&self.a),
            self.m,
            self.k,
            Q8Out::U8 {
                c: &mut self.c,
                out,
            },
            self.n,
        )
        .unwrap();
    }
}

struct F32Run {
    m: usize,
    k: usize,
    n: usize,
    b: PackedGemmB,
    a: Vec<f32>,
    c: Vec<f32>,
}

impl F32Run {
    fn new(isa: Isa, (m, n, k, _): (usize, usize, usize, usize)) -> Self {
        let (w, bias) = common::filter(n, k);
        let b = PackedGemmB::new(kernel_set(isa).unwrap(), k, n, &w, &bias).unwrap();
        F32Run {
            m,
            k,
            n,
            b,
            a: (0..m * k).map(common::pixel).collect(),
            c: vec![0.0; m * n],
        }
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
    for kernel in kernels() {
        let mut g = c.benchmark_group(format!("q8_gemm/{}", kernel.id.name));
        for l in LAYERS {
            let mut r = Q8Run::new(kernel, l);
            g.throughput(Throughput::Elements(macs(l) as u64));
            g.bench_function(format!("{}x{}x{}", l.0, l.1, l.2), |b| b.iter(|| r.run()));
        }
        g.finish();
    }
}

fn summary() {
    println!("\n== int8 pointwise GEMM, MobileNet V1 1.0-224 (G int8-MAC/s, % of peak) ==");
    let mut int8_totals = Vec::new();
    for kernel in kernels() {
        let before = peak_gops(kernel);
        let times: Vec<f64> = LAYERS
            .iter()
            .map(|&l| {
                let mut r = Q8Run::new(kernel, l);
                common::best_time(|| r.run())
            })
            .collect();
        let peak = before.max(peak_gops(kernel));
        let peak_mac = peak / 2.0;
        println!(
            "\n{} ({}x{}, kr {}): peak {peak:.1} GOP/s = {peak_mac:.1} GMAC/s (before {before:.1})",
            kernel.id.name, kernel.mr, kernel.nr, kernel.kr
        );
        println!(
            "{:<24} {:>10} {:>8}",
            "M x N x K (count)", "GMAC/s", "% peak"
        );
        let (mut all, mut all_t, mut big, mut big_t) = (0.0, 0.0, 0.0, 0.0);
        for (&l, &t) in LAYERS.iter().zip(&times) {
            let rate = macs(l) / t / 1e9;
            println!(
                "{:<24} {rate:>10.1} {:>7.1}%",
                format!("{}x{}x{} (x{})", l.0, l.1, l.2, l.3),
                100.0 * rate / peak_mac
            );
            all += macs(l) * l.3 as f64;
            all_t += t * l.3 as f64;
            if l.2 >= 256 {
                big += macs(l) * l.3 as f64;
                big_t += t * l.3 as f64;
            }
        }
        for (name, m, t) in [
            ("K >= 256 layers", big, big_t),
            ("all 13 layers", all, all_t),
        ] {
            let rate = m / t / 1e9;
            println!(
                "{name:<24} {rate:>10.1} {:>7.1}%   {:.3} ms",
                100.0 * rate / peak_mac,
                t * 1e3
            );
        }
        int8_totals.push((kernel.id.name, kernel.id.isa, all / all_t));
    }

    println!("\n== f32 pointwise operator, same shapes (GFMA/s) ==");
    for isa in common::isas().into_iter().filter(|&i| i != Isa::Scalar) {
        let fma = common::peak(isa) / 2.0;
        let (mut all, mut all_t) = (0.0, 0.0);
        for l in LAYERS {
            let mut r = F32Run::new(isa, l);
            let t = common::best_time(|| r.run());
            all += macs(l) * l.3 as f64;
            all_t += t * l.3 as f64;
        }
        let rate = all / all_t / 1e9;
        println!(
            "{isa}: {} all 13 layers {rate:.1} GFMA/s ({:.1}% of {fma:.1}), {:.3} ms",
            kernel_set(isa).unwrap().gemm.id.name,
            100.0 * rate / fma,
            all_t * 1e3
        );
        for (name, kisa, macs_s) in &int8_totals {
            if *kisa == isa {
                println!(
                    "  int8 {name}: {:.1} GMAC/s, {:.2}x the f32 rate",
                    macs_s / 1e9,
                    macs_s / 1e9 / rate
                );
            }
        }
    }
}

fn main() {
    let mut c = common::criterion(10);
    criterion_benches(&mut c);
    c.final_summary();
    if !common::listing_only() {
        summary();
    }
}
