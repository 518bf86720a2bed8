//! `sepconv run`: a model file on an image or a .npy tensor, in f32 or int8 (a quantized
//! file, or `--dtype int8`); prints the top classes and optionally writes the output
//! tensor.

use crate::{Dtype, RunArgs};
use sepconv::io::{load_network, read_npy_tensor_file, write_npy_file, NpyData};
use sepconv::net::q8::quantize::{calibrate, quantize, seeded_images};
use sepconv::net::q8::{Q8Input, Q8Model, Q8Output};
use sepconv::net::{Model, Options};
use sepconv::{Error, Result};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    Nchw,
    Nhwc,
}

/// Seeded calibration of `--dtype int8` on a float model: `bench --dtype int8`'s.
const CALIBRATION_IMAGES: usize = 2;
const CALIBRATION_SEED: u64 = 42;

/// The model a file runs as: f32, or int8 (a quantized file, or a float one with
/// `--dtype int8`).
// One per command, on the stack: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Runner {
    F32(Model),
    Int8(Q8Model),
}

pub fn run(args: &RunArgs) -> Result<()> {
    let m = load_network(&args.model)?;
    let options = Options {
        threads: args.threads,
        cpu: args.isa,
        ..Options::default()
    };
    let runner = match (&m.quant, args.dtype) {
        (Some(q), _) => Runner::Int8(Q8Model::build(q.clone(), options)?),
        (None, Dtype::Int8) => {
            let images = seeded_images(&m.network, CALIBRATION_IMAGES, CALIBRATION_SEED);
            let cal = calibrate(&m.network, &m.weights, &images)?;
            let q = quantize(&m.network, &m.weights, &cal)?;
            Runner::Int8(Q8Model::build(q, options)?)
        }
        (None, Dtype::F32) => Runner::F32(Model::build_network(&m.network, &m.weights, options)?),
    };
    let net = &m.network;
    let (batch, data, layout) = read_input(args, (net.in_h, net.in_w, net.in_c))?;
    let out_len = net.output_len();
    let mut output = vec![0.0; batch * out_len];
    match &runner {
        Runner::F32(model) => {
            let NpyData::F32(data) = &data else {
                return Err(Error::Config(format!(
                    "{}: int8 codes, but the model is f32: pass f32 values (codes go to a \
                     quantized model, or to this one with --dtype int8)",
                    args.input.display()
                )));
            };
            let mut ws = model.workspace(batch)?;
            match layout {
                Layout::Nhwc => model.run(&mut ws, data, batch, &mut output)?,
                Layout::Nchw => model.run_nchw(&mut ws, data, batch, &mut output)?,
            }
        }
        Runner::Int8(model) => {
            let how = if m.quant.is_some() {
                "a quantized model".to_string()
            } else {
                format!("quantized by min/max calibration on {CALIBRATION_IMAGES} seeded images")
            };
            let mut quant = String::new();
            crate::cli::info::describe_quant(&mut quant, model.network());
            print!("int8 ({how})\n{quant}");
            let mut ws = model.workspace(batch)?;
            let dims = (net.in_c, net.in_h * net.in_w);
            match (&data, layout) {
                (NpyData::F32(x), Layout::Nhwc) => model.run(&mut ws, x, batch, &mut output)?,
                (NpyData::F32(x), Layout::Nchw) => {
                    model.run_nchw(&mut ws, x, batch, &mut output)?
                }
                (NpyData::I8(x), _) => {
                    let x = nhwc(x, layout, dims);
                    let input = Q8Input::I8(&x);
                    model.run_codes(&mut ws, input, batch, Q8Output::F32(&mut output))?
                }
                (NpyData::U8(x), _) => {
                    let x = nhwc(x, layout, dims);
                    let input = Q8Input::U8(&x);
                    model.run_codes(&mut ws, input, batch, Q8Output::F32(&mut output))?
                }
            }
        }
    }

    let labels = match &args.labels {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| io_error(path, e))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    let what = if net.head.softmax {
        "probability"
    } else {
        "logit"
    };
    for (b, row) in output.chunks_exact(out_len).enumerate() {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&i, &j| row[j].total_cmp(&row[i]));
        println!("image {b}: top {} ({what})", args.top.min(row.len()));
        for &i in order.iter().take(args.top) {
            let name = labels.get(i).map_or("", String::as_str);
            println!("  {i:>5}  {:>10.6}  {name}", row[i]);
        }
    }
    if let Some(path) = &args.output {
        let mut shape = vec![batch];
        shape.extend(net.output_dims());
        write_npy_file(path, &shape, &output)?;
        println!("wrote {} ({batch} x {out_len})", path.display());
    }
    Ok(())
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Codes of `layout` as NHWC (`run_codes` takes NHWC); `(c, hw)` per image.
fn nhwc<T: Copy>(x: &[T], layout: Layout, (c, hw): (usize, usize)) -> Vec<T> {
    match layout {
        Layout::Nhwc => x.to_vec(),
        Layout::Nchw => (0..x.len())
            .map(|i| {
                let (b, i) = (i / (c * hw), i % (c * hw));
                x[b * c * hw + (i % c) * hw + i / c]
            })
            .collect(),
    }
}

/// (batch, data, layout) of the input, checked against the model's input (h, w, c); an
/// image needs a square input of 3 channels. A `.npy` file holds f32 values, or int8
/// (`|i1`) or uint8 (`|u1`) codes for a quantized model.
fn read_input(
    args: &RunArgs,
    (h, w, c): (usize, usize, usize),
) -> Result<(usize, NpyData, Layout)> {
    let path = &args.input;
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if !is_npy {
        if h != w || c != 3 {
            return Err(Error::Shape(format!(
                "{}: the model takes {h}x{w}x{c} inputs, not RGB images; pass a .npy tensor",
                path.display()
            )));
        }
        return Ok((1, NpyData::F32(read_image(args, h)?), Layout::Nhwc));
    }
    let arr = read_npy_tensor_file(path)?;
    let shape = match arr.shape.as_slice() {
        [n, a, b, c] => [*n, *a, *b, *c],
        [a, b, c] => [1, *a, *b, *c],
        other => {
            return Err(Error::Shape(format!(
                "{}: expected a [n, {c}, {h}, {w}] or [n, {h}, {w}, {c}] tensor, got {other:?}",
                path.display()
            )))
        }
    };
    let layout = args.layout.unwrap_or(if shape[1] == c && shape[3] != c {
        Layout::Nchw
    } else {
        Layout::Nhwc
    });
    let want = match layout {
        Layout::Nchw => [shape[0], c, h, w],
        Layout::Nhwc => [shape[0], h, w, c],
    };
    if shape != want {
        return Err(Error::Shape(format!(
            "{}: the model takes {layout:?} {want:?}, got {shape:?}",
            path.display()
        )));
    }
    Ok((shape[0], arr.data, layout))
}

/// An RGB image resized to r x r, as NHWC floats (pixel / 255 - mean) / std.
fn read_image(args: &RunArgs, r: usize) -> Result<Vec<f32>> {
    if args.mean.len() != 3 || args.std.len() != 3 || args.std.contains(&0.0) {
        return Err(Error::Config(
            "--mean and --std take 3 comma-separated values, std non-zero".into(),
        ));
    }
    let img = image::open(&args.input).map_err(|e| io_error(&args.input, e))?;
    let img = img
        .resize_exact(r as u32, r as u32, image::imageops::FilterType::Triangle)
        .to_rgb8();
    Ok(img
        .pixels()
        .flat_map(|p| (0..3).map(move |c| (p.0[c] as f32 / 255.0 - args.mean[c]) / args.std[c]))
        .collect())
}
