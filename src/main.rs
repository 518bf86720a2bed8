//! The `sepconv` command line.

use clap::{Parser, Subcommand};
use sepconv::kernels::cpu::Host;
use sepconv::{Cpu, Isa};
use std::process::ExitCode;

mod cli;

#[derive(Parser)]
#[command(
    name = "sepconv",
    version,
    about = "MobileNet V1 on hand-optimized SIMD kernels"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// CPU features, the ISA in use and its kernels; with --model, a model file's layers.
    Info {
        /// Also list every kernel of every table, and whether this CPU runs it.
        #[arg(long)]
        all: bool,
        /// Print the layers the importer read from this model file (.onnx, .tflite,
        /// .safetensors) instead.
        #[arg(long)]
        model: Option<std::path::PathBuf>,
    },
    /// Time MobileNet V1 with seeded random weights (the README's main command).
    Bench(BenchArgs),
    /// Classify an image (png/jpg) or run a .npy tensor through a model file.
    Run(RunArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// Model file: .onnx, .tflite or .safetensors.
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// Input: an image (png, jpg), resized and normalized, or a .npy f32 tensor.
    #[arg(long)]
    pub input: std::path::PathBuf,
    /// Layout of a .npy input (default: from its shape, 3 channels first means NCHW).
    #[arg(long)]
    pub layout: Option<cli::run::Layout>,
    /// Write the output tensor (batch x classes) here as .npy.
    #[arg(long)]
    pub output: Option<std::path::PathBuf>,
    /// How many top classes to print.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Class names, one per line.
    #[arg(long)]
    pub labels: Option<std::path::PathBuf>,
    /// Per-channel mean (R,G,B) subtracted from image pixels scaled to 0..1.
    #[arg(long, value_delimiter = ',', default_values_t = [0.485, 0.456, 0.406])]
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (R,G,B) that image pixels are divided by.
    #[arg(long, value_delimiter = ',', default_values_t = [0.229, 0.224, 0.225])]
    pub std: Vec<f32>,
    /// Threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Force a base ISA, optionally with features off: `avx2`, `avx512,-vnni` (names:
    /// `sepconv info`).
    #[arg(long)]
    pub isa: Option<Cpu>,
    /// Data type: f32, or int8 (a float model quantized by min/max calibration on seeded
    /// images). A quantized model file runs in int8 either way.
    #[arg(long, default_value = "f32")]
    pub dtype: Dtype,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Width multiplier.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f32,
    /// Input resolution.
    #[arg(long, default_value_t = 224)]
    pub res: usize,
    /// Threads per run.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Images per run.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Force a base ISA, optionally with features off: `avx2`, `avx512,-vnni` (names:
    /// `sepconv info`).
    #[arg(long)]
    pub isa: Option<Cpu>,
    /// Timed runs (default: as many as fit in about 2 seconds, at least 20).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Print a per-layer table.
    #[arg(long)]
    pub layers: bool,
    /// Depthwise -> pointwise fusion: auto, never (every layer whole) or always.
    #[arg(long, default_value = "auto")]
    pub fuse: sepconv::net::Fuse,
    /// Leading blocks run depth-first with conv0 (0 = none; default: those whose input
    /// activation is at least 1 MiB, when fusion is auto).
    #[arg(long)]
    pub depth_first: Option<usize>,
    /// Also time a second model built with this fusion setting (automatic depth-first),
    /// alternating runs with the first: on a noisy machine the two then see the same
    /// conditions, which separate commands do not.
    #[arg(long)]
    pub against: Option<sepconv::net::Fuse>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Data type: f32, or int8 (the same network quantized by min/max calibration on
    /// seeded images, timed alternately with f32).
    #[arg(long, default_value = "f32")]
    pub dtype: Dtype,
}

/// The data type `bench` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    Int8,
}

impl std::str::FromStr for Dtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Dtype, String> {
        match s {
            "f32" => Ok(Dtype::F32),
            "int8" | "i8" | "q8" => Ok(Dtype::Int8),
            _ => Err(format!("dtype must be f32 or int8, got {s:?}")),
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> sepconv::Result<()> {
    match cli.command {
        Command::Info {
            model: Some(path), ..
        } => {
            print!("{}", cli::info::describe(&path)?);
            Ok(())
        }
        Command::Info { all, model: None } => info(all),
        Command::Bench(args) if args.dtype == Dtype::Int8 => cli::bench_q8::run(&args),
        Command::Bench(args) => cli::bench::run(&args),
        Command::Run(args) => cli::run::run(&args),
    }
}

fn info(all: bool) -> sepconv::Result<()> {
    println!("arch:         {}", std::env::consts::ARCH);
    println!("cpu features: {}", Host::get().names().join(" "));
    let available: Vec<&str> = Isa::available().iter().map(|i| i.name()).collect();
    println!("isas:         {} (best first)", available.join(" "));
    let set = sepconv::selected_kernel_set()?;
    let forced = std::env::var("SEPCONV_ISA").ok().filter(|s| !s.is_empty());
    println!(
        "isa in use:   {}{}",
        set.isa(),
        forced.map_or(String::new(), |f| format!(" (forced by SEPCONV_ISA={f})"))
    );
    println!("features:     {}", set.cpu.features);
    println!("kernels:");
    for (op, id) in set.ids() {
        println!("  {op:<6} {id}");
    }
    if all {
        let cpu = sepconv::Cpu::detect();
        println!("all kernels (runs on this cpu: yes/no):");
        for id in sepconv::kernels::all_kernels() {
            let runs = if id.runs_on(cpu) { "yes" } else { "no " };
            println!("  {runs} {id}");
        }
    }
    let peak = sepconv::kernels::peak::fma_peak_gflops(set.isa())?;
    println!(
        "fma peak:     {peak:.1} GFLOP/s per core ({}, measured now)",
        set.isa()
    );
    let op = sepconv::kernels::peak_q8::Q8PeakOp::of(set);
    let q8 = sepconv::kernels::peak_q8::q8_peak_gops(set)?;
    println!(
        "int8 peak:    {q8:.1} GOP/s per core ({}, {:.2}x the FMA peak, measured now)",
        op.name(),
        q8 / peak
    );
    Ok(())
}
