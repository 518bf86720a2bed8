//! The MobileNet V1 runner against the reference forward pass, on every ISA.

mod common;

use sepconv::net::{Fuse, Model, Options};
use sepconv::{
    reference, Activation, Error, MobileNetConfig, MobileNetWeights, PaddingStyle, Shape, Tensor,
};

fn input(batch: usize, res: usize, seed: usize) -> Tensor {
    let shape = Shape::new(batch, res, res, 3);
    let data = (0..shape.len())
        .map(|i| (((i * 7919 + seed * 104729) % 1000) as f32 / 500.0) - 1.0)
        .collect();
    Tensor::from_vec(shape, data).unwrap()
}

/// A MobileNet of width `alpha`, `resolution` and `classes` (the other settings the
/// defaults) with random weights from `seed` (batch norm folded in if `bn`), built with the
/// default options.
fn small_model(
    alpha: f32,
    resolution: usize,
    classes: usize,
    seed: u64,
    bn: bool,
) -> (MobileNetConfig, MobileNetWeights, Model) {
    let config = MobileNetConfig {
        alpha,
        resolution,
        classes,
        ..MobileNetConfig::default()
    };
    let weights = MobileNetWeights::random(&config, seed, bn).unwrap();
    let model = Model::build(&config, &weights, Options::default()).unwrap();
    (config, weights, model)
}

/// Max |a - b| relative to the largest |b|: outputs are logits or probabilities after 28
/// layers of f32 sums in different orders.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= 2e-4 * scale,
        "{what}: max error {err} at scale {scale}"
    );
}

fn check(config: MobileNetConfig, batch_norm: bool, batch: usize) {
    let weights = MobileNetWeights::random(&config, 11, batch_norm).unwrap();
    let x = input(batch, config.resolution, 3);
    let want = reference::mobilenet_v1_forward(&config, &weights, &x).unwrap();
    for isa in common::isas_under_test() {
        for (threads, fuse, depth_first) in [
            (1, Fuse::Never, None),
            (1, Fuse::Always, None),
            (2, Fuse::Never, None),
            (2, Fuse::Always, None),
            (3, Fuse::Auto, None),
            (1, Fuse::Never, Some(13)),
            (2, Fuse::Auto, Some(3)),
        ] {
            let model = Model::build(
                &config,
                &weights,
                Options {
                    threads,
                    cpu: Some(sepconv::Cpu::with_isa(isa).unwrap()),
                    fuse,
                    depth_first,
                },
            )
            .unwrap();
            let mut ws = model.workspace(batch).unwrap();
            let mut out = vec![0.0; batch * config.classes];
            model.run(&mut ws, &x.data, batch, &mut out).unwrap();
            assert_close(
                &out,
                &want.data,
                &format!(
                    "{config:?} bn={batch_norm} {isa} threads={threads} fuse={fuse:?} \
                     depth_first={depth_first:?}"
                ),
            );
        }
    }
}

#[test]
fn equals_reference_alpha_0_25_res_64_tf_same_relu_logits() {
    check(
        MobileNetConfig {
            alpha: 0.25,
            resolution: 64,
            classes: 17,
            softmax: false,
            ..MobileNetConfig::default()
        },
        false,
        1,
    );
}

#[test]
fn equals_reference_alpha_0_5_res_45_symmetric_relu6_bn_batch_2() {
    check(
        MobileNetConfig {
            alpha: 0.5,
            resolution: 45,
            classes: 10,
            activation: Activation::Relu6,
            padding: PaddingStyle::Symmetric,
            softmax: true,
        },
        true,
        2,
    );
}

#[test]
fn equals_reference_alpha_0_75_res_32_batch_3() {
    check(
        MobileNetConfig {
            alpha: 0.75,
            resolution: 32,
            classes: 5,
            softmax: false,
            ..MobileNetConfig::default()
        },
        true,
        3,
    );
}

/// Alpha 1.0 reaches 1024 channels, whose 4 KiB rows the AVX-512 tile reads at a padded
/// stride (`PackedGemmB::a_stride`): the depthwise layer before pw13 writes its pixels
/// that far apart on every path (layer by layer, fused, depth-first), and the pool writes
/// the classifier's rows so.
#[test]
fn equals_reference_alpha_1_0_res_32_batch_2() {
    check(
        MobileNetConfig {
            alpha: 1.0,
            resolution: 32,
            classes: 7,
            softmax: false,
            ..MobileNetConfig::default()
        },
        false,
        2,
    );
}

#[test]
fn nchw_entry_equals_nhwc() {
    let (_, _, model) = small_model(0.25, 33, 7, 5, false);
    let x = input(2, 33, 9);
    let r = 33;
    let mut nchw = vec![0.0; x.data.len()];
    for b in 0..2 {
        for y in 0..r {
            for xx in 0..r {
                for c in 0..3 {
                    nchw[((b * 3 + c) * r + y) * r + xx] = x.at(b, y, xx, c);
                }
            }
        }
    }
    let mut ws = model.workspace(2).unwrap();
    let (mut a, mut b) = (vec![0.0; 14], vec![0.0; 14]);
    model.run(&mut ws, &x.data, 2, &mut a).unwrap();
    model.run_nchw(&mut ws, &nchw, 2, &mut b).unwrap();
    assert_eq!(a, b);
}

#[test]
fn many_threads_share_one_model_bit_identically() {
    let (_, _, model) = small_model(0.25, 40, 10, 1, true);
    let inputs: Vec<Tensor> = (0..4).map(|s| input(1, 40, s)).collect();
    let expected: Vec<Vec<f32>> = inputs
        .iter()
        .map(|x| {
            let mut ws = model.workspace(1).unwrap();
            let mut out = vec![0.0; 10];
            model.run(&mut ws, &x.data, 1, &mut out).unwrap();
            out
        })
        .collect();
    std::thread::scope(|s| {
        for t in 0..8 {
            let (model, inputs, expected) = (&model, &inputs, &expected);
            s.spawn(move || {
                let mut ws = model.workspace(1).unwrap();
                let mut out = vec![0.0; 10];
                for i in 0..20 {
                    let k = (t + i) % inputs.len();
                    model.run(&mut ws, &inputs[k].data, 1, &mut out).unwrap();
                    assert_eq!(out, expected[k], "thread {t} run {i}");
                }
            });
        }
    });
}

#[test]
fn bad_calls_are_errors_naming_the_problem() {
    let (config, weights, model) = small_model(0.25, 32, 3, 1, false);
    let mut ws = model.workspace(1).unwrap();
    let x = input(1, 32, 0);
    let mut out = vec![0.0; 3];
    let e = model.run(&mut ws, &x.data[1..], 1, &mut out).unwrap_err();
    assert!(e.to_string().contains("input must hold"), "{e}");
    let e = model.run(&mut ws, &x.data, 1, &mut out[1..]).unwrap_err();
    assert!(e.to_string().contains("output must hold"), "{e}");
    let e = model.run(&mut ws, &x.data, 2, &mut out).unwrap_err();
    assert!(e.to_string().contains("batch 2"), "{e}");
    let e = Model::build(
        &config,
        &weights,
        Options {
            threads: 0,
            ..Options::default()
        },
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::Config(_)), "{e}");
    // Weights of another config are refused at build time, naming the tensor.
    let other = MobileNetWeights::random(
        &MobileNetConfig {
            alpha: 0.5,
            ..config
        },
        1,
        false,
    )
    .unwrap();
    let e = Model::build(&config, &other, Options::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("conv0 weights"), "{e}");
    // A workspace of a smaller model is refused.
    let small = MobileNetConfig {
        resolution: 16,
        ..config
    };
    let small_model = Model::build(
        &small,
        &MobileNetWeights::random(&small, 1, false).unwrap(),
        Options::default(),
    )
    .unwrap();
    let mut small_ws = small_model.workspace(1).unwrap();
    let e = model.run(&mut small_ws, &x.data, 1, &mut out).unwrap_err();
    assert!(e.to_string().contains("workspace"), "{e}");
}

#[test]
fn model_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Model>();
}

/// Depth-first execution computes every value as the layers run one by one do, whatever
/// the number of blocks in the pipeline, the threads sharing its rows, the batch and the
/// geometry (odd sizes, both paddings: the windows' edges and the stride-2 layers' row
/// parity differ).
#[test]
fn depth_first_is_bit_identical_to_layer_by_layer() {
    for (geometry, (alpha, resolution, padding, batch)) in [
        (0.25, 64, PaddingStyle::TfSame, 1),
        (0.25, 45, PaddingStyle::Symmetric, 2),
        (0.5, 37, PaddingStyle::TfSame, 1),
        (0.25, 30, PaddingStyle::Symmetric, 1),
    ]
    .into_iter()
    .enumerate()
    {
        let config = MobileNetConfig {
            alpha,
            resolution,
            classes: 9,
            padding,
            softmax: false,
            ..MobileNetConfig::default()
        };
        let weights = MobileNetWeights::random(&config, 5, true).unwrap();
        let x = input(batch, resolution, 7);
        let run = |threads, depth_first| {
            let options = Options {
                threads,
                fuse: Fuse::Never,
                depth_first: Some(depth_first),
                ..Options::default()
            };
            let model = Model::build(&config, &weights, options).unwrap();
            assert_eq!(model.depth_first_blocks(), depth_first);
            let mut ws = model.workspace(batch).unwrap();
            let mut out = vec![0.0; batch * config.classes];
            model.run(&mut ws, &x.data, batch, &mut out).unwrap();
            out
        };
        let want = run(1, 0);
        // Every depth at one of 1-3 threads, rotating with the geometry, so that over
        // the four geometries each depth meets every thread count (a full grid took two
        // minutes of the CI's emulated-Haswell run).
        for depth_first in 1..=13 {
            let threads = 1 + (depth_first + geometry) % 3;
            assert_eq!(
                run(threads, depth_first),
                want,
                "{config:?} batch {batch}: {depth_first} blocks depth-first, {threads} threads"
            );
        }
    }
}

#[test]
fn depth_first_past_the_last_block_is_an_error() {
    let config = MobileNetConfig {
        alpha: 0.25,
        resolution: 32,
        classes: 3,
        ..MobileNetConfig::default()
    };
    let weights = MobileNetWeights::random(&config, 1, false).unwrap();
    let options = Options {
        depth_first: Some(14),
        ..Options::default()
    };
    match Model::build(&config, &weights, options) {
        Err(Error::Config(msg)) => assert!(msg.contains("depth-first"), "{msg}"),
        other => panic!("expected a config error, got {:?}", other.err()),
    }
}
