//! The int8 runner (`net::q8::Q8Model`) against `reference::q8_network_forward`, bit for
//! bit, on every ISA under test: MobileNet V1 quantized by min/max calibration, and random
//! sequential networks (full 3x3 convs first and later, lone depthwise and pointwise
//! layers, every activation, every head), batch 1-3. Plus how close the int8 model stays
//! to the f32 one (top-1 and error relative to the logits' range).

mod common;

use proptest::prelude::*;
use sepconv::net::q8::quantize::{calibrate, quantize, seeded_images};
use sepconv::net::q8::{Q8Input, Q8Model, Q8Network, Q8Output};
use sepconv::net::{layer_spec, Head, LayerKind, NetLayer, Network, NetworkWeights, Options};
use sepconv::{reference, Activation, MobileNetConfig, Padding, Shape, Tensor};

fn batch_of(images: &[Tensor]) -> Tensor {
    let s = images[0].shape;
    let data: Vec<f32> = images.iter().flat_map(|t| t.data.clone()).collect();
    Tensor::from_vec(Shape::new(images.len(), s.h, s.w, s.c), data).unwrap()
}

/// Every ISA under test, at 1 and 2 threads, batch 1 and the whole batch, f32 NHWC and
/// NCHW, u8 and i8 codes in, codes out where the network ends in them: the reference's
/// bits.
fn check(q: &Q8Network, x: &Tensor) {
    let want = reference::q8_network_forward(q, x).unwrap();
    let n = x.shape.n;
    let s = x.shape;
    let hw = s.h * s.w;
    let mut nchw = vec![0.0; x.data.len()];
    for (b, image) in x.data.chunks_exact(hw * s.c).enumerate() {
        for (p, px) in image.chunks_exact(s.c).enumerate() {
            for (c, &v) in px.iter().enumerate() {
                nchw[b * hw * s.c + c * hw + p] = v;
            }
        }
    }
    let codes: Vec<u8> = x
        .data
        .iter()
        .map(|&v| q.input_rounding.quantize(q.input, v))
        .collect();
    let codes_i8: Vec<i8> = codes.iter().map(|&v| (v ^ 0x80) as i8).collect();
    for isa in common::isas_under_test() {
        for threads in [1, 2] {
            let what = format!("{isa:?}, {threads} threads, batch {n}");
            let options = Options {
                cpu: Some(sepconv::Cpu::with_isa(isa).unwrap()),
                threads,
                ..Options::default()
            };
            let model = Q8Model::build(q.clone(), options).unwrap();
            assert_eq!(model.input_quant(), q.input);
            let mut ws = model.workspace(n).unwrap();
            let mut out = vec![f32::NAN; n * model.output_len()];
            model.run(&mut ws, &x.data, n, &mut out).unwrap();
            assert_eq!(out, want.data, "{what}");
            // One image at a time in the same workspace: the same rows.
            let per = model.output_len();
            let one = x.data.len() / n;
            for i in 0..n {
                let mut o = vec![f32::NAN; per];
                model
                    .run(&mut ws, &x.data[i * one..(i + 1) * one], 1, &mut o)
                    .unwrap();
                assert_eq!(o, want.data[i * per..(i + 1) * per], "{what}: image {i}");
            }
            let mut steps = vec![0.0; model.steps().len()];
            out.fill(f32::NAN);
            model
                .run_profiled(&mut ws, &x.data, n, &mut out, &mut steps)
                .unwrap();
            assert_eq!(out, want.data, "{what}: profiled");
            out.fill(f32::NAN);
            model.run_nchw(&mut ws, &nchw, n, &mut out).unwrap();
            assert_eq!(out, want.data, "{what}: nchw");
            for input in [Q8Input::U8(&codes), Q8Input::I8(&codes_i8)] {
                out.fill(f32::NAN);
                model
                    .run_codes(&mut ws, input, n, Q8Output::F32(&mut out))
                    .unwrap();
                assert_eq!(out, want.data, "{what}: {input:?}");
            }
            let mut raw = vec![0u8; out.len()];
            let mut raw_i8 = vec![0i8; out.len()];
            match model.output_quant() {
                Some(oq) => {
                    model
                        .run_codes(&mut ws, Q8Input::U8(&codes), n, Q8Output::U8(&mut raw))
                        .unwrap();
                    let deq: Vec<f32> = raw.iter().map(|&v| oq.dequantize(v)).collect();
                    assert_eq!(deq, want.data, "{what}: u8 codes out");
                    model
                        .run_codes(
                            &mut ws,
                            Q8Input::I8(&codes_i8),
                            n,
                            Q8Output::I8(&mut raw_i8),
                        )
                        .unwrap();
                    assert!(
                        raw.iter().zip(&raw_i8).all(|(&u, &i)| u ^ 0x80 == i as u8),
                        "{what}: i8 codes out"
                    );
                }
                None => {
                    let r =
                        model.run_codes(&mut ws, Q8Input::U8(&codes), n, Q8Output::U8(&mut raw));
                    assert!(r.is_err(), "{what}: codes out of an f32 output");
                }
            }
            // Wrong lengths are errors.
            assert!(model.run(&mut ws, &x.data[1..], n, &mut out).is_err());
            assert!(model
                .run_codes(
                    &mut ws,
                    Q8Input::U8(&codes),
                    n,
                    Q8Output::F32(&mut out[1..])
                )
                .is_err());
        }
    }
}

/// The quantizer's weight codes are `round_half_even(w / s)` clamped to +-127, the scale
/// `max |w| / 127` per output channel.
fn check_weight_codes(net: &Network, weights: &NetworkWeights, q: &Q8Network) {
    for ((layer, w), ql) in net.layers.iter().zip(&weights.convs).zip(&q.layers) {
        let (fw, _) = sepconv::net::fold_batch_norm(w);
        let per = fw.len() / layer.spec.out_c;
        for (o, row) in fw.chunks(per).enumerate() {
            let m = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let s = if m > 0.0 { m / 127.0 } else { 1.0 };
            assert_eq!(ql.weight_scale[o], s);
            for (i, v) in row.iter().enumerate() {
                let want = (v / s).round_ties_even().clamp(-127.0, 127.0) as i8;
                assert_eq!(
                    ql.weights[o * per + i],
                    want,
                    "{} weight {i}",
                    layer.spec.name
                );
            }
        }
    }
}

#[test]
fn q8_mobilenet_equals_the_reference_and_stays_near_f32() {
    for (alpha, res) in [(0.25, 64), (0.5, 96)] {
        let config = MobileNetConfig {
            alpha,
            resolution: res,
            softmax: false,
            ..MobileNetConfig::default()
        };
        let net = Network::mobilenet(&config).unwrap();
        let weights = NetworkWeights::from_mobilenet(
            &sepconv::MobileNetWeights::random(&config, 7, true).unwrap(),
        );
        let images = seeded_images(&net, 3, 11);
        let cal = calibrate(&net, &weights, &images[..2]).unwrap();
        let q = quantize(&net, &weights, &cal).unwrap();
        check_weight_codes(&net, &weights, &q);
        let x = batch_of(&images);
        check(&q, &x);

        // Int8 vs f32 on the same images: logits within a few percent of their range.
        let f = reference::network_forward(&net, &weights, &x).unwrap();
        let i8 = reference::q8_network_forward(&q, &x).unwrap();
        let range = f.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let err = f
            .data
            .iter()
            .zip(&i8.data)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            err <= 0.25 * range,
            "alpha {alpha}: int8 error {err} at logit range {range}"
        );
    }
}

/// kind (0 full, 1 dw, 2 pw), out_c, stride, pad (0 TF-same, 1 symmetric), activation.
type Recipe = (u8, usize, usize, u8, u8);

fn network(in_c: usize, layers: &[Recipe], head: Head) -> Network {
    let mut shape = (11, 9, in_c);
    let mut out = Vec::new();
    for (i, &(kind, out_c, stride, pad, act)) in layers.iter().enumerate() {
        let kind =
            [LayerKind::Conv0, LayerKind::Depthwise, LayerKind::Pointwise][kind as usize % 3];
        let (out_c, stride, padding) = match kind {
            LayerKind::Pointwise => (out_c, 1, Padding::default()),
            _ => (
                if kind == LayerKind::Depthwise {
                    shape.2
                } else {
                    out_c
                },
                stride,
                if pad == 0 {
                    Padding::tf_same(shape.0, shape.1, 3, stride)
                } else {
                    Padding::symmetric(1)
                },
            ),
        };
        let spec = layer_spec(format!("l{i}"), kind, shape, out_c, stride, padding).unwrap();
        shape = (spec.out_h, spec.out_w, spec.out_c);
        let activation = [Activation::None, Activation::Relu, Activation::Relu6][act as usize % 3];
        out.push(NetLayer { spec, activation });
    }
    Network {
        in_h: 11,
        in_w: 9,
        in_c,
        layers: out,
        head,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn q8_random_networks_equal_the_reference(
        in_c in 1usize..=5,
        first in (Just(0u8), 1usize..=20, 1usize..=2, 0u8..=1, 0u8..=2),
        rest in proptest::collection::vec((0u8..=2, 1usize..=24, 1usize..=2, 0u8..=1, 0u8..=2), 0..=5),
        head in (any::<bool>(), 0usize..=2, any::<bool>()),
        batch in 1usize..=3,
        seed in any::<u64>(),
    ) {
        let mut layers = vec![first];
        layers.extend(rest);
        let (pool, classes, softmax) = head;
        let head = Head {
            pool,
            classes: (pool && classes > 0).then_some(classes * 5),
            softmax: pool && softmax,
        };
        let net = network(in_c, &layers, head);
        let weights = NetworkWeights::random(&net, seed, seed % 2 == 0);
        let images = seeded_images(&net, batch, seed);
        let cal = calibrate(&net, &weights, &images[..1]).unwrap();
        let q = quantize(&net, &weights, &cal).unwrap();
        check_weight_codes(&net, &weights, &q);
        check(&q, &batch_of(&images));
    }
}

/// A case CI's proptest shrank to (a 1-channel input, one full 3x3 conv to 2 channels):
/// kept here with its seed, since the regression file stores only the RNG's seed.
#[test]
fn q8_regression_one_channel_conv0_to_two() {
    let net = network(1, &[(0, 2, 1, 0, 0)], Head::default());
    let seed = 3793501237020179113;
    let weights = NetworkWeights::random(&net, seed, seed % 2 == 0);
    let images = seeded_images(&net, 1, seed);
    let cal = calibrate(&net, &weights, &images[..1]).unwrap();
    let q = quantize(&net, &weights, &cal).unwrap();
    check_weight_codes(&net, &weights, &q);
    check(&q, &batch_of(&images));
}
