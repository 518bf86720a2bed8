//! What the differential fuzz targets share: the tests' reference calls and tolerances
//! (`tests/common/oracle.rs`), and the turning of arbitrary bytes into a valid call.
#![allow(dead_code)]

#[path = "../../../tests/common/oracle.rs"]
pub mod oracle;

use sepconv::Clamp;

/// The clamp between the two values, if they make one (finite order, not both infinite
/// on one side).
pub fn clamp(bounds: (f32, f32)) -> Option<Clamp> {
    Clamp::new(bounds.0.min(bounds.1), bounds.0.max(bounds.1)).ok()
}

/// Values where an f32 dot product of a few dozen terms is well defined and comparable:
/// finite, and small enough that nothing overflows (others become 0.5).
pub fn finite(data: &[f32]) -> Vec<f32> {
    data.iter()
        .map(|v| {
            if v.is_finite() {
                v.clamp(-1e6, 1e6)
            } else {
                0.5
            }
        })
        .collect()
}

/// `n` values of `data` cycled from `skip` on (`data` must not be empty).
pub fn cycled(data: &[f32], n: usize, skip: usize) -> Vec<f32> {
    data.iter().cycle().skip(skip).take(n).copied().collect()
}

/// `check`'s error as a panic (the fuzzer's failure).
pub fn assert_ok(check: Result<(), String>) {
    if let Err(e) = check {
        panic!("{e}");
    }
}
