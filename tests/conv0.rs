//! conv0 (3x3 stride 2 from 3 channels, direct) on every ISA vs the reference convolution.

mod common;

use common::{assert_close, assert_guards, guarded, shape_error, GUARD_LEN};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sepconv::ops::conv0::{conv0, conv0_rows, Conv0Params, PackedConv0};
use sepconv::reference::{conv2d, Conv2d};
use sepconv::{kernel_set, Activation, Clamp, Error, Isa, Padding, Shape, Tensor};

/// Products per output: the terms of the error bound of `common::assert_close`.
const TERMS: usize = 27;

struct Case {
    p: Conv0Params,
    input: Vec<f32>,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl Case {
    fn new(p: Conv0Params, seed: u64) -> Case {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut gen = |n: usize, r: f32| (0..n).map(|_| rng.random_range(-r..r)).collect();
        Case {
            input: gen(p.batch * p.in_h * p.in_w * 3, 4.0),
            weights: gen(p.out_c * 27, 1.0),
            bias: gen(p.out_c, 2.0),
            p,
        }
    }

    fn conv(&self) -> Conv2d {
        Conv2d {
            out_channels: self.p.out_c,
            kernel_h: 3,
            kernel_w: 3,
            stride_h: 2,
            stride_w: 2,
            padding: self.p.padding,
            groups: 1,
        }
    }

    fn shape(&self) -> Shape {
        Shape::new(self.p.batch, self.p.in_h, self.p.in_w, 3)
    }

    fn reference(&self) -> Tensor {
        let x = Tensor::from_vec(self.shape(), self.input.clone()).unwrap();
        conv2d(
            &x,
            &self.weights,
            Some(&self.bias),
            &self.conv(),
            self.p.clamp,
        )
        .unwrap()
    }

    /// The reference on absolute values without clamp: the scale of the rounding error of
    /// each output's 27-term dot product.
    fn magnitude(&self) -> Tensor {
        let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
        let x = Tensor::from_vec(self.shape(), abs(&self.input)).unwrap();
        conv2d(
            &x,
            &abs(&self.weights),
            Some(&abs(&self.bias)),
            &self.conv(),
            Clamp::NONE,
        )
        .unwrap()
    }
}

fn check_full(case: &Case) {
    let want = case.reference();
    let mag = case.magnitude();
    for isa in common::isas_under_test() {
        let ks = kernel_set(isa).unwrap();
        let w = PackedConv0::new(ks, case.p.out_c, &case.weights, &case.bias).unwrap();
        let n = want.data.len();
        let mut buf = guarded(n);
        conv0(&case.p, &w, &case.input, &mut buf[GUARD_LEN..GUARD_LEN + n]).unwrap();
        let what = format!("{isa} {:?}", case.p);
        assert_guards(&buf, &what);
        assert_close(
            &buf[GUARD_LEN..GUARD_LEN + n],
            &want.data,
            &mag.data,
            case.p.clamp,
            TERMS,
            &what,
        );
    }
}

fn params(batch: usize, h: usize, w: usize, c: usize, pads: u8, act: Activation) -> Conv0Params {
    let bit = |i: u8| usize::from(pads >> i & 1);
    Conv0Params {
        batch,
        in_h: h,
        in_w: w,
        out_c: c,
        padding: Padding::new(bit(0), bit(1), bit(2), bit(3)),
        clamp: act.clamp(),
    }
}

/// conv0 widths of MobileNet V1 at alpha 0.25, 0.5, 0.75, 1 (and 1.4).
const MOBILENET_CHANNELS: [usize; 5] = [8, 16, 24, 32, 44];

fn channels() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 1usize..=70, 2 => prop::sample::select(&MOBILENET_CHANNELS[..])]
}

fn activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(&[Activation::None, Activation::Relu, Activation::Relu6][..])
}

/// Whether the reference accepts the shape (the padded input holds the kernel).
fn fits(p: &Conv0Params) -> bool {
    p.in_h + p.padding.top + p.padding.bottom >= 3 && p.in_w + p.padding.left + p.padding.right >= 3
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(96)))]

    #[test]
    fn matches_reference(
        batch in 1usize..=3,
        h in 1usize..=24,
        // Rows up to 70 pixels: every tile size, its remainders and the rerun last tile.
        w in 1usize..=140,
        c in channels(),
        pads in 0u8..16,
        act in activation(),
        seed in any::<u64>(),
    ) {
        let p = params(batch, h, w, c, pads, act);
        if fits(&p) {
            check_full(&Case::new(p, seed));
        } else {
            prop_assert!(matches!(p.validate(), Err(Error::Shape(_))));
        }
    }

    #[test]
    fn row_ranges_assemble_the_batch(
        batch in 1usize..=2,
        h in 1usize..=16,
        w in 1usize..=60,
        c in channels(),
        pads in 0u8..16,
        cuts in prop::collection::vec(0usize..=16, 0..4),
        seed in any::<u64>(),
    ) {
        let p = params(batch, h, w, c, pads, Activation::Relu6);
        prop_assume!(fits(&p));
        let case = Case::new(p, seed);
        let want = case.reference();
        let mag = case.magnitude();
        let (rows, row) = (p.out_h() * batch, p.out_w() * c);
        prop_assert_eq!(p.out_h(), want.shape.h);
        // Split 0..rows at the cut points (empty ranges included).
        let mut bounds: Vec<usize> = cuts.iter().map(|&x| x.min(rows)).collect();
        bounds.push(0);
        bounds.push(rows);
        bounds.sort_unstable();
        for isa in common::isas_under_test() {
            let ks = kernel_set(isa).unwrap();
            let wts = PackedConv0::new(ks, c, &case.weights, &case.bias).unwrap();
            let mut full = vec![0.0; rows * row];
            conv0(&p, &wts, &case.input, &mut full).unwrap();
            for r in bounds.windows(2) {
                let n = (r[1] - r[0]) * row;
                let mut buf = guarded(n);
                conv0_rows(&p, &wts, &case.input, r[0]..r[1], &mut buf[GUARD_LEN..GUARD_LEN + n])
                    .unwrap();
                let what = format!("{isa} {p:?} rows {}..{}", r[0], r[1]);
                assert_guards(&buf, &what);
                let got = &buf[GUARD_LEN..GUARD_LEN + n];
                let span = r[0] * row..r[1] * row;
                assert_close(got, &want.data[span.clone()], &mag.data[span.clone()], p.clamp, TERMS, &what);
                // A row's value does not depend on which range computed it.
                prop_assert_eq!(got, &full[span]);
            }
        }
    }
}

#[test]
fn every_small_shape_and_padding() {
    // Exhaustive over tiny images, where most outputs are border cases.
    let mut seed = 0;
    for h in 1..=5 {
        for w in 1..=9 {
            for pads in 0..16 {
                for c in [1, 5, 17, 40] {
                    let p = params(1, h, w, c, pads, Activation::None);
                    if fits(&p) {
                        seed += 1;
                        check_full(&Case::new(p, seed));
                    }
                }
            }
        }
    }
}

#[test]
fn every_row_width_up_to_three_big_tiles() {
    // Interior runs of 1..=75 pixels: whole tiles, the second tile size, the rerun of the
    // last tile and single pixels, for one and two vectors of channels per tile on each ISA.
    let mut seed = 3000;
    for w in 1..=152 {
        for c in [8, 16, 24, 32, 33] {
            for pads in [0b0000, 0b1111] {
                let p = params(1, 3, w, c, pads, Activation::Relu);
                if fits(&p) {
                    seed += 1;
                    check_full(&Case::new(p, seed));
                }
            }
        }
    }
}

#[test]
fn mobilenet_input_sizes() {
    // The real first layers: 224, 192, 160 and 128 pixels at each width, PyTorch and
    // TensorFlow SAME padding.
    let mut seed = 7000;
    for (res, c) in [(224, 32), (192, 24), (160, 16), (128, 8)] {
        for pads in [0b1111, 0b1100] {
            let p = params(1, 5, res, c, pads, Activation::Relu6);
            seed += 1;
            check_full(&Case::new(p, seed));
        }
    }
}

#[test]
fn clamp_bounds_are_exact() {
    // Large values: most outputs land on a bound and must equal it exactly.
    let p = params(2, 9, 31, 37, 0b0101, Activation::Relu6);
    let mut case = Case::new(p, 99);
    for v in &mut case.input {
        *v *= 100.0;
    }
    check_full(&case);
    let c = Clamp::new(-0.5, 0.25).unwrap();
    check_full(&Case::new(Conv0Params { clamp: c, ..p }, 100));
}

#[test]
fn a_hand_computed_example() {
    // 3x3 image, pixel (y, x) = (v, 10 v, 100 v) with v = 3y + x + 1, pad 1 each side; one
    // output channel summing the three channels over the window with weight 1, bias 0.5:
    // outputs are 111 x (sum of v over each in-image window) + 0.5.
    let p = params(1, 3, 3, 1, 0b1111, Activation::None);
    let input: Vec<f32> = (1..=9)
        .flat_map(|v| [v as f32, 10.0 * v as f32, 100.0 * v as f32])
        .collect();
    // Output (0, 0): window rows -1..=1, cols -1..=1 -> v in {1, 2, 4, 5}, sum 12.
    // (0, 1): cols 1..=3 -> {2, 3, 5, 6}, 16; (1, 0): rows 1..=3 -> {4, 5, 7, 8}, 24;
    // (1, 1): {5, 6, 8, 9}, 28.
    let want = [12.0, 16.0, 24.0, 28.0].map(|s: f32| 111.0 * s + 0.5);
    for isa in common::isas_under_test() {
        let w = PackedConv0::new(kernel_set(isa).unwrap(), 1, &[1.0; 27], &[0.5]).unwrap();
        let mut out = [0.0; 4];
        conv0(&p, &w, &input, &mut out).unwrap();
        assert_eq!(out, want, "{isa}");
    }
}

#[test]
fn bad_shapes_are_errors() {
    let ks = kernel_set(Isa::Scalar).unwrap();
    let p = params(2, 5, 6, 3, 0b1111, Activation::Relu);
    let w = PackedConv0::new(ks, 3, &[0.0; 81], &[0.0; 3]).unwrap();
    let input = vec![0.0; 2 * 5 * 6 * 3];
    let n_out = 2 * p.out_h() * p.out_w() * 3;
    let mut out = vec![0.0; n_out];
    conv0(&p, &w, &input, &mut out).unwrap();

    shape_error(conv0(&p, &w, &input[1..], &mut out), "input");
    shape_error(conv0(&p, &w, &input, &mut out[1..]), "output");
    let row = p.out_w() * 3;
    shape_error(conv0_rows(&p, &w, &input, 0..7, &mut out), "rows");
    shape_error(
        conv0_rows(&p, &w, &input, 0..1, &mut out[..row + 1]),
        "need",
    );
    let w4 = PackedConv0::new(ks, 4, &[0.0; 108], &[0.0; 4]).unwrap();
    shape_error(conv0(&p, &w4, &input, &mut out), "packed for 4");
    for (bad, needle) in [
        (
            Conv0Params {
                padding: Padding::new(0, 2, 0, 0),
                ..p
            },
            "left",
        ),
        (Conv0Params { batch: 0, ..p }, "batch"),
        (Conv0Params { in_h: 0, ..p }, "in_h"),
        (Conv0Params { out_c: 0, ..p }, "out_c"),
        (
            Conv0Params {
                in_w: 1,
                padding: Padding::new(1, 0, 1, 0),
                ..p
            },
            "width",
        ),
        (
            Conv0Params {
                in_h: usize::MAX / 4,
                ..p
            },
            "too many",
        ),
    ] {
        shape_error(bad.validate(), needle);
    }
    for (weights, bias, needle) in [(26, 1, "weights"), (27, 2, "bias")] {
        let r = PackedConv0::new(ks, 1, &vec![0.0; weights], &vec![0.0; bias]).map(|_| ());
        shape_error(r, needle);
    }
}
