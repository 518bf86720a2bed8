//! Depthwise 3x3 vs the reference convolution with groups = channels: one test per kernel
//! of `f32_dwconv::TABLE` (random and edge shapes, both loop orders), then the operator
//! on every ISA under test (row ranges, strided output, orders on real layers, errors).

mod common;

use common::oracle;
use common::oracle::padding;
use common::strategies::{activation, channels_in, fits};
use common::{assert_guards, guarded, shape_error, GUARD_LEN};
use proptest::prelude::*;
use sepconv::kernels::f32_dwconv::{DwKernel, TABLE};
use sepconv::ops::depthwise::{
    depthwise3x3, depthwise3x3_in_order, depthwise3x3_rows, depthwise3x3_rows_strided,
    DepthwiseParams, DwOrder, PackedDepthwise,
};
use sepconv::{kernel_set, Activation, Clamp, Error, Isa, KernelSet, Padding};

type Case = common::Case<DepthwiseParams>;

/// Random data for `p` and its reference, for one test (see `common::Case`).
fn case(p: DepthwiseParams, seed: u64) -> Case {
    Case::new(p, sizes(&p), (seed, 1.0), 1, oracle::depthwise)
}

/// Floats of input, weights and bias.
fn sizes(p: &DepthwiseParams) -> [usize; 3] {
    [
        p.batch * p.in_h * p.in_w * p.channels,
        p.channels * 9,
        p.channels,
    ]
}

common::kernel_tests!(
    TABLE,
    check_kernel,
    [
        f32_dwconv3x3_16c_avx512,
        f32_dwconv3x3_8c_avx2,
        f32_dwconv3x3_4c_neon,
        f32_dwconv3x3_8c_scalar,
    ]
);

/// One kernel through the operator, with the kernel set that picks it: every small shape
/// and padding, many channel blocks, every band split of the rows, exact clamp bounds, a
/// hand-computed example, shrunk failures, then random shapes.
fn check_kernel(k: &'static DwKernel, ks: &'static KernelSet) {
    assert_eq!(ks.dw3x3.id.name, k.id.name, "the {} set", ks.cpu);
    // Every kernel test of the table checks these cases: one reference for them all.
    let users = common::kernels_under_test(TABLE).len();
    let scaled = |p, seed, scale| Case::new(p, sizes(&p), (seed, scale), users, oracle::depthwise);
    let case = |p, seed| scaled(p, seed, 1.0);
    // Exhaustive over tiny images, where every output is a border case.
    let mut seed = 0;
    for h in 1..=5 {
        for w in 1..=6 {
            for stride in 1..=2 {
                for pads in 0..16 {
                    for c in [1, 5, 17] {
                        let p = params(1, h, w, c, stride, pads, Activation::None);
                        if fits_p(&p) {
                            seed += 1;
                            check_full(ks, &case(p, seed));
                        }
                    }
                }
            }
        }
    }
    // Many channel blocks, full and partial last blocks, with every padding.
    let mut seed = 1000;
    for c in [128, 133, 256, 263, 300] {
        for (h, w) in [(1, 1), (2, 3), (3, 7), (6, 9), (9, 14)] {
            for stride in 1..=2 {
                for pads in 0..16 {
                    let p = params(1, h, w, c, stride, pads, Activation::Relu);
                    if fits_p(&p) {
                        seed += 1;
                        check_full(ks, &case(p, seed));
                    }
                }
            }
        }
    }
    // The kernels cut output rows into bands of 4, 3 (for 5-7 remaining rows), 2 and 1
    // rows, with edge bands where padding rows are missing: heights 4..=11 hit every split.
    let mut seed = 5000;
    for h in 4..=11 {
        for (w, c) in [(1, 16), (2, 5), (7, 20), (9, 33)] {
            for stride in 1..=2 {
                for pads in [0b0000, 0b0101, 0b1010, 0b1111] {
                    let p = params(2, h, w, c, stride, pads, Activation::Relu6);
                    if fits_p(&p) {
                        seed += 1;
                        check_full(ks, &case(p, seed));
                    }
                }
            }
        }
    }
    // Large values: most outputs land on a bound and must equal it exactly.
    let p = params(2, 9, 11, 37, 1, 0b0101, Activation::Relu6);
    check_full(ks, &scaled(p, 99, 100.0));
    let c = Clamp::new(-0.5, 0.25).unwrap();
    check_full(ks, &case(DepthwiseParams { clamp: c, ..p }, 100));
    // 1 channel, 3x3 image 1..9, all-ones kernel, pad 1, bias 0.5: each output is the sum
    // of its in-image neighbourhood + 0.5.
    let p = params(1, 3, 3, 1, 1, 0b1111, Activation::None);
    let input: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    let want = [12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5];
    let w = PackedDepthwise::new(ks, 1, &[1.0; 9], &[0.5]).unwrap();
    let mut out = [0.0; 9];
    depthwise3x3(&p, &w, &input, &mut out).unwrap();
    assert_eq!(out, want, "{}", k.id.name);
    // Shrunk failures of `matches_reference` (tests/depthwise.proptest-regressions).
    check_full(ks, &case(params(1, 2, 2, 1, 1, 13, Activation::None), 0));

    let shapes = (
        (1usize..=3, 1usize..=40, 1usize..=40),
        channels_in(1, usize::MAX, &MOBILENET_CHANNELS),
        (1usize..=2, 0u8..16, activation()),
        any::<u64>(),
    );
    common::runner(96, file!())
        .run(&shapes, |((batch, h, w), c, (stride, pads, act), seed)| {
            // Keep the naive reference affordable on the big channel counts.
            let (h, w) = if c > 128 {
                (h.min(12), w.min(12))
            } else {
                (h, w)
            };
            let p = params(batch, h, w, c, stride, pads, act);
            if fits_p(&p) {
                check_full(ks, &case(p, seed));
            } else {
                prop_assert!(matches!(p.validate(), Err(Error::Shape(_))));
            }
            Ok(())
        })
        .unwrap();
}

/// Both loop orders of the kernel set against the reference; the orders must also agree
/// bit for bit (they sum each output in the same order).
fn check_full(ks: &'static KernelSet, case: &Case) {
    let want = &case.exp;
    let n = want.want.data.len();
    let w = PackedDepthwise::new(ks, case.p.channels, case.weights(), case.bias()).unwrap();
    let mut first: Option<Vec<f32>> = None;
    for order in [DwOrder::Columns, DwOrder::Pixels] {
        let mut buf = guarded(n);
        let out = &mut buf[GUARD_LEN..GUARD_LEN + n];
        depthwise3x3_in_order(&case.p, &w, order, case.input(), out).unwrap();
        let what = format!("{} {order:?} {:?}", ks.dw3x3.id.name, case.p);
        assert_guards(&buf, &what);
        let got = &buf[GUARD_LEN..GUARD_LEN + n];
        want.assert(got, &what);
        match &first {
            None => first = Some(got.to_vec()),
            Some(f) => assert!(
                f.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{what}: the orders differ"
            ),
        }
    }
}

fn params(
    batch: usize,
    h: usize,
    w: usize,
    c: usize,
    stride: usize,
    pads: u8,
    act: Activation,
) -> DepthwiseParams {
    DepthwiseParams {
        batch,
        in_h: h,
        in_w: w,
        channels: c,
        stride,
        padding: padding(pads),
        clamp: act.clamp(),
    }
}

/// Channel counts of MobileNet V1 at the usual widths.
const MOBILENET_CHANNELS: [usize; 11] = [8, 16, 24, 32, 48, 64, 96, 128, 256, 512, 1024];

fn channels() -> BoxedStrategy<usize> {
    channels_in(1, usize::MAX, &MOBILENET_CHANNELS)
}

/// Whether the reference accepts the shape (the padded input holds the kernel).
fn fits_p(p: &DepthwiseParams) -> bool {
    fits(p.in_h, p.in_w, p.padding)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(96)))]

    #[test]
    fn row_ranges_assemble_the_image(
        h in 1usize..=24,
        w in 1usize..=24,
        c in channels(),
        stride in 1usize..=2,
        pads in 0u8..16,
        cuts in prop::collection::vec(0usize..=24, 0..4),
        seed in any::<u64>(),
    ) {
        let (h, w) = if c > 128 { (h.min(10), w.min(10)) } else { (h, w) };
        let p = params(1, h, w, c, stride, pads, Activation::Relu6);
        prop_assume!(fits_p(&p));
        let case = case(p, seed);
        let want = &case.exp;
        let (out_h, row) = (p.out_h(), p.out_w() * c);
        prop_assert_eq!(out_h, want.want.shape.h);
        for isa in common::isas_under_test() {
            let ks = kernel_set(isa).unwrap();
            let wts = PackedDepthwise::new(ks, c, case.weights(), case.bias()).unwrap();
            let mut full = vec![0.0; out_h * row];
            depthwise3x3(&p, &wts, case.input(), &mut full).unwrap();
            let what = format!("{isa} {p:?}");
            let checked = common::check_row_ranges((out_h, row), &cuts, &full, want, &what, |r, out| {
                depthwise3x3_rows(&p, &wts, case.input(), r, out).unwrap()
            });
            if let Err(e) = checked {
                prop_assert!(false, "{}", e);
            }
        }
    }

    /// Output pixels `out_px` floats apart (the layout a pointwise layer reads at its A
    /// stride), in both loop orders: each pixel's channels are the dense result's bits,
    /// and the floats between pixels and around the output are never written.
    #[test]
    fn strided_output_rows_match_dense_and_leave_the_gaps(
        h in 1usize..=16,
        w in 1usize..=16,
        c in channels(),
        stride in 1usize..=2,
        pads in 0u8..16,
        out_pad in prop_oneof![1..=3usize, Just(16usize), Just(0usize)],
        rows in (0usize..=16, 0usize..=16),
        seed in any::<u64>(),
    ) {
        let (h, w) = if c > 128 { (h.min(8), w.min(8)) } else { (h, w) };
        let p = params(1, h, w, c, stride, pads, Activation::Relu);
        prop_assume!(fits_p(&p));
        let case = case(p, seed);
        let (out_h, out_w, out_px) = (p.out_h(), p.out_w(), c + out_pad);
        let (r0, r1) = (rows.0.min(rows.1).min(out_h), rows.0.max(rows.1).min(out_h));
        for isa in common::isas_under_test() {
            let ks = kernel_set(isa).unwrap();
            let wts = PackedDepthwise::new(ks, c, case.weights(), case.bias()).unwrap();
            let mut full = vec![0.0; out_h * out_w * c];
            depthwise3x3(&p, &wts, case.input(), &mut full).unwrap();
            for order in [DwOrder::Columns, DwOrder::Pixels] {
                let n = (r1 - r0) * out_w * out_px;
                let mut buf = guarded(n);
                let out = &mut buf[GUARD_LEN..GUARD_LEN + n];
                depthwise3x3_rows_strided(&p, &wts, order, case.input(), r0..r1, out, out_px)
                    .unwrap();
                let what = format!("{isa} {order:?} {p:?} rows {r0}..{r1} pixel stride {out_px}");
                assert_guards(&buf, &what);
                let out = &buf[GUARD_LEN..GUARD_LEN + n];
                for (i, px) in out.chunks_exact(out_px).enumerate() {
                    let dense = &full[(r0 * out_w + i) * c..][..c];
                    prop_assert!(
                        px[..c].iter().zip(dense).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{}: pixel {} differs from the dense output", what, i
                    );
                    prop_assert!(px[c..].iter().all(|&v| v == common::GUARD), "{}: gap after pixel {} written", what, i);
                }
            }
        }
    }
}

#[test]
fn orders_agree_on_mobilenet_layers() {
    // Real layer shapes, where `Auto` picks each order somewhere (the reference is too
    // slow for them): every order gives the same bits on every ISA.
    let mut seed = 9000;
    for (hw, c, stride) in [
        (112, 32, 1),
        (112, 64, 2),
        (56, 128, 1),
        (28, 256, 1),
        (28, 256, 2),
        (14, 512, 1),
        (7, 1024, 1),
        (20, 96, 2),
    ] {
        let pads = if stride == 1 { 0b1111 } else { 0b1100 };
        let p = params(1, hw, hw, c, stride, pads, Activation::Relu6);
        seed += 1;
        // No reference: it is too slow for these shapes.
        let (input, weights, bias) = common::random_operands(sizes(&p), seed, 1.0);
        let n = p.out_h() * p.out_w() * c;
        for isa in common::isas_under_test() {
            let ks = kernel_set(isa).unwrap();
            let w = PackedDepthwise::new(ks, c, &weights, &bias).unwrap();
            let outs: Vec<Vec<f32>> = [DwOrder::Auto, DwOrder::Columns, DwOrder::Pixels]
                .into_iter()
                .map(|order| {
                    let mut out = vec![f32::NAN; n];
                    depthwise3x3_in_order(&p, &w, order, &input, &mut out).unwrap();
                    out
                })
                .collect();
            for o in &outs[1..] {
                assert!(
                    o.iter()
                        .zip(&outs[0])
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{isa} {p:?}: the orders differ"
                );
            }
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let ks = kernel_set(Isa::Scalar).unwrap();
    let p = params(2, 5, 6, 3, 1, 0b1111, Activation::Relu);
    let w = PackedDepthwise::new(ks, 3, &[0.0; 27], &[0.0; 3]).unwrap();
    let input = vec![0.0; 2 * 5 * 6 * 3];
    let mut out = vec![0.0; 2 * 5 * 6 * 3];
    depthwise3x3(&p, &w, &input, &mut out).unwrap();

    shape_error(depthwise3x3(&p, &w, &input[1..], &mut out), "input");
    shape_error(depthwise3x3(&p, &w, &input, &mut out[1..]), "output");
    let w4 = PackedDepthwise::new(ks, 4, &[0.0; 36], &[0.0; 4]).unwrap();
    shape_error(
        depthwise3x3(&p, &w4, &input, &mut out),
        "packed for 4 channels",
    );
    for (bad, needle) in [
        (DepthwiseParams { stride: 3, ..p }, "stride"),
        (DepthwiseParams { stride: 0, ..p }, "stride"),
        (
            DepthwiseParams {
                padding: Padding::new(0, 2, 0, 0),
                ..p
            },
            "left",
        ),
        (
            DepthwiseParams {
                padding: Padding::new(0, 0, 0, 2),
                ..p
            },
            "right",
        ),
        (DepthwiseParams { batch: 0, ..p }, "batch"),
        (DepthwiseParams { in_h: 0, ..p }, "in_h"),
        (DepthwiseParams { in_w: 0, ..p }, "in_w"),
        (
            DepthwiseParams {
                in_h: 1,
                padding: Padding::new(0, 1, 1, 1),
                ..p
            },
            "height",
        ),
        (
            DepthwiseParams {
                in_w: 2,
                padding: Padding::new(1, 0, 1, 0),
                ..p
            },
            "width",
        ),
        (
            DepthwiseParams {
                in_h: usize::MAX / 4,
                ..p
            },
            "too many",
        ),
    ] {
        shape_error(depthwise3x3(&bad, &w, &input, &mut out), needle);
        shape_error(bad.validate(), needle);
    }
    let nan = DepthwiseParams {
        clamp: Clamp {
            min: f32::NAN,
            max: 1.0,
        },
        ..p
    };
    assert!(matches!(
        depthwise3x3(&nan, &w, &input, &mut out),
        Err(Error::Config(_))
    ));

    shape_error(
        PackedDepthwise::new(ks, 3, &[0.0; 26], &[0.0; 3]).map(drop),
        "weights",
    );
    shape_error(
        PackedDepthwise::new(ks, 3, &[0.0; 27], &[0.0; 2]).map(drop),
        "bias",
    );
    shape_error(PackedDepthwise::new(ks, 0, &[], &[]).map(drop), "channels");

    let image = &input[..5 * 6 * 3];
    let row = 6 * 3;
    depthwise3x3_rows(&p, &w, image, 1..3, &mut out[..2 * row]).unwrap();
    depthwise3x3_rows(&p, &w, image, 2..2, &mut []).unwrap();
    shape_error(
        depthwise3x3_rows(&p, &w, &input, 1..3, &mut out[..2 * row]),
        "image",
    );
    shape_error(
        depthwise3x3_rows(&p, &w, image, 1..3, &mut out[..2 * row + 1]),
        "need",
    );
    shape_error(
        depthwise3x3_rows(&p, &w, image, 4..6, &mut out[..2 * row]),
        "within 0..5",
    );
    #[allow(clippy::reversed_empty_ranges)]
    shape_error(depthwise3x3_rows(&p, &w, image, 3..1, &mut []), "within");
}

#[test]
fn kernel_sets_name_their_depthwise_kernel() {
    for isa in common::isas_under_test() {
        let ks = kernel_set(isa).unwrap();
        assert!(ks.dw3x3.block >= 1 && !ks.dw3x3.id.name.is_empty(), "{isa}");
    }
}
