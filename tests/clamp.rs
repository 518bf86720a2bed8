//! The clamp kernel (the assembly path's first routine) on every ISA vs the reference.

mod common;

use proptest::prelude::*;
use sepconv::{kernel_set, reference, Activation, Clamp, Shape, Tensor};

fn check(data: &[f32], c: Clamp) {
    let want = reference::clamp(
        &Tensor::from_vec(Shape::new(1, 1, 1, data.len()), data.to_vec()).unwrap(),
        c,
    );
    for isa in common::isas_under_test() {
        let mut got = data.to_vec();
        // Guard bytes after the slice must stay untouched.
        got.extend_from_slice(&[f32::MAX; 5]);
        let n = data.len();
        (kernel_set(isa).unwrap().clamp.run)(&mut got[..n], c);
        assert_eq!(&got[..n], &want.data[..], "{isa} n={n}");
        assert!(
            got[n..].iter().all(|&v| v == f32::MAX),
            "{isa} wrote past the end"
        );
    }
}

#[test]
fn every_length_up_to_70_and_every_activation() {
    for n in 0..=70 {
        let data: Vec<f32> = (0..n).map(|i| (i as f32 - 20.0) * 0.37).collect();
        for act in [Activation::None, Activation::Relu, Activation::Relu6] {
            check(&data, act.clamp());
        }
    }
}

/// Found by the depthwise fuzz target: `Clamp::new(inf, inf)` was accepted, every output
/// became +inf, and `inf - inf` made the differential comparison fail.
#[test]
fn bounds_that_force_infinity_are_rejected() {
    let inf = f32::INFINITY;
    for (lo, hi) in [(inf, inf), (-inf, -inf), (f32::NAN, 1.0), (2.0, 1.0)] {
        let err = Clamp::new(lo, hi).unwrap_err().to_string();
        assert!(err.contains("clamp bounds"), "{lo} {hi}: {err}");
    }
    for (lo, hi) in [
        (-inf, inf),
        (-inf, 0.0),
        (0.0, inf),
        (6.0, 6.0),
        (f32::MAX, inf),
    ] {
        assert!(Clamp::new(lo, hi).is_ok(), "{lo} {hi}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(128)))]

    #[test]
    fn matches_reference(
        data in prop::collection::vec(-100.0f32..100.0, 0..300),
        a in -10.0f32..10.0,
        b in -10.0f32..10.0,
    ) {
        check(&data, Clamp::new(a.min(b), a.max(b)).unwrap());
    }
}
