//! Int8 depthwise 3x3 on the 13 depthwise layers of MobileNet V1 1.0-224 (9 distinct
//! shapes, TF SAME padding), one thread, per q8 kernel this CPU runs; the summary table
//! gives each shape's best time, G MAC/s (9 per output), and the 13-layer total beside the
//! f32 depthwise of the same kernel set on the same layers.

use criterion::{BenchmarkId, Throughput};
use sepconv::kernels::q8_dwconv::{Q8DwKernel, TABLE};
use sepconv::net::LayerKind;
use sepconv::ops::depthwise::{depthwise3x3, DepthwiseParams, PackedDepthwise};
use sepconv::ops::q8_depthwise::{q8_depthwise3x3, PackedQ8Depthwise, Q8DepthwiseParams};
use sepconv::quant::OutQ;
use sepconv::{selected_kernel_set, Activation, Cpu};
use std::hint::black_box;

mod common;
use common::{best_time, filter, listing_only, pixel};

struct Layer {
    count: usize,
    p: Q8DepthwiseParams,
}

impl Layer {
    fn name(&self) -> String {
        let p = &self.p;
        format!("{}x{}x{} s{}", p.in_h, p.in_w, p.channels, p.stride)
    }
    fn macs(&self) -> f64 {
        (9 * self.p.out_h() * self.p.out_w() * self.p.channels) as f64
    }
}

/// The layers, or with `Q8DW_LAYER` set only those whose name contains it.
fn layers() -> Vec<Layer> {
    let only = std::env::var("Q8DW_LAYER").ok();
    common::mobilenet_layers(1.0, 224, LayerKind::Depthwise)
        .into_iter()
        .map(|(l, count)| Layer {
            count,
            p: Q8DepthwiseParams {
                batch: 1,
                in_h: l.in_h,
                in_w: l.in_w,
                channels: l.in_c,
                stride: l.stride,
                padding: l.padding,
                // ReLU6 on an output scale of 6 / 255 with zero point 0.
                out: OutQ::new(0, 0, 255).unwrap(),
            },
        })
        .filter(|l| only.as_ref().is_none_or(|o| l.name().contains(o.as_str())))
        .collect()
}

/// A layer's operands for `k`: input, packed weights, output.
fn prepare(k: &'static Q8DwKernel, l: &Layer) -> (Vec<u8>, PackedQ8Depthwise, Vec<u8>) {
    let p = &l.p;
    let c = p.channels;
    let x: Vec<u8> = (0..p.in_h * p.in_w * c)
        .map(|i| (i * 7919 % 251) as u8)
        .collect();
    let w: Vec<i8> = (0..9 * c).map(|i| ((i * 31) % 255) as i8).collect();
    let bias: Vec<i32> = (0..c as i32).map(|i| i * 17 - 300).collect();
    let scale = vec![0.002f32; c];
    let packed = PackedQ8Depthwise::for_kernel(k, c, &w, &bias, &scale, 3).unwrap();
    let y = vec![0u8; p.out_h() * p.out_w() * c];
    (x, packed, y)
}

fn runnable() -> Vec<&'static Q8DwKernel> {
    let cpu = Cpu::detect();
    TABLE.iter().filter(|k| k.id.runs_on(cpu)).collect()
}

fn bench(c: &mut criterion::Criterion) {
    let layers = layers();
    for k in runnable() {
        let mut group = c.benchmark_group(format!("q8_depthwise/{}", k.id.name));
        for l in &layers {
            let (x, w, mut y) = prepare(k, l);
            group.throughput(Throughput::Elements(l.macs() as u64));
            group.bench_function(BenchmarkId::from_parameter(l.name()), |b| {
                b.iter(|| q8_depthwise3x3(&l.p, &w, black_box(&x), &mut y, l.p.channels).unwrap())
            });
        }
        group.finish();
    }
}

/// The f32 depthwise of the selected kernel set on the same layer (ReLU6), seconds.
fn f32_time(l: &Layer) -> f64 {
    let ks = selected_kernel_set().unwrap();
    let p = DepthwiseParams {
        batch: 1,
        in_h: l.p.in_h,
        in_w: l.p.in_w,
        channels: l.p.channels,
        stride: l.p.stride,
        padding: l.p.padding,
        clamp: Activation::Relu6.clamp(),
    };
    let (wt, b) = filter(p.channels, 9);
    let w = PackedDepthwise::new(ks, p.channels, &wt, &b).unwrap();
    let x: Vec<f32> = (0..p.in_h * p.in_w * p.channels).map(pixel).collect();
    let mut y = vec![0f32; p.out_h() * p.out_w() * p.channels];
    best_time(|| depthwise3x3(&p, &w, black_box(&x), &mut y).unwrap())
}

fn summary() {
    let layers = layers();
    // `Q8DW_NO_F32` skips the f32 timings (shown as 0).
    let f32_times: Vec<f64> = if std::env::var_os("Q8DW_NO_F32").is_some() {
        vec![0.0; layers.len()]
    } else {
        layers.iter().map(f32_time).collect()
    };
    let f32_total: f64 = layers
        .iter()
        .zip(&f32_times)
        .map(|(l, t)| l.count as f64 * t)
        .sum();
    let macs: f64 = layers.iter().map(|l| l.count as f64 * l.macs()).sum();
    for k in runnable() {
        println!(
            "{} (f32: {})",
            k.id.name,
            selected_kernel_set().unwrap().dw3x3.id.name
        );
        println!("  layer            n      us  GMAC/s  f32 us");
        let mut total = 0.0;
        for (l, tf) in layers.iter().zip(&f32_times) {
            let (x, w, mut y) = prepare(k, l);
            let t = best_time(|| {
                q8_depthwise3x3(&l.p, &w, black_box(&x), &mut y, l.p.channels).unwrap()
            });
            total += l.count as f64 * t;
            println!(
                "  {:<15} {:>2} {:>7.2} {:>7.1} {:>7.2}",
                l.name(),
                l.count,
                t * 1e6,
                l.macs() / t * 1e-9,
                tf * 1e6
            );
        }
        println!(
            "  13 layers: {:.1} us ({:.1} GMAC/s), f32 {:.1} us: {:.2}x",
            total * 1e6,
            macs / total * 1e-9,
            f32_total * 1e6,
            f32_total / total
        );
    }
}

fn main() {
    let mut c = common::criterion(20);
    bench(&mut c);
    c.final_summary();
    if !listing_only() {
        summary();
    }
}
