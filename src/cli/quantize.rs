//! `sepconv quantize`: post-training quantization of a float model file into an ONNX QDQ
//! file (see `sepconv::io::onnx::write`).
//!
//! Calibration data: a `.npy` f32 array `[n, h, w, c]` or `[n, c, h, w]` (or one image
//! without the batch), or a directory of such `.npy` files and PNG/JPEG images, read in
//! file name order. Images are converted to RGB, resized to the model's input with a
//! triangle filter and normalized as `(pixel / 255 - mean) / std` per channel (`--mean`,
//! `--std`; ImageNet's by default, as `sepconv run` does).

use crate::QuantizeArgs;
use sepconv::io::graph::Layout;
use sepconv::io::onnx::write::{write_qdq, QdqIo};
use sepconv::io::{load_network, read_npy_file};
use sepconv::net::q8::quantize::{calibrate_with, portable_cpu, quantize};
use sepconv::net::{Network, Options};
use sepconv::{Error, Result, Shape, Tensor};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn io_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn calib_error(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Shape(format!("calibration data {}: {why}", path.display()))
}

pub fn run(args: &QuantizeArgs) -> Result<()> {
    let m = load_network(&args.model)?;
    let net = &m.network;
    let images = read_calibration(args, net, m.input_layout)?;
    let count: usize = images.iter().map(|t| t.shape.n).sum();
    let options = Options {
        cpu: Some(args.isa.unwrap_or_else(portable_cpu)),
        ..Options::default()
    };
    let t = Instant::now();
    let cal = calibrate_with(net, &m.weights, &images, args.method, options)?;
    let calib_s = t.elapsed().as_secs_f64();
    let q = quantize(net, &m.weights, &cal)?;
    let bytes = write_qdq(
        &q,
        &QdqIo {
            input_name: m.input_name.clone(),
            output_name: m.output_name.clone(),
            input_layout: m.input_layout,
        },
    )?;
    std::fs::write(&args.out, &bytes).map_err(|e| io_error(&args.out, e))?;
    println!(
        "{}: {} layers calibrated on {count} image(s) by {} in {calib_s:.1} s",
        args.model.display(),
        net.layers.len(),
        args.method
    );
    println!(
        "input: scale {:e}, zero point {}",
        q.input.scale, q.input.zero_point
    );
    if args.verbose {
        for (l, ql) in net.layers.iter().zip(&q.layers) {
            println!(
                "  {:<12} range {:>10.4} .. {:<10.4} scale {:e} zero point {}",
                l.spec.name,
                ql.output.dequantize(0),
                ql.output.dequantize(255),
                ql.output.scale,
                ql.output.zero_point
            );
        }
    }
    println!(
        "wrote {} ({} bytes, ONNX QDQ: u8 activations per tensor, s8 weights per channel)",
        args.out.display(),
        bytes.len()
    );
    Ok(())
}

/// The calibration images as NHWC tensors, at most `--calib-count` images in all.
fn read_calibration(args: &QuantizeArgs, net: &Network, layout: Layout) -> Result<Vec<Tensor>> {
    let path = &args.calib;
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    let files: Vec<PathBuf> = if meta.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| io_error(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && kind(p).is_some())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(calib_error(
                path,
                "the directory holds no .npy, .png or .jpg/.jpeg file",
            ));
        }
        files
    } else {
        if kind(path).is_none() {
            return Err(calib_error(
                path,
                "expected a .npy, .png or .jpg file or a directory",
            ));
        }
        vec![path.clone()]
    };
    let limit = args.calib_count.unwrap_or(usize::MAX);
    if limit == 0 {
        return Err(Error::Config("--calib-count must be at least 1".into()));
    }
    let mut images = Vec::new();
    let mut total = 0;
    for f in &files {
        if total >= limit {
            break;
        }
        let mut t = match kind(f) {
            Some(Kind::Npy) => read_npy_images(f, net, layout)?,
            _ => read_image(args, f, net)?,
        };
        if let Some(at) = t.data.iter().position(|v| !v.is_finite()) {
            return Err(calib_error(
                f,
                format!("value {} at index {at} is not finite", t.data[at]),
            ));
        }
        let n = t.shape.n.min(limit - total);
        if n < t.shape.n {
            t.shape.n = n;
            t.data.truncate(t.shape.len());
        }
        total += n;
        images.push(t);
    }
    Ok(images)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Npy,
    Image,
}

fn kind(p: &Path) -> Option<Kind> {
    let ext = p.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "npy" => Some(Kind::Npy),
        "png" | "jpg" | "jpeg" => Some(Kind::Image),
        _ => None,
    }
}

/// A `.npy` of one or more images in either layout (the model's first when both fit).
fn read_npy_images(path: &Path, net: &Network, layout: Layout) -> Result<Tensor> {
    let arr = read_npy_file(path)?;
    let (h, w, c) = (net.in_h, net.in_w, net.in_c);
    let s = match arr.shape.as_slice() {
        [n, a, b, d] => [*n, *a, *b, *d],
        [a, b, d] => [1, *a, *b, *d],
        other => {
            return Err(calib_error(
                path,
                format!("shape {other:?} is not [n, {h}, {w}, {c}] or [n, {c}, {h}, {w}]"),
            ))
        }
    };
    if s[0] == 0 {
        return Err(calib_error(path, "the array holds no image"));
    }
    let nhwc = s[1..] == [h, w, c];
    let nchw = s[1..] == [c, h, w];
    match (nhwc, nchw) {
        (true, true) if layout == Layout::Nchw => Tensor::from_nchw(s[0], c, h, w, &arr.data),
        (true, _) => Tensor::from_vec(Shape::new(s[0], h, w, c), arr.data),
        (false, true) => Tensor::from_nchw(s[0], c, h, w, &arr.data),
        (false, false) => Err(calib_error(
            path,
            format!(
                "shape {:?} does not fit the model's input: expected [n, {h}, {w}, {c}] or \
                 [n, {c}, {h}, {w}]",
                arr.shape
            ),
        )),
    }
}

/// An RGB image resized to the input and normalized, as one NHWC image.
fn read_image(args: &QuantizeArgs, path: &Path, net: &Network) -> Result<Tensor> {
    if net.in_c != 3 {
        return Err(calib_error(
            path,
            format!("the model takes {} channels, not RGB images", net.in_c),
        ));
    }
    if args.mean.len() != 3 || args.std.len() != 3 || args.std.contains(&0.0) {
        return Err(Error::Config(
            "--mean and --std take 3 comma-separated values, std non-zero".into(),
        ));
    }
    let img = image::open(path).map_err(|e| io_error(path, e))?;
    let img = img
        .resize_exact(
            net.in_w as u32,
            net.in_h as u32,
            image::imageops::FilterType::Triangle,
        )
        .to_rgb8();
    let data = img
        .pixels()
        .flat_map(|p| (0..3).map(move |c| (p.0[c] as f32 / 255.0 - args.mean[c]) / args.std[c]))
        .collect();
    Tensor::from_vec(Shape::new(1, net.in_h, net.in_w, 3), data)
}
