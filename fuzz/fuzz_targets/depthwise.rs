//! Differential: depthwise 3x3 of every ISA this CPU runs against the reference, on an
//! arbitrary small shape and arbitrary data; with an output pixel stride past the
//! channels (the layout a pointwise layer's A stride asks for), the same bits per pixel
//! and the gaps untouched. Shapes the reference rejects must be rejected by the operator
//! too.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use sepconv::ops::depthwise::{
    depthwise3x3_in_order, depthwise3x3_rows_strided, DepthwiseParams, DwOrder, PackedDepthwise,
};
use sepconv::reference::{conv2d, Conv2d};
use sepconv::{kernel_set, Clamp, Isa, Padding, Shape, Tensor};

#[derive(Arbitrary, Debug)]
struct Input {
    batch: u8,
    h: u8,
    w: u8,
    c: u16,
    stride: u8,
    pads: u8,
    /// Loop order: auto, columns or pixels.
    order: u8,
    /// Floats between output pixels past the channels (0..20).
    out_pad: u8,
    clamp: (f32, f32),
    /// Cycled to fill input, weights and bias.
    data: Vec<f32>,
}

fuzz_target!(|x: Input| {
    let bit = |i: u8| usize::from(x.pads >> i & 1);
    let p = DepthwiseParams {
        batch: usize::from(x.batch % 3) + 1,
        in_h: usize::from(x.h % 12) + 1,
        in_w: usize::from(x.w % 12) + 1,
        // Up to 300 channels: many blocks per pixel group and partial last blocks.
        channels: usize::from(x.c % 300) + 1,
        stride: usize::from(x.stride % 2) + 1,
        padding: Padding::new(bit(0), bit(1), bit(2), bit(3)),
        clamp: match Clamp::new(x.clamp.0.min(x.clamp.1), x.clamp.0.max(x.clamp.1)) {
            Ok(c) => c,
            Err(_) => return,
        },
    };
    // Keep values where an f32 dot product of 9 terms is well defined and comparable:
    // finite, and small enough that nothing overflows.
    let data: Vec<f32> = x
        .data
        .iter()
        .map(|v| {
            if v.is_finite() {
                v.clamp(-1e6, 1e6)
            } else {
                0.5
            }
        })
        .collect();
    if data.is_empty() {
        return;
    }
    let c = p.channels;
    let take = |n: usize, skip: usize| -> Vec<f32> {
        data.iter().cycle().skip(skip).take(n).copied().collect()
    };
    let n_in = p.batch * p.in_h * p.in_w * c;
    let input = take(n_in, 0);
    let weights = take(9 * c, 7);
    let bias = take(c, 3);
    let conv = Conv2d {
        out_channels: c,
        kernel_h: 3,
        kernel_w: 3,
        stride_h: p.stride,
        stride_w: p.stride,
        padding: p.padding,
        groups: c,
    };
    let shape = Shape::new(p.batch, p.in_h, p.in_w, c);
    let tensor = Tensor::from_vec(shape, input.clone()).unwrap();
    let want = conv2d(&tensor, &weights, Some(&bias), &conv, p.clamp);
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<f32>>();
    for isa in Isa::available() {
        let w = PackedDepthwise::new(kernel_set(isa).unwrap(), c, &weights, &bias).unwrap();
        let Ok(want) = &want else {
            assert!(
                p.validate().is_err(),
                "{isa}: accepted a shape the reference rejects"
            );
            return;
        };
        let mut got = vec![0.0; want.data.len()];
        let order = [DwOrder::Auto, DwOrder::Columns, DwOrder::Pixels][usize::from(x.order % 3)];
        depthwise3x3_in_order(&p, &w, order, &input, &mut got).unwrap();
        let mag = conv2d(
            &Tensor::from_vec(shape, abs(&input)).unwrap(),
            &abs(&weights),
            Some(&abs(&bias)),
            &conv,
            Clamp::NONE,
        )
        .unwrap();
        for (i, ((&g, &r), &m)) in got.iter().zip(&want.data).zip(&mag.data).enumerate() {
            let tol = 20.0 * f32::EPSILON * m + f32::MIN_POSITIVE;
            assert!(
                (g - r).abs() <= tol,
                "{isa} {order:?} {p:?} element {i}: got {g}, want {r}"
            );
            assert!(
                g >= p.clamp.min && g <= p.clamp.max,
                "{isa}: {g} outside the clamp"
            );
        }
        let out_px = c + usize::from(x.out_pad % 20);
        if out_px > c {
            const GAP: f32 = -3.25e30;
            let one = DepthwiseParams { batch: 1, ..p };
            let (image, out_image) = (p.in_h * p.in_w * c, p.out_h() * p.out_w() * c);
            for b in 0..p.batch {
                let mut buf = vec![GAP; p.out_h() * p.out_w() * out_px];
                let img = &input[b * image..(b + 1) * image];
                depthwise3x3_rows_strided(&one, &w, order, img, 0..p.out_h(), &mut buf, out_px)
                    .unwrap();
                let dense = &got[b * out_image..(b + 1) * out_image];
                for (i, (px, d)) in buf
                    .chunks_exact(out_px)
                    .zip(dense.chunks_exact(c))
                    .enumerate()
                {
                    assert!(
                        px[..c]
                            .iter()
                            .zip(d)
                            .all(|(s, d)| s.to_bits() == d.to_bits()),
                        "{isa} {order:?} {p:?} stride {out_px}: pixel {i} differs from dense"
                    );
                    assert!(
                        px[c..].iter().all(|&v| v == GAP),
                        "{isa} {order:?} {p:?} stride {out_px}: gap after pixel {i} written"
                    );
                }
            }
        }
    }
});
