//! The runner on any `Network` against `reference::network_forward`, on every ISA.

mod common;

use proptest::prelude::*;
use sepconv::net::{
    layer_spec, Fuse, Head, LayerKind, Model, NetLayer, Network, NetworkWeights, Options,
};
use sepconv::{reference, Activation, Padding, Shape, Tensor};

/// One layer of a random network: kind (0 full 3x3, 1 depthwise, 2 pointwise), output
/// channels, stride, padding (0 TF-same, 1 symmetric, 2 none) and activation.
type Recipe = (u8, usize, usize, u8, u8);

fn activation(a: u8) -> Activation {
    match a % 3 {
        0 => Activation::None,
        1 => Activation::Relu,
        _ => Activation::Relu6,
    }
}

/// The network of `layers` over an `in_h` x `in_w` x `in_c` input; a padding that does
/// not fit the input falls back to symmetric.
fn network((in_h, in_w, in_c): (usize, usize, usize), layers: &[Recipe], head: Head) -> Network {
    let mut shape = (in_h, in_w, in_c);
    let mut out = Vec::new();
    for (i, &(kind, out_c, stride, pad, act)) in layers.iter().enumerate() {
        let kind = match kind {
            0 => LayerKind::Conv0,
            1 => LayerKind::Depthwise,
            _ => LayerKind::Pointwise,
        };
        let (out_c, stride, padding) = match kind {
            LayerKind::Pointwise => (out_c, 1, Padding::default()),
            LayerKind::Depthwise | LayerKind::Conv0 => {
                let out_c = if kind == LayerKind::Depthwise {
                    shape.2
                } else {
                    out_c
                };
                let padding = match pad {
                    0 => Padding::tf_same(shape.0, shape.1, 3, stride),
                    1 => Padding::symmetric(1),
                    _ if shape.0 >= 3 && shape.1 >= 3 => Padding::default(),
                    _ => Padding::symmetric(1),
                };
                (out_c, stride, padding)
            }
        };
        let spec = layer_spec(format!("l{i}"), kind, shape, out_c, stride, padding).unwrap();
        shape = (spec.out_h, spec.out_w, spec.out_c);
        out.push(NetLayer {
            spec,
            activation: activation(act),
        });
    }
    Network {
        in_h,
        in_w,
        in_c,
        layers: out,
        head,
    }
}

fn input(batch: usize, net: &Network, seed: usize) -> Tensor {
    let shape = Shape::new(batch, net.in_h, net.in_w, net.in_c);
    let data = (0..shape.len())
        .map(|i| (((i * 7919 + seed * 104729) % 1000) as f32 / 500.0) - 1.0)
        .collect();
    Tensor::from_vec(shape, data).unwrap()
}

/// As tests/runner.rs: max |a - b| relative to the largest |b|.
fn assert_close(got: &[f32], want: &[f32], what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    prop_assert!(
        err <= 2e-4 * scale,
        "{}: max error {} at scale {}",
        what,
        err,
        scale
    );
    Ok(())
}

/// `net` with random weights against the reference, every ISA, threads 1 and 2, every
/// `Fuse` mode.
fn check(net: &Network, batch: usize, seed: u64, bn: bool) -> Result<(), TestCaseError> {
    let weights = NetworkWeights::random(net, seed, bn);
    let x = input(batch, net, seed as usize);
    let want = reference::network_forward(net, &weights, &x).unwrap();
    // The blocks that may run depth-first: those right after a conv0 the direct kernel
    // takes (3 channels, stride 2).
    let first = &net.layers[0].spec;
    let deep = if first.kind == LayerKind::Conv0 && first.in_c == 3 && first.stride == 2 {
        net.layers[1..]
            .chunks_exact(2)
            .take_while(|p| {
                (p[0].spec.kind, p[1].spec.kind) == (LayerKind::Depthwise, LayerKind::Pointwise)
            })
            .count()
            .min(13)
    } else {
        0
    };
    let nchw = to_nchw(&x);
    for isa in common::isas_under_test() {
        for threads in [1, 2] {
            let modes = [Fuse::Auto, Fuse::Never, Fuse::Always].map(|f| (f, None));
            let deep_mode = (deep > 0).then_some((Fuse::Never, Some(deep)));
            for (fuse, depth_first) in modes.into_iter().chain(deep_mode) {
                let model = Model::build_network(
                    net,
                    &weights,
                    Options {
                        threads,
                        cpu: Some(sepconv::Cpu::with_isa(isa).unwrap()),
                        fuse,
                        depth_first,
                    },
                )
                .unwrap();
                prop_assert_eq!(model.output_len(), net.output_len());
                prop_assert_eq!(model.input_len(), net.input_len());
                let mut ws = model.workspace(batch).unwrap();
                let mut out = vec![f32::NAN; batch * model.output_len()];
                model.run(&mut ws, &x.data, batch, &mut out).unwrap();
                let what = format!(
                    "{isa:?} threads {threads} {fuse:?} depth-first {depth_first:?} batch {batch}"
                );
                assert_close(&out, &want.data, &what)?;
                if fuse == Fuse::Auto {
                    // The NCHW entry and the profiled run give the same bits.
                    let mut again = vec![f32::NAN; out.len()];
                    model.run_nchw(&mut ws, &nchw, batch, &mut again).unwrap();
                    prop_assert_eq!(&again, &out, "{} nchw", what);
                    let mut ms = vec![0.0; model.steps().len()];
                    model
                        .run_profiled(&mut ws, &x.data, batch, &mut again, &mut ms)
                        .unwrap();
                    prop_assert_eq!(&again, &out, "{} profiled", what);
                }
            }
        }
    }
    Ok(())
}

/// `x` (NHWC) as NCHW.
fn to_nchw(x: &Tensor) -> Vec<f32> {
    let s = x.shape;
    let mut out = vec![0.0; s.len()];
    for n in 0..s.n {
        for y in 0..s.h {
            for xx in 0..s.w {
                for c in 0..s.c {
                    out[((n * s.c + c) * s.h + y) * s.w + xx] = x.at(n, y, xx, c);
                }
            }
        }
    }
    out
}

fn later_layer() -> impl Strategy<Value = Recipe> {
    (0u8..3, 1usize..40, 1usize..=2, 0u8..3, 0u8..3)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: common::cases(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_networks_equal_the_reference(
        in_h in 1usize..24,
        in_w in 1usize..24,
        in_c in 1usize..=4,
        first in (1usize..40, 1usize..=2, 0u8..3, 0u8..3),
        later in prop::collection::vec(later_layer(), 0..6),
        head in (any::<bool>(), prop::option::of(1usize..12), any::<bool>()),
        batch in 1usize..=3,
        seed in 0u64..1000,
        bn in any::<bool>(),
    ) {
        let (out_c, stride, pad, act) = first;
        let mut layers = vec![(0, out_c, stride, pad, act)];
        layers.extend(later);
        let (pool, classes, softmax) = head;
        let head = Head {
            pool,
            classes: classes.filter(|_| pool),
            softmax: softmax && pool,
        };
        let net = network((in_h, in_w, in_c), &layers, head);
        check(&net, batch, seed, bn)?;
    }
}

fn run(net: &Network, batch: usize) {
    check(net, batch, 7, true).unwrap();
}

const NO_HEAD: Head = Head {
    pool: false,
    classes: None,
    softmax: false,
};

#[test]
fn one_pixel_input() {
    let head = Head {
        pool: true,
        classes: Some(5),
        softmax: true,
    };
    let layers = [(0, 8, 2, 0, 1), (1, 0, 1, 1, 2), (2, 16, 1, 0, 1)];
    run(&network((1, 1, 3), &layers, head), 2);
}

#[test]
fn one_input_channel() {
    let layers = [(0, 8, 1, 1, 1), (1, 0, 2, 0, 1), (2, 12, 1, 0, 2)];
    run(&network((9, 13, 1), &layers, NO_HEAD), 1);
}

#[test]
fn a_single_pointwise_layer() {
    let layers = [(2, 7, 1, 0, 0)];
    run(&network((5, 6, 11), &layers, NO_HEAD), 3);
    let head = Head {
        pool: true,
        classes: None,
        softmax: false,
    };
    run(&network((5, 6, 11), &layers, head), 1);
}

#[test]
fn conv0_alone_without_a_head() {
    let layers = [(0, 32, 2, 0, 2)];
    let net = network((17, 16, 3), &layers, NO_HEAD);
    assert_eq!(net.output_len(), 9 * 8 * 32);
    run(&net, 2);
}

#[test]
fn full_convs_later_and_lone_layers() {
    // conv0, a full conv mid-chain, a lone depthwise, two pointwise in a row.
    let head = Head {
        pool: true,
        classes: Some(4),
        softmax: false,
    };
    let layers = [
        (0, 8, 2, 0, 1),
        (0, 12, 1, 1, 2),
        (1, 0, 2, 0, 0),
        (1, 0, 1, 1, 1),
        (2, 20, 1, 0, 1),
        (2, 6, 1, 0, 0),
    ];
    run(&network((20, 15, 3), &layers, head), 2);
}

#[test]
fn mobilenet_as_a_network_matches_build() {
    let config = sepconv::MobileNetConfig {
        alpha: 0.25,
        resolution: 40,
        classes: 7,
        ..Default::default()
    };
    let w = sepconv::MobileNetWeights::random(&config, 2, true).unwrap();
    let net = Network::mobilenet(&config).unwrap();
    let a = Model::build(&config, &w, Options::default()).unwrap();
    let b = Model::build_network(
        &net,
        &NetworkWeights::from_mobilenet(&w),
        Options::default(),
    )
    .unwrap();
    assert_eq!(a.config(), Some(&config));
    assert_eq!(b.config(), Some(&config));
    let x = input(1, &net, 1);
    let (mut oa, mut ob) = (vec![0.0; 7], vec![0.0; 7]);
    a.run(&mut a.workspace(1).unwrap(), &x.data, 1, &mut oa)
        .unwrap();
    b.run(&mut b.workspace(1).unwrap(), &x.data, 1, &mut ob)
        .unwrap();
    assert_eq!(oa, ob);
}

#[test]
fn depth_first_general_net_writes_the_output() {
    // conv0 and two blocks of mixed activations, no head: with both blocks depth-first
    // the pipeline writes the output itself.
    let layers = [
        (0, 8, 2, 0, 2),
        (1, 0, 1, 1, 0),
        (2, 12, 1, 0, 1),
        (1, 0, 2, 0, 2),
        (2, 16, 1, 0, 0),
    ];
    run(&network((23, 18, 3), &layers, NO_HEAD), 2);
}

#[test]
fn wrong_lengths_name_the_network_shape() {
    let layers = [(0, 4, 1, 1, 1), (2, 6, 1, 0, 0)];
    let net = network((5, 7, 2), &layers, NO_HEAD);
    let w = NetworkWeights::random(&net, 1, false);
    let model = Model::build_network(&net, &w, Options::default()).unwrap();
    assert_eq!(model.config(), None);
    let mut ws = model.workspace(1).unwrap();
    let mut out = vec![0.0; model.output_len()];
    let e = model.run(&mut ws, &[0.0; 69], 1, &mut out).unwrap_err();
    assert!(e.to_string().contains("1 x 5 x 7 x 2 = 70"), "{e}");
    let e = model
        .run(&mut ws, &[0.0; 70], 1, &mut out[1..])
        .unwrap_err();
    assert!(e.to_string().contains("1 x 5 x 7 x 6 = 210"), "{e}");
    // Depth-first needs conv0 by the direct kernel first.
    let options = Options {
        depth_first: Some(1),
        ..Options::default()
    };
    assert!(Model::build_network(&net, &w, options).is_err());
    // Weights of another network are refused, naming the layer.
    let other = network((5, 7, 2), &[(0, 5, 1, 1, 1), (2, 6, 1, 0, 0)], NO_HEAD);
    let e = Model::build_network(
        &net,
        &NetworkWeights::random(&other, 1, false),
        Options::default(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("l0"), "{e}");
}

#[test]
fn steps_follow_the_layers() {
    let head = Head {
        pool: true,
        classes: Some(3),
        softmax: true,
    };
    let layers = [
        (0, 8, 1, 1, 1),
        (1, 0, 1, 1, 1),
        (2, 8, 1, 0, 1),
        (2, 4, 1, 0, 0),
    ];
    let net = network((6, 6, 2), &layers, head);
    let model = Model::build_network(
        &net,
        &NetworkWeights::random(&net, 1, false),
        Options::default(),
    )
    .unwrap();
    let names: Vec<String> = model.steps().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["l0", "l1", "l2", "l3", "pool", "fc"]);
}

#[test]
fn profile_steps_are_named_after_layers() {
    let head = Head {
        pool: true,
        classes: Some(3),
        softmax: true,
    };
    let layers = [
        (0, 8, 1, 0, 1),
        (1, 0, 2, 0, 0),
        (2, 6, 1, 0, 1),
        (2, 5, 1, 0, 1),
    ];
    let net = network((10, 9, 2), &layers, head);
    let weights = NetworkWeights::random(&net, 1, false);
    let model = Model::build_network(&net, &weights, Options::default()).unwrap();
    let names: Vec<String> = model.steps().iter().map(|s| s.name.clone()).collect();
    for layer in ["l0", "l1", "l2", "l3"] {
        assert!(
            names.iter().any(|n| n.contains(layer)),
            "{layer} in {names:?}"
        );
    }
    let mut ws = model.workspace(1).unwrap();
    let x = input(1, &net, 2);
    let mut out = vec![0.0; model.output_len()];
    let mut ms = vec![0.0; names.len()];
    model
        .run_profiled(&mut ws, &x.data, 1, &mut out, &mut ms)
        .unwrap();
    let want = reference::network_forward(&net, &weights, &x).unwrap();
    assert_close(&out, &want.data, "profiled").unwrap();
}
