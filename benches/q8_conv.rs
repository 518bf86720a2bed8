//! The int8 conv0 (3x3 stride 2 from 3 channels) at the MobileNet V1 input sizes: im2col
//! and the int8 GEMM, per int8 GEMM kernel this CPU runs, and the direct kernels
//! (`kernels::q8_conv0`) from u8 codes and from f32 pixels quantized in the layer (both
//! roundings), beside the f32 conv0 of the same layer.
//!
//! Criterion reports time; the summary table adds G int8-MAC/s and % of the int8 peak of
//! the kernel's instruction (`kernels::peak_q8`), measured in the same run, and the f32
//! conv0's time on the ISA's f32 kernel set.

use criterion::BenchmarkId;
use sepconv::kernels::peak_q8::q8_kernel_peak_gops;
use sepconv::kernels::q8_conv0::{self, Q8Conv0Kernel};
use sepconv::kernels::q8_gemm::{Q8GemmKernel, TABLE};
use sepconv::net::q8::InputRounding;
use sepconv::ops::conv0::{conv0, Conv0Params, PackedConv0};
use sepconv::ops::q8_conv::Q8Conv3x3;
use sepconv::ops::q8_conv0::{Conv0Source, Q8Conv0};
use sepconv::quant::{OutQ, QParams};
use sepconv::{kernel_set, Activation, Cpu, Padding};
use std::hint::black_box;

mod common;
use common::{best_time, filter, listing_only, pixel};

/// (model, resolution, output channels): conv0 of 1.0-224, 0.5-160, 0.25-128.
const LAYERS: [(&str, usize, usize); 3] = [
    ("1.0-224", 224, 32),
    ("0.5-160", 160, 16),
    ("0.25-128", 128, 8),
];

struct Prepared {
    op: Q8Conv3x3,
    input: Vec<u8>,
    output: Vec<u8>,
    scratch: Vec<u8>,
    res: usize,
}

fn prepare(kernel: &'static Q8GemmKernel, res: usize, c: usize) -> Prepared {
    let w: Vec<i8> = (0..c * 27).map(|i| ((i * 37) % 255) as i8).collect();
    let bias: Vec<i32> = (0..c).map(|i| i as i32 * 100 - 1000).collect();
    let scale = vec![1e-3; c];
    // TensorFlow SAME at stride 2 on an even size: bottom and right only.
    let op = Q8Conv3x3::new(
        kernel,
        &w,
        3,
        &bias,
        &scale,
        128,
        2,
        Padding::new(0, 0, 1, 1),
    )
    .unwrap();
    let (oh, ow) = op.out_hw(res, res).unwrap();
    Prepared {
        input: (0..res * res * 3).map(|i| (i * 7919 % 251) as u8).collect(),
        output: vec![0; oh * ow * c],
        scratch: vec![0; op.scratch_len()],
        op,
        res,
    }
}

impl Prepared {
    fn run(&mut self) {
        let out = OutQ::new(0, 0, 200).unwrap();
        let r = self.res;
        self.op
            .run(
                &self.input,
                1,
                r,
                r,
                &mut self.output,
                out,
                &mut self.scratch,
            )
            .unwrap();
        black_box(self.output[0]);
    }

    fn macs(&self) -> f64 {
        (self.output.len() * 27) as f64
    }
}

/// What a direct kernel reads.
#[derive(Clone, Copy)]
enum Src {
    U8,
    F32(InputRounding),
}

impl Src {
    fn name(self) -> &'static str {
        match self {
            Src::U8 => "u8",
            Src::F32(InputRounding::Reciprocal) => "f32 recip",
            Src::F32(InputRounding::Divide) => "f32 divide",
        }
    }
}

const SOURCES: [Src; 3] = [
    Src::U8,
    Src::F32(InputRounding::Reciprocal),
    Src::F32(InputRounding::Divide),
];

struct Direct {
    op: Q8Conv0,
    codes: Vec<u8>,
    pixels: Vec<f32>,
    output: Vec<u8>,
    scratch: Vec<u8>,
    res: usize,
}

fn prepare_direct(kernel: &'static Q8Conv0Kernel, res: usize, c: usize) -> Direct {
    let w: Vec<i8> = (0..c * 27).map(|i| ((i * 37) % 255) as i8).collect();
    let bias: Vec<i32> = (0..c).map(|i| i as i32 * 100 - 1000).collect();
    let scale = vec![1e-3; c];
    let pad = Padding::new(0, 0, 1, 1);
    let op = Q8Conv0::new(kernel, &w, 3, &bias, &scale, 128, 2, pad).unwrap();
    let (oh, ow) = op.out_hw(res, res).unwrap();
    Direct {
        codes: (0..res * res * 3).map(|i| (i * 7919 % 251) as u8).collect(),
        pixels: (0..res * res * 3).map(pixel).collect(),
        output: vec![0; oh * ow * c],
        scratch: vec![0; op.scratch_len(res)],
        op,
        res,
    }
}

impl Direct {
    fn run(&mut self, src: Src) {
        let out = OutQ::new(0, 0, 200).unwrap();
        let r = self.res;
        let input = match src {
            Src::U8 => Conv0Source::U8(&self.codes),
            Src::F32(rounding) => Conv0Source::F32 {
                x: &self.pixels,
                q: QParams::new(0.01, 128, "x").unwrap(),
                rounding,
            },
        };
        self.op
            .run(input, 1, r, r, &mut self.output, out, &mut self.scratch)
            .unwrap();
        black_box(self.output[0]);
    }

    fn macs(&self) -> f64 {
        (self.output.len() * 27) as f64
    }
}

fn direct_kernels() -> Vec<&'static Q8Conv0Kernel> {
    let cpu = Cpu::detect();
    q8_conv0::TABLE
        .iter()
        .filter(|k| k.id.runs_on(cpu))
        .collect()
}

fn kernels() -> Vec<&'static Q8GemmKernel> {
    let cpu = Cpu::detect();
    TABLE.iter().filter(|k| k.id.runs_on(cpu)).collect()
}

fn main() {
    let mut c = common::criterion(20);
    for kernel in kernels() {
        let mut group = c.benchmark_group(format!("q8_conv0/{}", kernel.id.name));
        for (model, res, ch) in LAYERS {
            let mut prep = prepare(kernel, res, ch);
            group.bench_function(BenchmarkId::from_parameter(model), |b| {
                b.iter(|| prep.run())
            });
        }
        group.finish();
    }
    for kernel in direct_kernels() {
        let mut group = c.benchmark_group(format!("q8_conv0/{}", kernel.id.name));
        for (model, res, ch) in LAYERS {
            let mut prep = prepare_direct(kernel, res, ch);
            for src in SOURCES {
                let id = format!("{model} {}", src.name());
                group.bench_function(BenchmarkId::from_parameter(id), |b| {
                    b.iter(|| prep.run(src))
                });
            }
        }
        group.finish();
    }
    c.final_summary();
    if listing_only() {
        return;
    }
    println!();
    for kernel in kernels() {
        let peak = q8_kernel_peak_gops(&kernel.id).unwrap();
        let isa = kernel.id.isa;
        println!(
            "{} (int8 peak {peak:.1} GOP/s, measured now)",
            kernel.id.name
        );
        println!(
            "  {:<22} {:>9} {:>11} {:>7} {:>12} {:>7}",
            "conv0", "int8 us", "G MAC/s", "% peak", "f32 us", "ratio"
        );
        for (model, res, ch) in LAYERS {
            let mut prep = prepare(kernel, res, ch);
            let t = best_time(|| prep.run());
            let gmacs = prep.macs() / t / 1e9;
            let p = Conv0Params {
                batch: 1,
                in_h: res,
                in_w: res,
                out_c: ch,
                padding: Padding::new(0, 0, 1, 1),
                clamp: Activation::Relu6.clamp(),
            };
            let (weights, bias) = filter(ch, 27);
            let w = PackedConv0::new(kernel_set(isa).unwrap(), ch, &weights, &bias).unwrap();
            let input: Vec<f32> = (0..res * res * 3).map(pixel).collect();
            let mut output = vec![0.0; p.out_h() * p.out_w() * ch];
            let tf = best_time(|| {
                conv0(&p, &w, &input, &mut output).unwrap();
                black_box(output[0]);
            });
            println!(
                "  {:<22} {:>9.2} {:>11.1} {:>6.1}% {:>12.2} {:>6.2}x",
                format!("{model} {res}x{res}x3 -> {ch}"),
                t * 1e6,
                gmacs,
                200.0 * gmacs / peak,
                tf * 1e6,
                tf / t
            );
        }
        println!();
    }
    for kernel in direct_kernels() {
        let peak = q8_kernel_peak_gops(&kernel.id).unwrap();
        println!(
            "{} (int8 peak {peak:.1} GOP/s, measured now)",
            kernel.id.name
        );
        println!(
            "  {:<22} {:<10} {:>9} {:>11} {:>7}",
            "conv0", "input", "int8 us", "G MAC/s", "% peak"
        );
        for (model, res, ch) in LAYERS {
            let mut prep = prepare_direct(kernel, res, ch);
            for src in SOURCES {
                let t = best_time(|| prep.run(src));
                let gmacs = prep.macs() / t / 1e9;
                println!(
                    "  {:<22} {:<10} {:>9.2} {:>11.1} {:>6.1}%",
                    format!("{model} {res}x{res}x3 -> {ch}"),
                    src.name(),
                    t * 1e6,
                    gmacs,
                    200.0 * gmacs / peak,
                );
            }
        }
        println!();
    }
}
