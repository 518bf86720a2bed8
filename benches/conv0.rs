//! conv0 (the first layer: 3x3 stride 2 from 3 channels, computed directly from the image)
//! at the MobileNet V1 input sizes and widths, per ISA.
//!
//! Criterion reports time and GB/s (input + output bytes); the summary table at the end,
//! from its own best-of-trials loop, adds GFLOP/s (2 x 27 x outputs) and % of the FMA peak
//! measured in the same run. `SEPCONV_ISA` restricts the run to one ISA.

use sepconv::ops::conv0::{conv0, Conv0Params, PackedConv0};
use sepconv::{kernel_set, Activation, Isa, Padding};
use std::hint::black_box;

mod common;
use common::{best_time, filter, isas, listing_only, pixel};

/// (model, resolution, output channels): conv0 of 1.0-224, 0.75-192, 0.5-160, 0.25-128.
const LAYERS: [(&str, usize, usize); 4] = [
    ("1.0-224", 224, 32),
    ("0.75-192", 192, 24),
    ("0.5-160", 160, 16),
    ("0.25-128", 128, 8),
];

fn params(res: usize, c: usize) -> Conv0Params {
    Conv0Params {
        batch: 1,
        in_h: res,
        in_w: res,
        out_c: c,
        // TensorFlow SAME at stride 2 on an even size: bottom and right only.
        padding: Padding::new(0, 0, 1, 1),
        clamp: Activation::Relu6.clamp(),
    }
}

fn flops(p: &Conv0Params) -> f64 {
    (2 * 27 * p.out_h() * p.out_w() * p.out_c) as f64
}

fn bytes(p: &Conv0Params) -> u64 {
    (4 * (p.in_h * p.in_w * 3 + p.out_h() * p.out_w() * p.out_c)) as u64
}

struct Prepared {
    w: PackedConv0,
    input: Vec<f32>,
    output: Vec<f32>,
}

fn prepare(isa: Isa, p: &Conv0Params) -> Prepared {
    let c = p.out_c;
    let (weights, bias) = filter(c, 27);
    Prepared {
        w: PackedConv0::new(kernel_set(isa).unwrap(), c, &weights, &bias).unwrap(),
        input: (0..p.in_h * p.in_w * 3).map(pixel).collect(),
        output: vec![0.0; p.out_h() * p.out_w() * c],
    }
}

impl Prepared {
    fn run(&mut self, p: &Conv0Params) {
        conv0(p, &self.w, &self.input, &mut self.output).unwrap();
        black_box(self.output[0]);
    }
}

fn main() {
    let mut c = common::criterion(20);
    common::bench_layers(&mut c, "conv0", &LAYERS, |isa, &(model, res, ch)| {
        let p = params(res, ch);
        let mut prep = prepare(isa, &p);
        (model.to_string(), bytes(&p), move || prep.run(&p))
    });
    c.final_summary();

    if listing_only() {
        return;
    }
    println!();
    for isa in isas() {
        let peak = common::summary_head(isa, kernel_set(isa).unwrap().conv0[0].id.name);
        println!(
            "  {:<22} {:>10} {:>9} {:>8} {:>7}",
            "conv0", "time us", "GFLOP/s", "GB/s", "% peak"
        );
        for (model, res, ch) in LAYERS {
            let p = params(res, ch);
            let mut prep = prepare(isa, &p);
            let t = best_time(|| prep.run(&p));
            let gflops = flops(&p) / t / 1e9;
            println!(
                "  {:<22} {:>10.2} {:>9.1} {:>8.1} {:>6.1}%",
                format!("{model} {res}x{res}x3 -> {ch}"),
                t * 1e6,
                gflops,
                bytes(&p) as f64 / t / 1e9,
                100.0 * gflops / peak
            );
        }
        println!();
    }
}
