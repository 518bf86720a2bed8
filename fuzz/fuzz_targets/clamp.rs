//! Differential: the clamp kernel of every ISA this CPU runs against the reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sepconv::{kernel_set, reference, Clamp, Isa, Shape, Tensor};

fuzz_target!(|input: (f32, f32, Vec<f32>)| {
    let (a, b, data) = input;
    let Ok(c) = Clamp::new(a.min(b), a.max(b)) else {
        return;
    };
    if data.iter().any(|v| v.is_nan()) {
        return; // NaN ordering differs between max instructions; not a supported input.
    }
    let want = reference::clamp(
        &Tensor::from_vec(Shape::new(1, 1, 1, data.len()), data.clone()).unwrap(),
        c,
    );
    for isa in Isa::available() {
        let mut got = data.clone();
        (kernel_set(isa).unwrap().clamp.run)(&mut got, c);
        assert_eq!(got, want.data, "{isa}");
    }
});
