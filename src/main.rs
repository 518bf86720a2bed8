//! The `sepconv` command line.

use clap::{Parser, Subcommand};
use sepconv::{reference, CpuFeatures, Isa, MobileNetConfig, MobileNetWeights, Shape, Tensor};
use std::process::ExitCode;
use std::time::Instant;

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
    /// CPU features, the ISA in use and its kernels.
    Info,
    /// Time MobileNet V1 with seeded random weights.
    Bench {
        /// Width multiplier.
        #[arg(long, default_value_t = 1.0)]
        alpha: f32,
        /// Input resolution.
        #[arg(long, default_value_t = 224)]
        res: usize,
        /// Images per run.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Timed runs.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Force an ISA (scalar, avx2, avx512, neon).
        #[arg(long)]
        isa: Option<Isa>,
    },
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
        Command::Info => info(),
        Command::Bench {
            alpha,
            res,
            batch,
            runs,
            isa,
        } => bench(alpha, res, batch, runs.max(1), isa),
    }
}

fn info() -> sepconv::Result<()> {
    let features = CpuFeatures::get();
    println!("arch:         {}", std::env::consts::ARCH);
    println!("cpu features: {}", features.names().join(" "));
    let available: Vec<&str> = Isa::available().iter().map(|i| i.name()).collect();
    println!("isas:         {} (best first)", available.join(" "));
    let set = sepconv::selected_kernel_set()?;
    let forced = std::env::var("SEPCONV_ISA").ok().filter(|s| !s.is_empty());
    println!(
        "isa in use:   {}{}",
        set.isa,
        forced.map_or(String::new(), |f| format!(" (forced by SEPCONV_ISA={f})"))
    );
    println!("kernels:");
    println!("  clamp       {}", set.clamp_impl);
    println!("  dw3x3       {}", set.dw3x3_impl);
    let peak = sepconv::kernels::peak::fma_peak_gflops(set.isa)?;
    println!(
        "fma peak:     {peak:.1} GFLOP/s per core ({}, measured now)",
        set.isa
    );
    Ok(())
}

fn bench(
    alpha: f32,
    res: usize,
    batch: usize,
    runs: usize,
    isa: Option<Isa>,
) -> sepconv::Result<()> {
    let isa = Isa::resolve(isa)?;
    let config = MobileNetConfig {
        alpha,
        resolution: res,
        ..MobileNetConfig::default()
    };
    let weights = MobileNetWeights::random(&config, 42, false)?;
    let shape = Shape::new(batch, res, res, 3);
    let input = Tensor::from_vec(
        shape,
        (0..shape.checked_len()?)
            .map(|i| ((i * 7919 % 255) as f32) / 127.5 - 1.0)
            .collect(),
    )?;
    let macs = config.macs()? * batch;
    println!(
        "MobileNet V1 alpha {alpha} resolution {res} batch {batch}: {:.1} M mult-adds, engine: \
         naive reference (isa {isa} selected; optimized runner not built yet)",
        macs as f64 / 1e6
    );
    let mut times = Vec::with_capacity(runs);
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        out = Some(reference::mobilenet_v1_forward(&config, &weights, &input)?);
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "latency: median {median:.2} ms, min {:.2} ms over {runs} runs, {:.2} GFLOP/s",
        times[0],
        2.0 * macs as f64 / (median * 1e6)
    );
    let out = out.expect("runs >= 1");
    let top = out.data[..config.classes]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .expect("classes >= 1");
    println!("image 0: top class {} (p = {:.4})", top.0, top.1);
    Ok(())
}
