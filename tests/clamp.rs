//! Every clamp kernel (the assembly path's first routine) vs the reference: one test per
//! kernel of `f32_clamp::TABLE`.

mod common;

use common::oracle;
use common::strategies::{self, ACTIVATIONS};
use proptest::prelude::*;
use sepconv::kernels::f32_clamp::{ClampKernel, TABLE};
use sepconv::{Clamp, KernelSet};

common::kernel_tests!(
    TABLE,
    check_kernel,
    [f32_clamp_avx2, f32_clamp_neon, f32_clamp_scalar]
);

/// Every length up to 70 with every activation, then random lengths and bounds.
fn check_kernel(k: &'static ClampKernel, _: &'static KernelSet) {
    for n in 0..=70 {
        let data: Vec<f32> = (0..n).map(|i| (i as f32 - 20.0) * 0.37).collect();
        for act in ACTIVATIONS {
            check(k, &data, act.clamp());
        }
    }
    let data = prop::collection::vec(-100.0f32..100.0, 0..300);
    common::runner(128, file!())
        .run(&(data, strategies::clamp()), |(data, c)| {
            check(k, &data, c);
            Ok(())
        })
        .unwrap();
}

fn check(k: &ClampKernel, data: &[f32], c: Clamp) {
    let want = oracle::clamp(data, c);
    let mut got = data.to_vec();
    // Guard values after the slice must stay untouched.
    got.extend_from_slice(&[f32::MAX; 5]);
    let n = data.len();
    (k.run)(&mut got[..n], c);
    want.assert(&got[..n], &format!("{} n={n}", k.id.name));
    assert!(
        got[n..].iter().all(|&v| v == f32::MAX),
        "{} wrote past the end",
        k.id.name
    );
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
