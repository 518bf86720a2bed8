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
    /// Quantize a float model file to int8 (calibrated on images) and write ONNX QDQ.
    Quantize(QuantizeArgs),
}

#[derive(clap::Args)]
pub struct QuantizeArgs {
    /// Float model file: .onnx, .tflite or .safetensors.
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// Calibration data: a .npy f32 array [n, h, w, c] or [n, c, h, w], or a directory of
    /// .npy files and png/jpg images (resized and normalized with --mean and --std).
    #[arg(long)]
    pub calib: std::path::PathBuf,
    /// The ONNX QDQ file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Activation ranges: minmax, or percentile[=P] (default P = 99.99) of a histogram.
    #[arg(long, default_value = "minmax")]
    pub method: sepconv::net::q8::quantize::Method,
    /// Use at most this many calibration images (in file name order).
    #[arg(long)]
    pub calib_count: Option<usize>,
    /// Per-channel mean (R,G,B) subtracted from image pixels scaled to 0..1.
    #[arg(long, value_delimiter = ',', default_values_t = [0.485, 0.456, 0.406])]
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (R,G,B) that image pixels are divided by.
    #[arg(long, value_delimiter = ',', default_values_t = [0.229, 0.224, 0.225])]
    pub std: Vec<f32>,
    /// Calibrate on this ISA's f32 kernels (default: the portable scalar kernels, whose
    /// ranges, and so the file, are the same on every CPU).
    #[arg(long)]
    pub isa: Option<Cpu>,
    /// Print every layer's output quantization.
    #[arg(long, short)]
    pub verbose: bool,
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
    /// Also time a second model, alternating runs with the first: on a noisy machine the
    /// two then see the same conditions, which separate commands do not. With f32, a
    /// fusion setting (auto, never, always; automatic depth-first); with `--dtype int8`,
    /// `f32` (the default: the same network in f32) or `none`.
    #[arg(long = "against")]
    pub against_arg: Option<Against>,
    /// The f32 bench's second model (from `--against`).
    #[arg(skip)]
    pub against: Option<sepconv::net::Fuse>,
    /// Whether the int8 bench also times f32 (from `--against`).
    #[arg(skip)]
    pub against_f32: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Data type: f32, or int8 (the same network quantized by min/max calibration on
    /// seeded images, timed alternately with f32 unless `--against none`).
    #[arg(long, default_value = "f32")]
    pub dtype: Dtype,
    /// Also draw each layer's achieved G ops/s against the roofline (the peaks and the
    /// read bandwidth measured now) to this SVG file: f32, and int8 beside it with
    /// `--dtype int8`.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    /// Time a model file instead of the built-in network (.onnx, .tflite, .safetensors;
    /// a quantized file runs in int8, a float one in `--dtype`).
    #[arg(long, value_name = "FILE")]
    pub model: Option<std::path::PathBuf>,
    /// With `--model`: a second file, timed alternately with the first.
    #[arg(long, value_name = "FILE", requires = "model")]
    pub against_model: Option<std::path::PathBuf>,
}

/// What `bench --against` times beside the benched model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Against {
    Fuse(sepconv::net::Fuse),
    F32,
    None,
}

impl std::str::FromStr for Against {
    type Err = String;
    fn from_str(s: &str) -> Result<Against, String> {
        match s {
            "f32" => Ok(Against::F32),
            "none" => Ok(Against::None),
            _ => s.parse().map(Against::Fuse).map_err(|_| {
                format!("--against takes auto, never, always (fusion), f32 or none, got {s:?}")
            }),
        }
    }
}

/// Resolves `--against` for the dtype: int8 against f32 by default, f32 against a fusion
/// setting or nothing.
fn resolve_against(args: &mut BenchArgs) -> sepconv::Result<()> {
    let bad = |m: &str| Err(sepconv::Error::Config(m.into()));
    match (args.dtype, args.against_arg) {
        (Dtype::Int8, None | Some(Against::F32)) => args.against_f32 = true,
        (Dtype::Int8, Some(Against::None)) => args.against_f32 = false,
        (Dtype::Int8, Some(Against::Fuse(_))) => {
            return bad(
                "with --dtype int8, --against takes f32 or none (the int8 runner does \
                        not fuse)",
            )
        }
        (Dtype::F32, Some(Against::Fuse(f))) => args.against = Some(f),
        (Dtype::F32, None | Some(Against::None)) => args.against = None,
        (Dtype::F32, Some(Against::F32)) => {
            return bad("--against f32 compares int8 with f32: add --dtype int8")
        }
    }
    Ok(())
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
        Command::Bench(args) if args.model.is_some() => {
            let model = args.model.clone().expect("matched");
            if args.layers || args.plot.is_some() || args.against_arg.is_some() {
                return Err(sepconv::Error::Config(
                    "--model times whole runs: --layers, --plot and --against apply to the \
                     built-in network (compare files with --against-model)"
                        .into(),
                ));
            }
            cli::bench_file::run(&args, &model)
        }
        Command::Bench(mut args) => {
            resolve_against(&mut args)?;
            match args.dtype {
                Dtype::Int8 => cli::bench_q8::run(&args),
                Dtype::F32 => cli::bench::run(&args),
            }
        }
        Command::Run(args) => cli::run::run(&args),
        Command::Quantize(args) => cli::quantize::run(&args),
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
