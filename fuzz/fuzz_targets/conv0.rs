//! Differential: conv0 (3x3 stride 2 from 3 channels) of every ISA this CPU runs against
//! the reference, on an arbitrary small shape and arbitrary data. Shapes the reference
//! rejects must be rejected by the operator too.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::{assert_ok, cycled, finite, oracle};
use libfuzzer_sys::fuzz_target;
use sepconv::ops::conv0::{conv0, Conv0Params, PackedConv0};
use sepconv::{kernel_set, Isa};

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
    let Some(clamp) = common::clamp(x.clamp) else {
        return;
    };
    let p = Conv0Params {
        batch: usize::from(x.batch % 2) + 1,
        in_h: usize::from(x.h % 9) + 1,
        // Up to 60 columns: rows of 30 pixels run every tile size of every ISA.
        in_w: usize::from(x.w % 60) + 1,
        out_c: usize::from(x.c % 70) + 1,
        padding: oracle::padding(x.pads),
        clamp,
    };
    let data = finite(&x.data);
    if data.is_empty() {
        return;
    }
    let c = p.out_c;
    let input = cycled(&data, p.batch * p.in_h * p.in_w * 3, 0);
    let weights = cycled(&data, 27 * c, 7);
    let bias = cycled(&data, c, 3);
    let Ok(want) = oracle::conv0(&p, &input, &weights, &bias) else {
        assert!(
            p.validate().is_err(),
            "accepted a shape the reference rejects"
        );
        return;
    };
    for isa in Isa::available() {
        let w = PackedConv0::new(kernel_set(isa).unwrap(), c, &weights, &bias).unwrap();
        let mut got = vec![0.0; want.want.data.len()];
        conv0(&p, &w, &input, &mut got).unwrap();
        assert_ok(want.check(&got, &format!("{isa} {} {p:?}", w.kernel().id.name)));
    }
});
