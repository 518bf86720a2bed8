//! The int8 full 3x3 convolution (im2col + every int8 GEMM kernel this CPU runs) and the
//! int8 global average pool against `reference::q8`, bit for bit: conv0's 3 channels and
//! other channel counts, strides 1 and 2, every pad combination up to 2, zero points at
//! the ends of the range, images from 1x1, bands of im2col rows split mid-image.

mod common;

use common::Lcg;
use proptest::prelude::*;
use sepconv::kernels::q8_gemm::TABLE;
use sepconv::ops::q8_conv::Q8Conv3x3;
use sepconv::ops::q8_pool::q8_global_avg_pool;
use sepconv::quant::OutQ;
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
