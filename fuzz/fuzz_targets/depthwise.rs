//! Differential: depthwise 3x3 of every ISA this CPU runs against the reference, on an
//! arbitrary small shape and arbitrary data; with an output pixel stride past the
//! channels (the layout a pointwise layer's A stride asks for), the same bits per pixel
//! and the gaps untouched. Shapes the reference rejects must be rejected by the operator
//! too.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::{assert_ok, cycled, finite, oracle};
use libfuzzer_sys::fuzz_target;
use sepconv::ops::depthwise::{
    depthwise3x3_in_order, depthwise3x3_rows_strided, DepthwiseParams, DwOrder, PackedDepthwise,
};
use sepconv::{kernel_set, Isa};

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
    let Some(clamp) = common::clamp(x.clamp) else {
        return;
    };
    let p = DepthwiseParams {
        batch: usize::from(x.batch % 3) + 1,
        in_h: usize::from(x.h % 12) + 1,
        in_w: usize::from(x.w % 12) + 1,
        // Up to 300 channels: many blocks per pixel group and partial last blocks.
        channels: usize::from(x.c % 300) + 1,
        stride: usize::from(x.stride % 2) + 1,
        padding: oracle::padding(x.pads),
        clamp,
    };
    let data = finite(&x.data);
    if data.is_empty() {
        return;
    }
    let c = p.channels;
    let input = cycled(&data, p.batch * p.in_h * p.in_w * c, 0);
    let weights = cycled(&data, 9 * c, 7);
    let bias = cycled(&data, c, 3);
    let Ok(want) = oracle::depthwise(&p, &input, &weights, &bias) else {
        assert!(
            p.validate().is_err(),
            "accepted a shape the reference rejects"
        );
        return;
    };
    let order = [DwOrder::Auto, DwOrder::Columns, DwOrder::Pixels][usize::from(x.order % 3)];
    for isa in Isa::available() {
        let ks = kernel_set(isa).unwrap();
        let w = PackedDepthwise::new(ks, c, &weights, &bias).unwrap();
        let mut got = vec![0.0; want.want.data.len()];
        depthwise3x3_in_order(&p, &w, order, &input, &mut got).unwrap();
        let what = format!("{isa} {} {order:?} {p:?}", ks.dw3x3.id.name);
        assert_ok(want.check(&got, &what));
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
                        "{what} stride {out_px}: pixel {i} differs from dense"
                    );
                    assert!(
                        px[c..].iter().all(|&v| v == GAP),
                        "{what} stride {out_px}: gap after pixel {i} written"
                    );
                }
            }
        }
    }
});
