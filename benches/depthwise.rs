//! Depthwise 3x3 on every depthwise layer of MobileNet V1 1.0-224 and 0.25-128, per ISA.
//!
//! Criterion reports time and GB/s (input + output bytes); the summary table at the end,
//! from its own best-of-trials loop, adds GFLOP/s (2 x 9 x outputs) and % of the FMA peak
//! measured in the same run. `SEPCONV_ISA` restricts the run to one ISA.
//!
//! Each layer's output lies an odd number of cache lines after its input modulo 4 KiB, as
//! the network runner places its activations; the table also times the output at the
//! input's offset within a page (two separate large allocations), where 4K aliasing
//! slows the kernel (see `src/net/buffer.rs`).

use sepconv::net::LayerKind;
use sepconv::ops::depthwise::{depthwise3x3, DepthwiseParams, PackedDepthwise};
use sepconv::{kernel_set, Activation, Isa};
use std::hint::black_box;

mod common;
use common::{best_time, filter, isas, listing_only, pixel};

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
    common::mobilenet_layers(alpha, resolution, LayerKind::Depthwise)
        .into_iter()
        .map(|(l, count)| Layer {
            model,
            count,
            p: DepthwiseParams {
                batch: 1,
                in_h: l.in_h,
                in_w: l.in_w,
                channels: l.in_c,
                stride: l.stride,
                padding: l.padding,
                clamp: Activation::Relu6.clamp(),
            },
        })
        .collect()
}

/// Where the output lies after the input, modulo 4 KiB: as the network runner places its
/// activations (an odd number of cache lines apart, 33), or at the same offset, which is
/// what two separate large allocations get and the worst case for 4K aliasing (see
/// `src/net/buffer.rs`).
const PLACED: usize = 2112;
const SAME_OFFSET: usize = 0;

/// Input and output of one layer in one allocation: the input on a 4 KiB boundary, the
/// output `gap` bytes past a 4 KiB boundary after it.
struct Prepared {
    w: PackedDepthwise,
    arena: Vec<f32>,
    input: usize,
    output: usize,
    n_in: usize,
    n_out: usize,
}

fn prepare(isa: Isa, l: &Layer, gap: usize) -> Prepared {
    const PAGE: usize = 1024; // floats
    let c = l.p.channels;
    let (weights, bias) = filter(c, 9);
    let n_in = l.p.in_h * l.p.in_w * c;
    let n_out = l.p.out_h() * l.p.out_w() * c;
    let mut arena = vec![0.0f32; n_in + n_out + 3 * PAGE];
    let input = (4096 - arena.as_ptr() as usize % 4096) % 4096 / 4;
    let output = input + n_in.div_ceil(PAGE) * PAGE + gap / 4;
    for (i, v) in arena[input..input + n_in].iter_mut().enumerate() {
        *v = pixel(i);
    }
    Prepared {
        w: PackedDepthwise::new(kernel_set(isa).unwrap(), c, &weights, &bias).unwrap(),
        arena,
        input,
        output,
        n_in,
        n_out,
    }
}

impl Prepared {
    fn run(&mut self, p: &DepthwiseParams) {
        let (a, b) = self.arena.split_at_mut(self.output);
        let out = &mut b[..self.n_out];
        depthwise3x3(p, &self.w, &a[self.input..self.input + self.n_in], out).unwrap();
        black_box(out[0]);
    }
}

fn main() {
    let all: Vec<Layer> = [layers("1.0-224", 1.0, 224), layers("0.25-128", 0.25, 128)]
        .into_iter()
        .flatten()
        .collect();

    let mut c = common::criterion(20);
    common::bench_layers(&mut c, "depthwise", &all, |isa, l| {
        let mut prep = prepare(isa, l, PLACED);
        let p = l.p;
        (l.name(), l.bytes(), move || prep.run(&p))
    });
    c.final_summary();

    // Skip the table when criterion was only listing or filtering to nothing in particular.
    if listing_only() {
        return;
    }
    println!();
    for isa in isas() {
        let peak = common::summary_head(isa, kernel_set(isa).unwrap().dw3x3.id.name);
        println!(
            "  {:<28} {:>3} {:>10} {:>9} {:>8} {:>7} {:>14}",
            "layer", "n", "time us", "GFLOP/s", "GB/s", "% peak", "same-offset us"
        );
        let mut totals: Vec<(&str, f64, f64)> = Vec::new();
        for l in &all {
            let mut prep = prepare(isa, l, PLACED);
            let mut same = prepare(isa, l, SAME_OFFSET);
            let t = best_time(|| prep.run(&l.p));
            let t_same = best_time(|| same.run(&l.p));
            let gflops = l.flops() / t / 1e9;
            println!(
                "  {:<28} {:>3} {:>10.2} {:>9.1} {:>8.1} {:>6.1}% {:>14.2}",
                l.name(),
                l.count,
                t * 1e6,
                gflops,
                l.bytes() as f64 / t / 1e9,
                100.0 * gflops / peak,
                t_same * 1e6
            );
            let n = l.count as f64;
            match totals.iter_mut().find(|(m, _, _)| *m == l.model) {
                Some((_, s, s_same)) => {
                    *s += t * n;
                    *s_same += t_same * n;
                }
                None => totals.push((l.model, t * n, t_same * n)),
            }
        }
        for (model, s, s_same) in totals {
            println!(
                "  total of the 13 depthwise layers of {model}: {:.3} ms ({:.3} ms at the same offset)",
                s * 1e3,
                s_same * 1e3
            );
        }
        println!();
    }
}
