//! Differential: the clamp kernel of every ISA this CPU runs against the reference.
#![no_main]

mod common;

use common::{assert_ok, oracle};
use libfuzzer_sys::fuzz_target;
use sepconv::{kernel_set, Isa};

fuzz_target!(|input: (f32, f32, Vec<f32>)| {
    let (a, b, data) = input;
    let Some(c) = common::clamp((a, b)) else {
        return;
    };
    if data.iter().any(|v| v.is_nan()) {
        return; // NaN ordering differs between max instructions; not a supported input.
    }
    let want = oracle::clamp(&data, c);
    for isa in Isa::available() {
        let k = kernel_set(isa).unwrap().clamp;
        let mut got = data.clone();
        (k.run)(&mut got, c);
        assert_ok(want.check(&got, &format!("{isa} {}", k.id.name)));
    }
});
