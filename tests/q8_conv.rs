//! The int8 full 3x3 convolution (im2col + every int8 GEMM kernel this CPU runs), the
//! direct conv0 kernels (`kernels::q8_conv0`, every one this CPU runs, from u8 and i8
//! codes and from f32 pixels with both roundings) and the int8 global average pool
//! against `reference::q8`, bit for bit: conv0's 3 channels and other channel counts,
//! strides 1 and 2, every pad combination up to 2, zero points at the ends of the range,
//! images from 1x1, bands of output rows split mid-image.

mod common;

use common::Lcg;
use proptest::prelude::*;
use sepconv::kernels::q8_conv0;
use sepconv::kernels::q8_gemm::TABLE;
use sepconv::net::q8::InputRounding;
use sepconv::ops::q8_conv::Q8Conv3x3;
use sepconv::ops::q8_conv0::{Conv0Source, Q8Conv0};
use sepconv::ops::q8_pool::q8_global_avg_pool;
use sepconv::quant::{OutQ, QParams};
use sepconv::reference::q8::{self, Q8Conv, Q8Input};
use sepconv::{Cpu, Padding};

#[derive(Debug, Clone)]
struct ConvCase {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    oc: usize,
    stride: usize,
    pad: [usize; 4],
    zp_in: i32,
    out: OutQ,
    seed: u64,
}

fn check_conv(t: &ConvCase) {
    let mut g = Lcg(t.seed);
    let x: Vec<u8> = (0..t.n * t.h * t.w * t.c).map(|_| g.next() as u8).collect();
    let w: Vec<i8> = (0..t.oc * 9 * t.c).map(|_| g.next() as i8).collect();
    let bias: Vec<i32> = (0..t.oc).map(|_| (g.next() as i32) >> 14).collect();
    let scale: Vec<f32> = (0..t.oc)
        .map(|_| 1e-4 * (1.0 + (g.next() % 100) as f32 / 10.0))
        .collect();
    let pad = Padding::new(t.pad[0], t.pad[1], t.pad[2], t.pad[3]);
    let input = Q8Input {
        data: &x,
        n: t.n,
        h: t.h,
        w: t.w,
        c: t.c,
        zp: t.zp_in,
    };
    let conv = Q8Conv {
        kernel: (3, 3),
        stride: t.stride,
        pad,
        groups: 1,
        out_c: t.oc,
    };
    let Ok((want, oh, ow)) = q8::q8_conv2d(input, conv, &w, &bias, &scale, t.out) else {
        return; // the kernel does not fit the padded input
    };
    for kernel in TABLE.iter().filter(|k| k.id.runs_on(Cpu::detect())) {
        let op = Q8Conv3x3::new(kernel, &w, t.c, &bias, &scale, t.zp_in, t.stride, pad).unwrap();
        assert_eq!(op.out_hw(t.h, t.w).unwrap(), (oh, ow));
        let mut scratch = vec![0u8; op.scratch_len()];
        let mut y = vec![0u8; want.len()];
        op.run(&x, t.n, t.h, t.w, &mut y, t.out, &mut scratch)
            .unwrap();
        assert_eq!(y, want, "{}: {t:?}", kernel.id.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn q8_conv3x3_equals_the_reference(
        (n, h, w) in (1usize..=2, 1usize..=14, 1usize..=14),
        c in prop_oneof![Just(3usize), 1usize..=9, Just(16)],
        oc in 1usize..=40,
        stride in 1usize..=2,
        pad in proptest::array::uniform4(0usize..=2),
        zp_in in prop_oneof![Just(0), Just(255), 0i32..=255],
        (zp, lo, hi) in (0i32..=255, 0u8..=100, 150u8..=255),
        seed in any::<u64>(),
    ) {
        check_conv(&ConvCase { n, h, w, c, oc, stride, pad, zp_in,
            out: OutQ::new(zp, lo, hi).unwrap(), seed });
    }
}

/// conv0 of MobileNet at 224 (TF SAME: bottom/right pad at stride 2) and 225 (PyTorch's
/// symmetric pads), spanning several im2col bands.
#[test]
fn q8_conv0_mobilenet_shapes() {
    for (h, pad) in [(224, [0, 0, 1, 1]), (96, [1, 1, 1, 1]), (33, [0, 0, 1, 1])] {
        check_conv(&ConvCase {
            n: 1,
            h,
            w: h,
            c: 3,
            oc: 32,
            stride: 2,
            pad,
            zp_in: 128,
            out: OutQ::new(0, 0, 200).unwrap(),
            seed: h as u64,
        });
    }
}

#[test]
fn q8_conv3x3_refuses_bad_arguments() {
    let k = sepconv::kernels::q8_gemm::best(Cpu::detect());
    let w = vec![1i8; 2 * 27];
    assert!(Q8Conv3x3::new(k, &w, 3, &[0, 0], &[1.0, 1.0], 0, 3, Padding::default()).is_err());
    assert!(Q8Conv3x3::new(k, &w, 3, &[0], &[1.0], 0, 1, Padding::default()).is_err());
    assert!(Q8Conv3x3::new(k, &w, 3, &[0, 0], &[1.0, 1.0], 0, 1, Padding::symmetric(3)).is_err());
    let op = Q8Conv3x3::new(k, &w, 3, &[0, 0], &[1.0, 1.0], 0, 1, Padding::default()).unwrap();
    let mut scratch = vec![0u8; op.scratch_len()];
    let x = vec![0u8; 4 * 4 * 3];
    let mut y = vec![0u8; 2 * 2 * 2];
    let out = OutQ::full(0);
    assert!(op.run(&x, 1, 4, 4, &mut y[..7], out, &mut scratch).is_err());
    assert!(op
        .run(&x[..47], 1, 4, 4, &mut y, out, &mut scratch)
        .is_err());
    assert!(op.run(&x, 1, 2, 2, &mut y, out, &mut scratch).is_err());
    assert!(op
        .run(&x, 1, 4, 4, &mut y, out, &mut scratch[..10])
        .is_err());
    assert!(op.run(&x, 1, 4, 4, &mut y, out, &mut scratch).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn q8_pool_equals_the_reference(
        (n, hw, c) in (1usize..=3, 1usize..=64, 1usize..=80),
        zp_in in prop_oneof![Just(0), Just(255), 0i32..=255],
        zp in 0i32..=255,
        scale_exp in -3.0f32..=1.0,
        seed in any::<u64>(),
    ) {
        let mut g = Lcg(seed);
        let x: Vec<u8> = (0..n * hw * c).map(|_| g.next() as u8).collect();
        let scale = 10f32.powf(scale_exp) / hw as f32;
        let out = OutQ::full(zp);
        let want = q8::q8_global_avg_pool(&x, n, hw, c, zp_in, scale, out).unwrap();
        let mut y = vec![0u8; n * c];
        let mut sums = vec![0i32; c];
        q8_global_avg_pool(&x, n, hw, c, zp_in, scale, out, &mut y, &mut sums).unwrap();
        prop_assert_eq!(y, want);
    }
}

#[derive(Debug, Clone)]
struct DirectCase {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    oc: usize,
    stride: usize,
    pad: [usize; 4],
    /// The input quantization: scale and zero point.
    q: (f32, i32),
    rounding: InputRounding,
    /// Spread of the f32 pixels, in units of the scale (beyond 255 they saturate).
    spread: f32,
    out: OutQ,
    /// Output rows of each band of `run_rows`.
    band: usize,
    seed: u64,
}

/// Every direct conv0 kernel this CPU runs, on f32 pixels (quantized in the layer), on
/// their u8 codes and on their i8 codes, whole images and in bands of output rows,
/// against the reference on the codes `InputRounding::quantize` gives.
fn check_direct(t: &DirectCase) {
    let mut g = Lcg(t.seed);
    let q = QParams::new(t.q.0, t.q.1, "input").unwrap();
    let len = t.n * t.h * t.w * t.c;
    let mut pixels: Vec<f32> = Vec::with_capacity(len);
    for _ in 0..len {
        let unit = (g.next() % 2001) as f32 / 1000.0 - 1.0;
        pixels.push(unit * t.spread * t.q.0 + (g.next() % 7) as f32 * 0.25 * t.q.0);
    }
    // Ties of the rounding and values past both ends of the code range.
    for (i, p) in pixels.iter_mut().enumerate().filter(|(i, _)| i % 11 == 3) {
        *p = match i % 4 {
            0 => (i % 7) as f32 * 0.5 * t.q.0,
            1 => 1e30,
            2 => -1e30,
            _ => -((i % 5) as f32 + 0.5) * t.q.0,
        };
    }
    let codes: Vec<u8> = pixels.iter().map(|&x| t.rounding.quantize(q, x)).collect();
    let codes_i8: Vec<i8> = codes.iter().map(|&v| (v ^ 0x80) as i8).collect();
    let w: Vec<i8> = (0..t.oc * 9 * t.c).map(|_| g.next() as i8).collect();
    let bias: Vec<i32> = (0..t.oc).map(|_| (g.next() as i32) >> 14).collect();
    let scale: Vec<f32> = (0..t.oc)
        .map(|_| 1e-4 * (1.0 + (g.next() % 100) as f32 / 10.0))
        .collect();
    let pad = Padding::new(t.pad[0], t.pad[1], t.pad[2], t.pad[3]);
    let input = Q8Input {
        data: &codes,
        n: t.n,
        h: t.h,
        w: t.w,
        c: t.c,
        zp: q.zero_point,
    };
    let conv = Q8Conv {
        kernel: (3, 3),
        stride: t.stride,
        pad,
        groups: 1,
        out_c: t.oc,
    };
    let Ok((want, oh, ow)) = q8::q8_conv2d(input, conv, &w, &bias, &scale, t.out) else {
        return; // the kernel does not fit the padded input
    };
    let sources = [
        Conv0Source::F32 {
            x: &pixels,
            q,
            rounding: t.rounding,
        },
        Conv0Source::U8(&codes),
        Conv0Source::I8(&codes_i8),
    ];
    for kernel in q8_conv0::TABLE
        .iter()
        .filter(|k| k.id.runs_on(Cpu::detect()))
    {
        let name = kernel.id.name;
        let op = Q8Conv0::new(kernel, &w, t.c, &bias, &scale, q.zero_point, t.stride, pad).unwrap();
        assert_eq!(op.out_hw(t.h, t.w).unwrap(), (oh, ow));
        let mut scratch = vec![0u8; op.scratch_len(t.w)];
        for src in sources {
            let mut y = vec![0u8; want.len()];
            op.run(src, t.n, t.h, t.w, &mut y, t.out, &mut scratch)
                .unwrap();
            assert_eq!(y, want, "{name}: {src:?} {t:?}");
            // Bands of output rows, each with a scratch that held other rows before.
            let per_image = oh * ow * t.oc;
            let mut y = vec![0u8; want.len()];
            for b in 0..t.n {
                let image = src.image(b, t.h * t.w * t.c);
                let mut r = 0;
                while r < oh {
                    let end = (r + t.band).min(oh);
                    let out =
                        &mut y[b * per_image + r * ow * t.oc..b * per_image + end * ow * t.oc];
                    op.run_rows(image, t.h, t.w, r..end, out, t.out, &mut scratch)
                        .unwrap();
                    r = end;
                }
            }
            assert_eq!(y, want, "{name} in bands: {src:?} {t:?}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn q8_conv0_direct_equals_the_reference(
        (n, h, w) in (1usize..=2, 1usize..=12, 1usize..=37),
        c in prop_oneof![Just(3usize), 1usize..=4],
        oc in prop_oneof![1usize..=40, Just(32), Just(16), Just(8), 41usize..=70],
        stride in 1usize..=2,
        pad in proptest::array::uniform4(0usize..=2),
        scale_exp in prop_oneof![Just(-6.0f32), Just(1.0f32), -6.0f32..=1.0],
        zp_in in prop_oneof![Just(0), Just(255), 0i32..=255],
        divide in any::<bool>(),
        spread in prop_oneof![Just(300.0f32), 1.0f32..=400.0],
        (zp, lo, hi) in (0i32..=255, 0u8..=100, 150u8..=255),
        band in 1usize..=5,
        seed in any::<u64>(),
    ) {
        let rounding = if divide { InputRounding::Divide } else { InputRounding::Reciprocal };
        check_direct(&DirectCase { n, h, w, c, oc, stride, pad, q: (10f32.powf(scale_exp), zp_in),
            rounding, spread, out: OutQ::new(zp, lo, hi).unwrap(), band, seed });
    }
}

/// conv0 of MobileNet 1.0-224, 0.5-160 and 0.25-128 (TF SAME) and at 225 (symmetric pads),
/// with scales whose reciprocal is inexact, both roundings.
#[test]
fn q8_conv0_direct_mobilenet_shapes() {
    for (h, oc, pad) in [
        (224, 32, [0, 0, 1, 1]),
        (160, 16, [0, 0, 1, 1]),
        (128, 8, [0, 0, 1, 1]),
        (225, 32, [1, 1, 1, 1]),
    ] {
        for rounding in [InputRounding::Reciprocal, InputRounding::Divide] {
            check_direct(&DirectCase {
                n: 1,
                h,
                w: h,
                c: 3,
                oc,
                stride: 2,
                pad,
                q: (0.0078125 * 1.1, 127),
                rounding,
                spread: 140.0,
                out: OutQ::new(0, 0, 200).unwrap(),
                band: 7,
                seed: h as u64,
            });
        }
    }
}

/// Every kernel's row quantizer equals `InputRounding::quantize` on every f32 class:
/// ties, saturation, infinities, NaN, subnormals, negative zero; all lengths to 40.
#[test]
fn q8_conv0_quantizers_equal_the_scalar_rounding() {
    let mut g = Lcg(7);
    let mut xs: Vec<f32> = vec![
        0.0,
        -0.0,
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 4.0,
        -f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
    ];
    for _ in 0..3000 {
        xs.push(f32::from_bits(g.next()));
        xs.push((g.next() % 4001) as f32 * 0.25 - 500.0);
    }
    for scale in [1e-6f32, 0.0078125 * 1.1, 0.3, 1.0, 10.0, 1.7e-3] {
        for zp in [0, 1, 127, 128, 255] {
            let q = QParams::new(scale, zp, "x").unwrap();
            let scaled: Vec<f32> = xs.iter().map(|&x| x * scale).collect();
            for kernel in q8_conv0::TABLE
                .iter()
                .filter(|k| k.id.runs_on(Cpu::detect()))
            {
                for rounding in [InputRounding::Reciprocal, InputRounding::Divide] {
                    for src in [&xs, &scaled] {
                        for len in (0..=40).chain([src.len()]) {
                            let src = &src[src.len() - len..];
                            let mut got = vec![0u8; len];
                            (kernel.quantize)(src, &mut got, q, rounding).unwrap();
                            for (x, g) in src.iter().zip(&got) {
                                assert_eq!(
                                    *g,
                                    rounding.quantize(q, *x),
                                    "{}: {rounding:?} {x:e} scale {scale} zp {zp}",
                                    kernel.id.name
                                );
                            }
                        }
                    }
                }
                let mut short = vec![0u8; 3];
                assert!((kernel.quantize)(&xs[..4], &mut short, q, InputRounding::Divide).is_err());
            }
        }
    }
}

#[test]
fn q8_conv0_direct_refuses_bad_arguments() {
    for kernel in q8_conv0::TABLE
        .iter()
        .filter(|k| k.id.runs_on(Cpu::detect()))
    {
        let w = vec![1i8; 2 * 27];
        let p = Padding::default();
        assert!(Q8Conv0::new(kernel, &w, 3, &[0, 0], &[1.0, 1.0], 0, 3, p).is_err());
        assert!(Q8Conv0::new(kernel, &w, 3, &[0], &[1.0], 0, 1, p).is_err());
        assert!(Q8Conv0::new(kernel, &w, 3, &[0, 0], &[1.0, 0.0], 0, 1, p).is_err());
        assert!(Q8Conv0::new(kernel, &w, 3, &[0, 0], &[1.0, 1.0], 256, 1, p).is_err());
        let sym = Padding::symmetric(3);
        assert!(Q8Conv0::new(kernel, &w, 3, &[0, 0], &[1.0, 1.0], 0, 1, sym).is_err());
        let w5 = vec![1i8; 2 * 45];
        assert!(Q8Conv0::new(kernel, &w5, 5, &[0, 0], &[1.0, 1.0], 0, 1, p).is_err());
        let op = Q8Conv0::new(kernel, &w, 3, &[0, 0], &[1.0, 1.0], 0, 1, p).unwrap();
        let mut scratch = vec![0u8; op.scratch_len(4)];
        let x = vec![0u8; 4 * 4 * 3];
        let mut y = vec![0u8; 2 * 2 * 2];
        let out = OutQ::full(0);
        let u8s = Conv0Source::U8;
        assert!(op
            .run(u8s(&x), 1, 4, 4, &mut y[..7], out, &mut scratch)
            .is_err());
        assert!(op
            .run(u8s(&x[..47]), 1, 4, 4, &mut y, out, &mut scratch)
            .is_err());
        assert!(op.run(u8s(&x), 1, 2, 2, &mut y, out, &mut scratch).is_err());
        assert!(op
            .run(u8s(&x), 1, 4, 4, &mut y, out, &mut scratch[..10])
            .is_err());
        assert!(op
            .run_rows(u8s(&x), 4, 4, 1..3, &mut y, out, &mut scratch)
            .is_err());
        assert!(op.run(u8s(&x), 1, 4, 4, &mut y, out, &mut scratch).is_ok());
    }
}
