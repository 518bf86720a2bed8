//! `sepconv run`: a model file on an image or a .npy tensor; prints the top classes and
//! optionally writes the output tensor.

use crate::RunArgs;
use sepconv::io::{load_model, read_npy_file, write_npy_file};
use sepconv::net::{Model, Options};
use sepconv::{Error, Result};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    Nchw,
    Nhwc,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let (config, weights) = load_model(&args.model)?;
    let model = Model::build(
        &config,
        &weights,
        Options {
            threads: args.threads,
            cpu: args.isa,
            ..Options::default()
        },
    )?;
    let r = config.resolution;
    let (batch, data, layout) = read_input(args, r)?;
    let mut ws = model.workspace(batch)?;
    let mut output = vec![0.0; batch * config.classes];
    match layout {
        Layout::Nhwc => model.run(&mut ws, &data, batch, &mut output)?,
        Layout::Nchw => model.run_nchw(&mut ws, &data, batch, &mut output)?,
    }

    let labels = match &args.labels {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| io_error(path, e))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    let what = if config.softmax {
        "probability"
    } else {
        "logit"
    };
    for (b, row) in output.chunks_exact(config.classes).enumerate() {
        let mut order: Vec<usize> = (0..row.len()).collect();
        order.sort_by(|&i, &j| row[j].total_cmp(&row[i]));
        println!("image {b}: top {} ({what})", args.top.min(row.len()));
        for &i in order.iter().take(args.top) {
            let name = labels.get(i).map_or("", String::as_str);
            println!("  {i:>5}  {:>10.6}  {name}", row[i]);
        }
    }
    if let Some(path) = &args.output {
        write_npy_file(path, &[batch, config.classes], &output)?;
        println!("wrote {} ({batch} x {})", path.display(), config.classes);
    }
    Ok(())
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// (batch, data, layout) of the input, checked against the model's resolution.
fn read_input(args: &RunArgs, r: usize) -> Result<(usize, Vec<f32>, Layout)> {
    let path = &args.input;
    let is_npy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    if !is_npy {
        return Ok((1, read_image(args, r)?, Layout::Nhwc));
    }
    let arr = read_npy_file(path)?;
    let shape = match arr.shape.as_slice() {
        [n, a, b, c] => [*n, *a, *b, *c],
        [a, b, c] => [1, *a, *b, *c],
        other => {
            return Err(Error::Shape(format!(
                "{}: expected a [n, 3, {r}, {r}] or [n, {r}, {r}, 3] tensor, got {other:?}",
                path.display()
            )))
        }
    };
    let layout = args.layout.unwrap_or(if shape[1] == 3 && shape[3] != 3 {
        Layout::Nchw
    } else {
        Layout::Nhwc
    });
    let want = match layout {
        Layout::Nchw => [shape[0], 3, r, r],
        Layout::Nhwc => [shape[0], r, r, 3],
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
