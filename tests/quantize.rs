//! `sepconv quantize`'s pieces against ONNX Runtime: float fixtures quantized (calibrated
//! on seeded images), written as ONNX QDQ, the file equal to the committed one (so the
//! quantizer is deterministic, on every CPU), and sepconv's int8 run of the quantized
//! network within one output step of ORT's run of the committed file
//! (scripts/check_quantized_onnx.py made tests/fixtures/quantize/).

use sepconv::io::graph::{Imported, Layout};
use sepconv::io::onnx::write::{write_qdq, QdqIo};
use sepconv::io::{import_onnx, load_network, read_npy_file};
use sepconv::net::q8::quantize::{calibrate_with, portable_cpu, quantize, Method};
use sepconv::net::q8::{Q8Model, Q8Network};
use sepconv::net::{Network, Options};
use sepconv::{Error, Shape, Tensor};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The seeds and counts of scripts/check_quantized_onnx.py.
const CALIB_SEED: u32 = 1;
const INPUT_SEED: u32 = 2;
const CALIB_IMAGES: usize = 8;
const INPUTS: usize = 20;

struct Case {
    name: &'static str,
    float: &'static str,
    method: Method,
}

const CASES: [Case; 2] = [
    Case {
        name: "bn_minmax_a025_r64",
        float: "batchnorm_a025_r64.onnx",
        method: Method::MinMax,
    },
    Case {
        name: "keras_p9999_a025_r128",
        float: "exporters/keras_tf2onnx_a025_r128.onnx",
        method: Method::Percentile(99.99),
    },
];

/// The script's `hashed_images`: `n` images in the model's layout, element i of the flat
/// array `h(i + seed << 24) >> 24` as k / 128 - 1; returned as one NHWC tensor.
fn hashed_images(net: &Network, layout: Layout, n: usize, seed: u32) -> Tensor {
    let (h, w, c) = (net.in_h, net.in_w, net.in_c);
    let data: Vec<f32> = (0..n * h * w * c)
        .map(|i| {
            let mut x = (i as u32).wrapping_add(seed << 24);
            x = x.wrapping_mul(0x9E37_79B1);
            x ^= x >> 16;
            x = x.wrapping_mul(0x045D_9F3B);
            x ^= x >> 16;
            (x >> 24) as f32 / 128.0 - 1.0
        })
        .collect();
    match layout {
        Layout::Nhwc => Tensor::from_vec(Shape::new(n, h, w, c), data).unwrap(),
        Layout::Nchw => Tensor::from_nchw(n, c, h, w, &data).unwrap(),
    }
}

fn io_of(m: &Imported) -> QdqIo {
    QdqIo {
        input_name: m.input_name.clone(),
        output_name: m.output_name.clone(),
        input_layout: m.input_layout,
    }
}

/// The float model, its quantization and the written bytes.
fn quantized(case: &Case) -> (Imported, Q8Network, Vec<u8>) {
    let m = load_network(fixtures().join(case.float)).unwrap();
    let images = hashed_images(&m.network, m.input_layout, CALIB_IMAGES, CALIB_SEED);
    let options = Options {
        cpu: Some(portable_cpu()),
        ..Options::default()
    };
    let cal = calibrate_with(&m.network, &m.weights, &[images], case.method, options).unwrap();
    let q = quantize(&m.network, &m.weights, &cal).unwrap();
    let bytes = write_qdq(&q, &io_of(&m)).unwrap();
    (m, q, bytes)
}

#[test]
fn the_written_file_is_the_committed_one() {
    for case in &CASES {
        let (_, _, bytes) = quantized(case);
        let path = fixtures().join(format!("quantize/{}.onnx", case.name));
        let committed = std::fs::read(&path).unwrap();
        assert!(
            bytes == committed,
            "{}: re-quantizing gives other bytes than the committed file ({} vs {} bytes): \
             regenerate with scripts/check_quantized_onnx.py if the quantizer changed",
            case.name,
            bytes.len(),
            committed.len()
        );
        // And again in the same process.
        assert!(quantized(case).2 == bytes, "{}", case.name);
    }
}

#[test]
fn the_int8_run_agrees_with_onnx_runtime() {
    for case in &CASES {
        let (m, q, _) = quantized(case);
        let ort =
            read_npy_file(fixtures().join(format!("quantize/{}_ort.npy", case.name))).unwrap();
        let k = m.network.output_len();
        assert_eq!(ort.data.len(), INPUTS * k, "{}", case.name);
        let inputs = hashed_images(&m.network, m.input_layout, INPUTS, INPUT_SEED);
        let model = Q8Model::build(q, Options::default()).unwrap();
        let mut ws = model.workspace(INPUTS).unwrap();
        let mut out = vec![0.0; INPUTS * k];
        model.run(&mut ws, &inputs.data, INPUTS, &mut out).unwrap();

        let (lo, hi) = ort
            .data
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        let step = (hi - lo) / 255.0;
        let within = out
            .iter()
            .zip(&ort.data)
            .filter(|(a, b)| (*a - *b).abs() <= step)
            .count();
        let argmax = |r: &[f32]| (0..r.len()).max_by(|&i, &j| r[i].total_cmp(&r[j])).unwrap();
        let top1 = out
            .chunks(k)
            .zip(ort.data.chunks(k))
            .filter(|(a, b)| argmax(a) == argmax(b))
            .count();
        let max = out
            .iter()
            .zip(&ort.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!(
            "{}: {within}/{} outputs within 1 step ({step:.3e}) of ORT, max |diff| {max:.3e}, \
             top-1 {top1}/{INPUTS}",
            case.name,
            out.len()
        );
        assert!(
            within * 100 >= out.len() * 99,
            "{}: {within} of {} within one step",
            case.name,
            out.len()
        );
        assert_eq!(top1, INPUTS, "{}: top-1", case.name);
    }
}

#[test]
fn calibration_methods_and_errors() {
    let m = load_network(fixtures().join("batchnorm_a025_r64.onnx")).unwrap();
    let (net, w) = (&m.network, &m.weights);
    let images = vec![hashed_images(net, m.input_layout, 2, CALIB_SEED)];
    let options = Options {
        cpu: Some(portable_cpu()),
        ..Options::default()
    };
    let minmax = calibrate_with(net, w, &images, Method::MinMax, options).unwrap();
    let p = calibrate_with(net, w, &images, Method::Percentile(99.0), options).unwrap();
    // A percentile range lies inside the min/max one, and is narrower somewhere.
    let mut narrower = false;
    for (a, b) in minmax.layers.iter().zip(&p.layers) {
        assert!(b.0 >= a.0 && b.1 <= a.1, "{a:?} {b:?}");
        narrower |= b.1 < a.1;
    }
    assert!(narrower);
    assert_eq!(
        calibrate_with(net, w, &images, Method::Percentile(100.0), options)
            .unwrap()
            .layers
            .last(),
        minmax.layers.last()
    );
    // The reference and the per-layer models see about the same ranges.
    let reference = sepconv::net::q8::quantize::calibrate(net, w, &images).unwrap();
    for (a, b) in reference.layers.iter().zip(&minmax.layers) {
        let tol = 1e-4 * (a.1 - a.0).abs().max(1.0);
        assert!(
            (a.0 - b.0).abs() <= tol && (a.1 - b.1).abs() <= tol,
            "{a:?} {b:?}"
        );
    }

    assert!("percentile=99.9".parse::<Method>().unwrap() == Method::Percentile(99.9));
    assert!("percentile".parse::<Method>().unwrap() == Method::Percentile(99.99));
    for bad in ["max", "percentile=40", "percentile=x", "percentile=101"] {
        assert!(bad.parse::<Method>().is_err(), "{bad}");
    }
    let err = |images: &[Tensor]| {
        calibrate_with(net, w, images, Method::MinMax, options)
            .unwrap_err()
            .to_string()
    };
    assert!(err(&[]).contains("at least one image"));
    let mut nan = images[0].clone();
    nan.data[5] = f32::NAN;
    let e = err(&[nan]);
    assert!(
        e.contains("calibration image 0") && e.contains("not finite"),
        "{e}"
    );
    let small = Tensor::zeros(Shape::new(1, 32, 32, 3));
    let e = err(&[small]);
    assert!(e.contains("calibration image 0") && e.contains("64"), "{e}");
}

#[test]
fn the_writer_refuses_what_qdq_cannot_say() {
    let (m, q, _) = quantized(&CASES[0]);
    let mut odd = q.clone();
    odd.layers[3].scale[1] *= 1.5;
    let e = write_qdq(&odd, &io_of(&m)).unwrap_err();
    assert!(
        matches!(&e, Error::Model(s) if s.contains(&q.network.layers[3].spec.name)
            && s.contains("channel 1")),
        "{e}"
    );
    let mut clamp = q.clone();
    clamp.layers[2].out.hi = 200;
    let e = write_qdq(&clamp, &io_of(&m)).unwrap_err().to_string();
    assert!(e.contains("clamp"), "{e}");
}

/// The written file loaded back through the ONNX import is the quantized network: the
/// same quantization parameters, and bit-identical int8 outputs on seeded inputs.
#[test]
fn the_written_file_loads_back_as_the_same_network() {
    for case in &CASES {
        let (m, q, bytes) = quantized(case);
        let back = import_onnx(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name))
            .quant
            .unwrap_or_else(|| panic!("{}: no quantized network", case.name));
        assert_eq!(back.input, q.input, "{}", case.name);
        assert_eq!(back.input_rounding, q.input_rounding, "{}", case.name);
        assert_eq!(back.layers, q.layers, "{}: layers", case.name);
        assert_eq!(back.pool, q.pool, "{}: pool", case.name);
        assert_eq!(back.fc, q.fc, "{}: classifier", case.name);
        assert_eq!(back.network.head, q.network.head, "{}", case.name);
        for (a, b) in back.network.layers.iter().zip(&q.network.layers) {
            let (sa, sb) = (&a.spec, &b.spec);
            assert_eq!(
                (
                    sa.kind,
                    sa.in_c,
                    sa.out_c,
                    sa.stride,
                    sa.padding,
                    a.activation
                ),
                (
                    sb.kind,
                    sb.in_c,
                    sb.out_c,
                    sb.stride,
                    sb.padding,
                    b.activation
                ),
                "{}: layer {}",
                case.name,
                sb.name
            );
        }
        let inputs = hashed_images(&m.network, m.input_layout, INPUTS, INPUT_SEED);
        let run = |net: Q8Network| {
            let model = Q8Model::build(net, Options::default()).unwrap();
            let mut ws = model.workspace(INPUTS).unwrap();
            let mut out = vec![f32::NAN; INPUTS * model.output_len()];
            model.run(&mut ws, &inputs.data, INPUTS, &mut out).unwrap();
            out
        };
        let (want, got) = (run(q), run(back));
        assert!(
            want.iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}: the loaded model's outputs differ",
            case.name
        );
    }
}
