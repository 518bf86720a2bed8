//! conv0 (3x3 stride 2 from 3 channels, direct) vs the reference convolution: one test
//! per kernel of `f32_conv0::TABLE` (random and edge shapes, over the channel counts its
//! kernel set gives it), then the operator on every ISA under test (row ranges, errors).

mod common;

use common::oracle;
use common::oracle::padding;
use common::strategies::{activation, channels_in, fits};
use common::{assert_guards, guarded, shape_error, GUARD_LEN};
use proptest::prelude::*;
use sepconv::kernels::f32_conv0::{Conv0Kernel, TABLE};
use sepconv::ops::conv0::{conv0, conv0_rows, Conv0Params, PackedConv0};
use sepconv::{kernel_set, Activation, Clamp, Error, Isa, KernelSet, Padding};
use std::ops::RangeInclusive;

type Case = common::Case<Conv0Params>;

/// Random data for `p` and its reference, for one test (see `common::Case`).
fn case(p: Conv0Params, seed: u64) -> Case {
    Case::new(p, sizes(&p), (seed, 1.0), 1, oracle::conv0)
}

/// Floats of input, weights and bias.
fn sizes(p: &Conv0Params) -> [usize; 3] {
    [p.batch * p.in_h * p.in_w * 3, p.out_c * 27, p.out_c]
}

common::kernel_tests!(
    TABLE,
    check_kernel,
    [
        f32_conv0_8c_pairs_avx512,
        f32_conv0_32c_avx512,
        f32_conv0_16c_avx2,
        f32_conv0_8c_neon,
        f32_conv0_8c_scalar,
    ]
);

/// The output channel counts for which `ks` runs `k` (`KernelSet::conv0` picks by count).
fn channel_range(k: &Conv0Kernel, ks: &KernelSet) -> RangeInclusive<usize> {
    let i = ks
        .conv0
        .iter()
        .position(|x| x.id.name == k.id.name)
        .unwrap_or_else(|| panic!("the {} set never runs {}", ks.cpu, k.id.name));
    let lo = if i == 0 {
        1
    } else {
        ks.conv0[i - 1].max_out_c + 1
    };
    lo..=k.max_out_c
}

/// One kernel through the operator, with the kernel set and channel counts that pick it:
/// every small shape and padding, every row width up to three big tiles, the MobileNet
/// input sizes, exact clamp bounds, a hand-computed example, then random shapes.
fn check_kernel(k: &'static Conv0Kernel, ks: &'static KernelSet) {
    let range = channel_range(k, ks);
    let ours = |c: &usize| range.contains(c);
    // The kernel tests of the table whose sets run a channel count check the same cases
    // of it: one reference for them all.
    let ranges: Vec<RangeInclusive<usize>> = common::kernels_under_test(TABLE)
        .into_iter()
        .map(|(k, ks)| channel_range(k, ks))
        .collect();
    let scaled = |p: Conv0Params, seed, scale| {
        let users = ranges.iter().filter(|r| r.contains(&p.out_c)).count();
        Case::new(p, sizes(&p), (seed, scale), users, oracle::conv0)
    };
    let check = |p: Conv0Params, seed: u64| {
        assert_eq!(ks.conv0(p.out_c).id.name, k.id.name);
        check_full(ks, &scaled(p, seed, 1.0));
    };
    // Exhaustive over tiny images, where most outputs are border cases.
    let mut seed = 0;
    for h in 1..=5 {
        for w in 1..=9 {
            for pads in 0..16 {
                for c in [1, 5, 17, 40] {
                    let p = params(1, h, w, c, pads, Activation::None);
                    if fits_p(&p) {
                        // The same seed for a shape in every kernel's test: one reference.
                        seed += 1;
                        if ours(&c) {
                            check(p, seed);
                        }
                    }
                }
            }
        }
    }
    // Interior runs of 1..=75 pixels: whole tiles, the second tile size, the rerun of the
    // last tile and single pixels, for one and two vectors of channels per tile.
    let mut seed = 3000;
    for w in 1..=152 {
        for c in [8, 16, 24, 32, 33] {
            for pads in [0b0000, 0b1111] {
                let p = params(1, 3, w, c, pads, Activation::Relu);
                if fits_p(&p) {
                    seed += 1;
                    if ours(&c) {
                        check(p, seed);
                    }
                }
            }
        }
    }
    // The real first layers: 224, 192, 160 and 128 pixels at each width, PyTorch and
    // TensorFlow SAME padding.
    let mut seed = 7000;
    for (res, c) in [(224, 32), (192, 24), (160, 16), (128, 8)] {
        for pads in [0b1111, 0b1100] {
            seed += 1;
            if ours(&c) {
                check(params(1, 5, res, c, pads, Activation::Relu6), seed);
            }
        }
    }
    // Large values: most outputs land on a bound and must equal it exactly.
    let c = 37.clamp(*range.start(), *range.end());
    let p = params(2, 9, 31, c, 0b0101, Activation::Relu6);
    check_full(ks, &scaled(p, 99, 100.0));
    let clamp = Clamp::new(-0.5, 0.25).unwrap();
    check(Conv0Params { clamp, ..p }, 100);
    if ours(&1) {
        // 3x3 image, pixel (y, x) = (v, 10 v, 100 v) with v = 3y + x + 1, pad 1 each side;
        // one output channel summing the three channels over the window with weight 1,
        // bias 0.5: outputs are 111 x (sum of v over each in-image window) + 0.5.
        let p = params(1, 3, 3, 1, 0b1111, Activation::None);
        let input: Vec<f32> = (1..=9)
            .flat_map(|v| [v as f32, 10.0 * v as f32, 100.0 * v as f32])
            .collect();
        // Output (0, 0): window rows -1..=1, cols -1..=1 -> v in {1, 2, 4, 5}, sum 12.
        // (0, 1): cols 1..=3 -> {2, 3, 5, 6}, 16; (1, 0): rows 1..=3 -> {4, 5, 7, 8}, 24;
        // (1, 1): {5, 6, 8, 9}, 28.
        let want = [12.0, 16.0, 24.0, 28.0].map(|s: f32| 111.0 * s + 0.5);
        let w = PackedConv0::new(ks, 1, &[1.0; 27], &[0.5]).unwrap();
        let mut out = [0.0; 4];
        conv0(&p, &w, &input, &mut out).unwrap();
        assert_eq!(out, want, "{}", k.id.name);
    }

    let shapes = (
        // Rows up to 70 pixels: every tile size, its remainders and the rerun last tile.
        (1usize..=3, 1usize..=24, 1usize..=140),
        // Every kernel's test draws the same cases (and shares their references); each
        // checks those of the channel counts its set gives it.
        channels(),
        (0u8..16, activation()),
        any::<u64>(),
    );
    common::runner(96, file!())
        .run(&shapes, |((batch, h, w), c, (pads, act), seed)| {
            let p = params(batch, h, w, c, pads, act);
            if !ours(&c) {
                return Ok(());
            }
            if fits_p(&p) {
                check(p, seed);
            } else {
                prop_assert!(matches!(p.validate(), Err(Error::Shape(_))));
            }
            Ok(())
        })
        .unwrap();
}

fn check_full(ks: &'static KernelSet, case: &Case) {
    let want = &case.exp;
    let w = PackedConv0::new(ks, case.p.out_c, case.weights(), case.bias()).unwrap();
    let n = want.want.data.len();
    let mut buf = guarded(n);
    conv0(
        &case.p,
        &w,
        case.input(),
        &mut buf[GUARD_LEN..GUARD_LEN + n],
    )
    .unwrap();
    let what = format!("{} {:?}", w.kernel().id.name, case.p);
    assert_guards(&buf, &what);
    want.assert(&buf[GUARD_LEN..GUARD_LEN + n], &what);
}

fn params(batch: usize, h: usize, w: usize, c: usize, pads: u8, act: Activation) -> Conv0Params {
    Conv0Params {
        batch,
        in_h: h,
        in_w: w,
        out_c: c,
        padding: padding(pads),
        clamp: act.clamp(),
    }
}

/// conv0 widths of MobileNet V1 at alpha 0.25, 0.5, 0.75, 1 (and 1.4).
const MOBILENET_CHANNELS: [usize; 5] = [8, 16, 24, 32, 44];

fn channels() -> BoxedStrategy<usize> {
    channels_in(1, usize::MAX, &MOBILENET_CHANNELS)
}

/// Whether the reference accepts the shape (the padded input holds the kernel).
fn fits_p(p: &Conv0Params) -> bool {
    fits(p.in_h, p.in_w, p.padding)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(96)))]

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
        prop_assume!(fits_p(&p));
        let case = case(p, seed);
        let want = &case.exp;
        let (rows, row) = (p.out_h() * batch, p.out_w() * c);
        prop_assert_eq!(p.out_h(), want.want.shape.h);
        for isa in common::isas_under_test() {
            let ks = kernel_set(isa).unwrap();
            let wts = PackedConv0::new(ks, c, case.weights(), case.bias()).unwrap();
            let mut full = vec![0.0; rows * row];
            conv0(&p, &wts, case.input(), &mut full).unwrap();
            let what = format!("{isa} {p:?}");
            let checked = common::check_row_ranges((rows, row), &cuts, &full, want, &what, |r, out| {
                conv0_rows(&p, &wts, case.input(), r, out).unwrap()
            });
            if let Err(e) = checked {
                prop_assert!(false, "{}", e);
            }
        }
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
