//! ONNX fixtures (scripts/gen_fixtures.py) and the peers' real models against ONNX Runtime's
//! outputs, and the safetensors round trips.

use sepconv::io::{self, InputLayout, OnnxModel};
use sepconv::{
    reference, Activation, MobileNetConfig, MobileNetWeights, PaddingStyle, Result, Shape, Tensor,
};
use std::path::{Path, PathBuf};

mod common;

use sepconv::net::{Model, Options};
use sepconv::Isa;

/// A forward pass under test: the reference now, the runner later.
type Forward<'f> = &'f dyn Fn(&MobileNetConfig, &MobileNetWeights, &Tensor) -> Result<Tensor>;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn import(path: &Path) -> OnnxModel {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    io::import_onnx(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The model's input .npy as an NHWC tensor.
fn input_tensor(path: &Path, layout: InputLayout) -> Tensor {
    let a = io::read_npy_file(path).unwrap();
    let d = a.shape.as_slice();
    assert_eq!(d.len(), 4, "{}", path.display());
    match layout {
        InputLayout::Nchw => Tensor::from_nchw(d[0], d[1], d[2], d[3], &a.data).unwrap(),
        InputLayout::Nhwc => Tensor::from_vec(Shape::new(d[0], d[1], d[2], d[3]), a.data).unwrap(),
    }
}

/// Runs `forward` on the model and compares with ONNX Runtime's output: every value within
/// 1e-4 + 1e-3 * max |expected|.
fn compare(model: &OnnxModel, input: &Tensor, expected: &Path, forward: Forward) {
    let want = io::read_npy_file(expected).unwrap();
    let (config, weights) = model.clone().into_mobilenet().unwrap();
    let got = forward(&config, &weights, input).unwrap();
    assert_eq!(
        got.data.len(),
        want.data.len(),
        "{}: output shape {} vs {:?}",
        expected.display(),
        got.shape,
        want.shape
    );
    let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let tol = 1e-4 + 1e-3 * scale;
    for (i, (g, w)) in got.data.iter().zip(&want.data).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "{}: value {i}: got {g}, ONNX Runtime {w} (tolerance {tol})",
            expected.display()
        );
    }
}

/// Loads fixture `name` and checks `forward` against ONNX Runtime's output.
pub fn check_fixture(name: &str, forward: Forward) -> OnnxModel {
    let dir = fixtures();
    let model = import(&dir.join(format!("{name}.onnx")));
    let input = input_tensor(&dir.join(format!("{name}_input.npy")), model.input_layout);
    compare(
        &model,
        &input,
        &dir.join(format!("{name}_output.npy")),
        forward,
    );
    model
}

fn reference_forward(c: &MobileNetConfig, w: &MobileNetWeights, x: &Tensor) -> Result<Tensor> {
    reference::mobilenet_v1_forward(c, w, x)
}

/// The configuration scripts/gen_fixtures.py built each fixture with.
/// Alpha, resolution, classes, activation, padding style and softmax of a config.
type Expect = (f32, usize, usize, Activation, PaddingStyle, bool);

fn expect_config(
    m: &OnnxModel,
    (alpha, resolution, classes, activation, padding, softmax): Expect,
) {
    let c = m.network.as_mobilenet().expect("a MobileNet V1");
    // The generator's alphas are short decimals, which the importer prefers.
    assert_eq!(c.alpha, alpha);
    assert_eq!(
        (c.resolution, c.classes, c.activation, c.padding, c.softmax),
        (resolution, classes, activation, padding, softmax)
    );
}

#[test]
fn pytorch_style_alpha_025_res_128() {
    let m = check_fixture("pytorch_a025_r128", &reference_forward);
    expect_config(
        &m,
        (
            0.25,
            128,
            100,
            Activation::Relu,
            PaddingStyle::Symmetric,
            false,
        ),
    );
    assert_eq!(m.input_layout, InputLayout::Nchw);
}

#[test]
fn unfolded_batch_norm_with_batch_2_and_softmax() {
    let m = check_fixture("batchnorm_a025_r64", &reference_forward);
    expect_config(
        &m,
        (
            0.25,
            64,
            10,
            Activation::Relu,
            PaddingStyle::Symmetric,
            true,
        ),
    );
    // The passes fold every BatchNormalization into the convolution before it.
    assert!(m.weights.convs.iter().all(|c| c.bn.is_none()));
}

#[test]
fn relu6_as_clip_inputs_and_alpha_035() {
    let m = check_fixture("relu6_a035_r96", &reference_forward);
    expect_config(
        &m,
        (
            0.35,
            96,
            20,
            Activation::Relu6,
            PaddingStyle::Symmetric,
            false,
        ),
    );
    let c = m.network.as_mobilenet().unwrap();
    assert_eq!(c.feature_channels(), 358);
    assert_eq!(c.alpha, 0.35);
}

#[test]
fn tensorflow_style_nhwc_tf_same_reduce_mean_matmul() {
    let m = check_fixture("tf_same_a025_r100", &reference_forward);
    expect_config(
        &m,
        (0.25, 100, 50, Activation::Relu6, PaddingStyle::TfSame, true),
    );
    assert_eq!(m.input_layout, InputLayout::Nhwc);
}

#[test]
fn keras_zero_padding_and_conv_preds_head() {
    let m = check_fixture("keras_pad_a0125_r64", &reference_forward);
    expect_config(
        &m,
        (0.125, 64, 10, Activation::Relu6, PaddingStyle::TfSame, true),
    );
    assert_eq!(m.input_layout, InputLayout::Nhwc);
}

#[test]
fn tf_slim_average_pool_and_conv_logits() {
    let m = check_fixture("slim_avgpool_a0125_r64", &reference_forward);
    expect_config(
        &m,
        (0.125, 64, 10, Activation::Relu6, PaddingStyle::TfSame, true),
    );
}

#[test]
fn opset9_clip_attributes_and_conv_classifier() {
    let m = check_fixture("opset9_a0125_r32", &reference_forward);
    expect_config(
        &m,
        (
            0.125,
            32,
            16,
            Activation::Relu6,
            PaddingStyle::Symmetric,
            false,
        ),
    );
}

#[test]
fn opset18_reduce_mean_axes_input() {
    let m = check_fixture("opset18_a025_r32", &reference_forward);
    expect_config(
        &m,
        (0.25, 32, 12, Activation::Relu, PaddingStyle::TfSame, false),
    );
}

/// The peers' real export (TF-SAME pads, NCHW, logits and probabilities as two outputs).
#[test]
fn peer_model_alpha_025_res_128() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/models");
    let model_path = dir.join("mbv1_a0.25_r128.onnx");
    if !model_path.exists() {
        println!(
            "note: {} is absent; skipping the peer model test",
            model_path.display()
        );
        return;
    }
    let m = import(&model_path);
    // The first graph output is the logits; the Softmax feeds the second.
    assert_eq!(m.output_name, "logits");
    expect_config(
        &m,
        (
            0.25,
            128,
            1000,
            Activation::Relu,
            PaddingStyle::TfSame,
            false,
        ),
    );
    let input = input_tensor(&dir.join("mbv1_a0.25_r128_input_nchw.npy"), m.input_layout);
    compare(
        &m,
        &input,
        &dir.join("mbv1_a0.25_r128_ort_logits.npy"),
        &reference_forward,
    );
    // The larger peer model has no reference output: check that it maps onto the plan.
    let big = dir.join("mbv1_a0.5_r160.onnx");
    if big.exists() {
        let m = import(&big);
        expect_config(
            &m,
            (
                0.5,
                160,
                1000,
                Activation::Relu,
                PaddingStyle::TfSame,
                false,
            ),
        );
    }
}

#[test]
fn load_model_dispatches_on_extension_and_bytes() {
    let path = fixtures().join("opset9_a0125_r32.onnx");
    let (config, weights) = io::load_model(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        io::load_model_bytes(&bytes).unwrap(),
        (config, weights.clone())
    );

    let st = io::save_safetensors(&config, &weights).unwrap();
    assert_eq!(
        io::load_model_bytes(&st).unwrap(),
        (config, weights.clone())
    );
    let tmp = std::env::temp_dir().join(format!(
        "sepconv-io-test-{}.safetensors",
        std::process::id()
    ));
    io::save_safetensors_file(&tmp, &config, &weights).unwrap();
    let loaded = io::load_model(&tmp);
    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(loaded.unwrap(), (config, weights));

    let missing = fixtures().join("no_such_model.onnx");
    match io::load_model(&missing) {
        Err(sepconv::Error::Io { path, .. }) => assert!(path.contains("no_such_model"), "{path}"),
        other => panic!("expected an I/O error naming the path, got {other:?}"),
    }
    let e = io::load_model(fixtures().join("opset9_a0125_r32_input.npy")).unwrap_err();
    assert!(e.to_string().contains("extension"), "{e}");
    let npy = std::fs::read(fixtures().join("opset9_a0125_r32_input.npy")).unwrap();
    let e = io::load_model_bytes(&npy).unwrap_err();
    assert!(e.to_string().contains(".npy"), "{e}");
}

#[test]
fn safetensors_round_trip_keeps_every_weight() {
    for (alpha, res, bn, activation, padding) in [
        (0.25, 32, true, Activation::Relu6, PaddingStyle::TfSame),
        (0.75, 64, false, Activation::None, PaddingStyle::Symmetric),
    ] {
        let config = MobileNetConfig {
            alpha,
            resolution: res,
            classes: 7,
            activation,
            padding,
            softmax: !bn,
        };
        let weights = MobileNetWeights::random(&config, 11, bn).unwrap();
        let bytes = io::save_safetensors(&config, &weights).unwrap();
        let (c2, w2) = io::load_safetensors(&bytes).unwrap();
        assert_eq!(c2, config);
        assert_eq!(w2, weights);
    }
}

#[test]
fn onnx_to_safetensors_gives_the_same_output() {
    let dir = fixtures();
    for name in ["relu6_a035_r96", "tf_same_a025_r100"] {
        let m = import(&dir.join(format!("{name}.onnx")));
        let (c0, w0) = m.clone().into_mobilenet().unwrap();
        let bytes = io::save_safetensors(&c0, &w0).unwrap();
        let (config, weights) = io::load_safetensors(&bytes).unwrap();
        let input = input_tensor(&dir.join(format!("{name}_input.npy")), m.input_layout);
        let a = reference::mobilenet_v1_forward(&c0, &w0, &input).unwrap();
        let b = reference::mobilenet_v1_forward(&config, &weights, &input).unwrap();
        assert_eq!(a, b, "{name}");
        // And both still match ONNX Runtime.
        let reloaded = OnnxModel {
            network: sepconv::net::Network::mobilenet(&config).unwrap(),
            weights: sepconv::net::NetworkWeights::from_mobilenet(&weights),
            ..m
        };
        compare(
            &reloaded,
            &input,
            &dir.join(format!("{name}_output.npy")),
            &reference_forward,
        );
    }
}

/// The runner with the kernels of `isa`, as a forward pass.
fn runner_forward(
    isa: Isa,
) -> impl Fn(&MobileNetConfig, &MobileNetWeights, &Tensor) -> Result<Tensor> {
    move |c, w, x| {
        let model = Model::build(
            c,
            w,
            Options {
                threads: 2,
                cpu: Some(sepconv::Cpu::with_isa(isa).unwrap()),
                ..Options::default()
            },
        )?;
        let batch = x.shape.n;
        let mut ws = model.workspace(batch)?;
        let mut out = vec![0.0; batch * c.classes];
        model.run(&mut ws, &x.data, batch, &mut out)?;
        Tensor::from_vec(Shape::new(batch, 1, 1, c.classes), out)
    }
}

const FIXTURES: [&str; 8] = [
    "pytorch_a025_r128",
    "batchnorm_a025_r64",
    "relu6_a035_r96",
    "tf_same_a025_r100",
    "keras_pad_a0125_r64",
    "slim_avgpool_a0125_r64",
    "opset9_a0125_r32",
    "opset18_a025_r32",
];

#[test]
fn runner_matches_onnx_runtime_on_every_fixture_and_isa() {
    for isa in common::isas_under_test() {
        for name in FIXTURES {
            check_fixture(name, &runner_forward(isa));
        }
    }
}

/// The runner on the peers' three real exports (1.0-224, 0.5-160, 0.25-128) against
/// ONNX Runtime's logits.
#[test]
fn runner_matches_onnx_runtime_on_the_peer_models() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/models");
    for stem in ["mbv1_a0.25_r128", "mbv1_a0.5_r160", "mbv1_a1.0_r224"] {
        let model_path = dir.join(format!("{stem}.onnx"));
        if !model_path.exists() {
            println!("note: {} is absent; skipping", model_path.display());
            continue;
        }
        let m = import(&model_path);
        let input = input_tensor(&dir.join(format!("{stem}_input_nchw.npy")), m.input_layout);
        for isa in common::isas_under_test() {
            compare(
                &m,
                &input,
                &dir.join(format!("{stem}_ort_logits.npy")),
                &runner_forward(isa),
            );
        }
    }
}
