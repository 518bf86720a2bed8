//! Every int8 depthwise 3x3 kernel of `q8_dwconv::TABLE` that this CPU runs, through the
//! operator, against `reference::q8::q8_depthwise3x3`, bit for bit: every padding
//! combination (0..=2 per side) on tiny images, then random shapes (channels 1..=70 and a
//! few large counts, images 1..=20, strides 1 and 2), zero points 0, 255 and random, output
//! bounds, scales 1e-6..1, wrapping accumulators, output pixels `out_px > C` apart with the
//! guard bytes between them checked, and row ranges that assemble the same image.

mod common;

use common::Lcg;
use proptest::prelude::*;
use sepconv::kernels::q8_dwconv::{Q8DwKernel, TABLE};
use sepconv::ops::q8_depthwise::{
    q8_depthwise3x3, q8_depthwise3x3_rows, PackedQ8Depthwise, Q8DepthwiseParams,
};
use sepconv::quant::OutQ;
use sepconv::reference::q8::{q8_depthwise3x3 as reference, Q8Input};
use sepconv::{Cpu, Padding};

const GUARD: u8 = 0xa5;
/// `scale_exp` values that pick special scales.
const SCALE_EDGE: f32 = 100.0;
const SCALE_BELOW_ONE: f32 = 101.0;

fn runnable() -> Vec<&'static Q8DwKernel> {
    let cpu = Cpu::detect();
    let ks: Vec<_> = TABLE.iter().filter(|k| k.id.runs_on(cpu)).collect();
    assert!(!ks.is_empty());
    ks
}

#[derive(Debug, Clone)]
struct Case {
    batch: usize,
    c: usize,
    h: usize,
    w: usize,
    stride: usize,
    pad: Padding,
    zp_in: i32,
    out: OutQ,
    scale_exp: f32,
    px_pad: usize,
    big_bias: bool,
    seed: u64,
}

impl Case {
    fn params(&self) -> Q8DepthwiseParams {
        Q8DepthwiseParams {
            batch: self.batch,
            in_h: self.h,
            in_w: self.w,
            channels: self.c,
            stride: self.stride,
            padding: self.pad,
            out: self.out,
        }
    }

    /// Whether the padded image holds a 3x3 window.
    fn valid(&self) -> bool {
        self.h + self.pad.top + self.pad.bottom >= 3 && self.w + self.pad.left + self.pad.right >= 3
    }
}

fn check(kernel: &'static Q8DwKernel, c: &Case) {
    let name = kernel.id.name;
    let mut g = Lcg(c.seed);
    let x: Vec<u8> = (0..c.batch * c.h * c.w * c.c)
        .map(|_| g.next() as u8)
        .collect();
    let w: Vec<i8> = (0..c.c * 9).map(|_| g.next() as i8).collect();
    let bias: Vec<i32> = (0..c.c)
        .map(|_| {
            if c.big_bias {
                // Near the i32 limits, so the sums wrap.
                (g.next() as i32) | 0x7fff_0000
            } else {
                (g.next() as i32) >> 14
            }
        })
        .collect();
    let scale: Vec<f32> = (0..c.c)
        .map(|_| match c.scale_exp {
            // The largest scale below 1 (no product reaches 2^31) and the smallest
            // above: the edges of the kernels' clamp-free requantization.
            SCALE_EDGE => {
                [1.0 - f32::EPSILON / 2.0, 1.0, 1.0 + f32::EPSILON][g.next() as usize % 3]
            }
            SCALE_BELOW_ONE => 1.0 - f32::EPSILON / 2.0,
            e => 10f32.powf(e - (g.next() % 1000) as f32 / 1000.0),
        })
        .collect();
    let input = Q8Input {
        data: &x,
        n: c.batch,
        h: c.h,
        w: c.w,
        c: c.c,
        zp: c.zp_in,
    };
    let (want, oh, ow) = reference(input, c.stride, c.pad, &w, &bias, &scale, c.out).unwrap();
    let p = c.params();
    assert_eq!((p.out_h(), p.out_w()), (oh, ow));
    let packed = PackedQ8Depthwise::for_kernel(kernel, c.c, &w, &bias, &scale, c.zp_in).unwrap();
    let px = c.c + c.px_pad;
    let mut out = vec![GUARD; c.batch * oh * ow * px];
    q8_depthwise3x3(&p, &packed, &x, &mut out, px).unwrap();
    let compare = |out: &[u8], what: &str| {
        for (i, (got, want)) in out.chunks(px).zip(want.chunks(c.c)).enumerate() {
            assert_eq!(
                &got[..c.c],
                want,
                "{name} {what}: pixel {i} (of {oh}x{ow}) of {c:?}"
            );
            assert!(
                got[c.c..].iter().all(|&v| v == GUARD),
                "{name} {what}: wrote past pixel {i} of {c:?}"
            );
        }
    };
    compare(&out, "batch");

    // Row ranges of the first image, split at every row.
    let image = &x[..c.h * c.w * c.c];
    let row = ow * px;
    for split in 1..oh {
        let mut out = vec![GUARD; oh * row];
        let (top, bottom) = out.split_at_mut(split * row);
        let single = Q8DepthwiseParams { batch: 1, ..p };
        q8_depthwise3x3_rows(&single, &packed, image, 0..split, top, px).unwrap();
        q8_depthwise3x3_rows(&single, &packed, image, split..oh, bottom, px).unwrap();
        compare(&out, &format!("rows split at {split}"));
    }
}

#[test]
fn every_padding_on_tiny_images() {
    let mut seed = 0;
    for k in runnable() {
        for c in [1, 5, 16, 33, 64 + 7, 100] {
            for h in 1..=4 {
                for w in 1..=5 {
                    for stride in 1..=2 {
                        for pads in 0..81 {
                            let d = |i: u32| (pads / 3usize.pow(i)) % 3;
                            seed += 1;
                            let case = Case {
                                batch: 1,
                                c,
                                h,
                                w,
                                stride,
                                pad: Padding::new(d(0), d(1), d(2), d(3)),
                                zp_in: [0, 255, 77][seed as usize % 3],
                                out: OutQ::new(128, 3, 250).unwrap(),
                                scale_exp: -2.0,
                                px_pad: seed as usize % 5,
                                big_bias: seed % 7 == 0,
                                seed,
                            };
                            if case.valid() {
                                check(k, &case);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Accumulators near the i32 limits with scales at and around 1 (some products reach
/// 2^31, where an unclamped conversion would fail) and all just below 1 (none do); every
/// output bound, the 2-row stride-1 pass with odd row counts.
#[test]
fn scales_near_one_with_extreme_accumulators() {
    let mut seed = 1000;
    for k in runnable() {
        for c in [1, 32, 64, 64 + 32, 64 + 33] {
            for (h, w) in [(1, 3), (5, 4), (6, 7)] {
                for stride in 1..=2 {
                    for scale_exp in [SCALE_EDGE, SCALE_BELOW_ONE, 1.5] {
                        for (zp, lo, hi) in [(0, 0, 255), (128, 0, 255), (255, 3, 250), (7, 7, 7)] {
                            seed += 1;
                            let case = Case {
                                batch: 1,
                                c,
                                h,
                                w,
                                stride,
                                pad: Padding::new(1, 1, seed as usize % 3, 1),
                                zp_in: [0, 255, 77][seed as usize % 3],
                                out: OutQ::new(zp, lo, hi).unwrap(),
                                scale_exp,
                                px_pad: seed as usize % 5,
                                big_bias: true,
                                seed,
                            };
                            if case.valid() {
                                check(k, &case);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The half-block sweeps of full blocks (64 and 32 channels on AVX512-VNNI, with a
/// partial block beside them): widths 1..=9, heights 3..=9 (row pairs and an odd last
/// row, split at every row by `check`), padding at 0 and 2, both strides, zero points
/// and output bounds at the ends, scales below 1 and around it.
#[test]
fn full_blocks_in_half_sweeps() {
    let mut seed = 5000;
    for k in runnable() {
        for c in [32, 64, 96, 128 + 5, 192] {
            for h in 3..=9 {
                for w in 1..=9 {
                    for stride in 1..=2 {
                        for pad in [(1, 1, 1, 1), (0, 0, 0, 0), (2, 2, 2, 2), (0, 2, 1, 0)] {
                            seed += 1;
                            let out = [(0, 0, 255), (255, 0, 255), (0, 0, 0), (255, 255, 255)]
                                [seed as usize % 4];
                            let case = Case {
                                batch: 1,
                                c,
                                h,
                                w,
                                stride,
                                pad: Padding::new(pad.0, pad.1, pad.2, pad.3),
                                zp_in: [0, 255][seed as usize % 2],
                                out: OutQ::new(out.0, out.1, out.2).unwrap(),
                                scale_exp: [-2.0, SCALE_EDGE, 0.5][seed as usize % 3],
                                px_pad: seed as usize % 3,
                                big_bias: seed % 5 == 0,
                                seed,
                            };
                            if case.valid() {
                                check(k, &case);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            1usize..=2,
            prop_oneof![8 => 1usize..=70, 1 => Just(256), 1 => Just(1024), 1 => 100usize..=200],
            1usize..=20,
            1usize..=20,
            1usize..=2,
        ),
        (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2),
        prop_oneof![Just(0), Just(255), 0i32..=255],
        (0i32..=255, 0u8..=255, 0u8..=255),
        -6.0f32..=2.0,
        0usize..=9,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(
                (batch, c, h, w, stride),
                (t, l, b, r),
                zp_in,
                (zp, lo, hi),
                scale_exp,
                px_pad,
                big_bias,
                seed,
            )| {
                // Large channel counts on small images, to bound the reference's time.
                let (h, w) = if c > 200 {
                    (h.min(9), w.min(9))
                } else {
                    (h, w)
                };
                Case {
                    batch,
                    c,
                    h,
                    w,
                    stride,
                    pad: Padding::new(t, l, b, r),
                    zp_in,
                    out: OutQ::new(zp, lo.min(hi), lo.max(hi)).unwrap(),
                    scale_exp,
                    px_pad,
                    big_bias,
                    seed,
                }
            },
        )
        .prop_filter("the padded image holds a window", Case::valid)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn q8_depthwise_kernels_equal_the_reference(c in case()) {
        for k in runnable() {
            check(k, &c);
        }
    }
}

#[test]
fn bad_calls_are_refused() {
    let k = runnable()[0];
    let w = vec![1i8; 9 * 4];
    assert!(PackedQ8Depthwise::for_kernel(k, 4, &w[..35], &[0; 4], &[1.0; 4], 0).is_err());
    assert!(PackedQ8Depthwise::for_kernel(k, 4, &w, &[0; 4], &[1.0; 4], 256).is_err());
    assert!(PackedQ8Depthwise::for_kernel(k, 4, &w, &[0; 4], &[0.0; 4], 0).is_err());
    let packed = PackedQ8Depthwise::for_kernel(k, 4, &w, &[0; 4], &[1.0; 4], 0).unwrap();
    let p = Q8DepthwiseParams {
        batch: 1,
        in_h: 4,
        in_w: 4,
        channels: 4,
        stride: 1,
        padding: Padding::symmetric(1),
        out: OutQ::full(0),
    };
    let x = vec![0u8; 64];
    let mut y = vec![0u8; 64];
    assert!(q8_depthwise3x3(&p, &packed, &x, &mut y, 3).is_err());
    assert!(q8_depthwise3x3(&p, &packed, &x[1..], &mut y, 4).is_err());
    assert!(q8_depthwise3x3(
        &Q8DepthwiseParams { stride: 3, ..p },
        &packed,
        &x,
        &mut y,
        4
    )
    .is_err());
    let three = Padding::new(3, 0, 0, 0);
    assert!(q8_depthwise3x3(
        &Q8DepthwiseParams {
            padding: three,
            ..p
        },
        &packed,
        &x,
        &mut y,
        4
    )
    .is_err());
    assert!(q8_depthwise3x3_rows(&p, &packed, &x, 0..5, &mut y, 4).is_err());
    q8_depthwise3x3(&p, &packed, &x, &mut y, 4).unwrap();
}
