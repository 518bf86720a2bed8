//! Differential: conv0 (3x3 stride 2 from 3 channels) of every ISA this CPU runs against
//! the reference, on an arbitrary small shape and arbitrary data. Shapes the reference
//! rejects must be rejected by the operator too.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sepconv::ops::conv0::{conv0, Conv0Params, PackedConv0};
use sepconv::reference::{conv2d, Conv2d};
use sepconv::{kernel_set, Clamp, Isa, Padding, Shape, Tensor};

#[derive(Arbitrary, Debug)]
struct Input {
    batch: u8,
    h: u8,
    w: u8,
    c: u8,
    pads: u8,
    clamp: (f32, f32),
    /// Cycled to fill input, weights and bias.
    data: Vec<f32>,
}

fuzz_target!(|x: Input| {
    let bit = |i: u8| usize::from(x.pads >> i & 1);
    let p = Conv0Params {
        batch: usize::from(x.batch % 2) + 1,
        in_h: usize::from(x.h % 9) + 1,
        // Up to 60 columns: rows of 30 pixels run every tile size of every ISA.
        in_w: usize::from(x.w % 60) + 1,
        out_c: usize::from(x.c % 70) + 1,
        padding: Padding::new(bit(0), bit(1), bit(2), bit(3)),
        clamp: match Clamp::new(x.clamp.0.min(x.clamp.1), x.clamp.0.max(x.clamp.1)) {
            Ok(c) => c,
            Err(_) => return,
        },
    };
    // Finite values small enough that no 27-term dot product overflows.
    let data: Vec<f32> = x
        .data
        .iter()
        .map(|v| if v.is_finite() { v.clamp(-1e6, 1e6) } else { 0.5 })
        .collect();
    if data.is_empty() {
        return;
    }
    let c = p.out_c;
    let take = |n: usize, skip: usize| -> Vec<f32> {
        data.iter().cycle().skip(skip).take(n).copied().collect()
    };
    let input = take(p.batch * p.in_h * p.in_w * 3, 0);
    let weights = take(27 * c, 7);
    let bias = take(c, 3);
    let conv = Conv2d {
        out_channels: c,
        kernel_h: 3,
        kernel_w: 3,
        stride_h: 2,
        stride_w: 2,
        padding: p.padding,
        groups: 1,
    };
    let shape = Shape::new(p.batch, p.in_h, p.in_w, 3);
    let tensor = Tensor::from_vec(shape, input.clone()).unwrap();
    let want = conv2d(&tensor, &weights, Some(&bias), &conv, p.clamp);
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
    for isa in Isa::available() {
        let w = PackedConv0::new(kernel_set(isa).unwrap(), c, &weights, &bias).unwrap();
        let Ok(want) = &want else {
            assert!(
                p.validate().is_err(),
                "{isa}: accepted a shape the reference rejects"
            );
            return;
        };
        let mut got = vec![0.0; want.data.len()];
        conv0(&p, &w, &input, &mut got).unwrap();
        let mag = conv2d(
            &Tensor::from_vec(shape, abs(&input)).unwrap(),
            &abs(&weights),
            Some(&abs(&bias)),
            &conv,
            Clamp::NONE,
        )
        .unwrap();
        for (i, ((&g, &r), &m)) in got.iter().zip(&want.data).zip(&mag.data).enumerate() {
            let tol = 56.0 * f32::EPSILON * m + f32::MIN_POSITIVE;
            assert!(
                (g - r).abs() <= tol,
                "{isa} {p:?} element {i}: got {g}, want {r}"
            );
            assert!(
                g >= p.clamp.min && g <= p.clamp.max,
                "{isa}: {g} outside the clamp"
            );
        }
    }
});
