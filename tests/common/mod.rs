//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sepconv::{Clamp, Error, Isa};

/// The ISAs a test must cover: the one forced by `SEPCONV_ISA` (so CI's forced runs test
/// exactly that ISA), else every ISA this CPU runs.
pub fn isas_under_test() -> Vec<Isa> {
    match std::env::var("SEPCONV_ISA") {
        Ok(name) if !name.trim().is_empty() => {
            let isa: Isa = name.parse().expect("SEPCONV_ISA names a known ISA");
            isa.check().expect("SEPCONV_ISA names an ISA this CPU runs");
            vec![isa]
        }
        _ => Isa::available(),
    }
}

/// Proptest case count: `PROPTEST_CASES` if set (CI lowers it under qemu), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A command running one of this crate's binaries, through `SEPCONV_TEST_RUNNER` when set
/// (CI sets it to the qemu command line when the tests themselves run under qemu).
pub fn bin_command(path: &str) -> std::process::Command {
    match std::env::var("SEPCONV_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut cmd = std::process::Command::new(words.next().unwrap());
            cmd.args(words).arg(path);
            cmd
        }
        _ => std::process::Command::new(path),
    }
}

/// Written around every output slice; a kernel writing out of bounds changes it.
pub const GUARD: f32 = -7.654321e27;
pub const GUARD_LEN: usize = 37;

/// A buffer of `len` floats with `GUARD_LEN` guard values on each side.
pub fn guarded(len: usize) -> Vec<f32> {
    vec![GUARD; len + 2 * GUARD_LEN]
}

/// Panics if anything was written into the guards of a [`guarded`] buffer.
pub fn assert_guards(buf: &[f32], what: &str) {
    let n = buf.len();
    assert!(
        buf[..GUARD_LEN].iter().all(|&v| v == GUARD),
        "{what}: wrote before the output"
    );
    assert!(
        buf[n - GUARD_LEN..].iter().all(|&v| v == GUARD),
        "{what}: wrote past the output"
    );
}

/// `got` equals `want` within the error bound of a dot product of `terms` products plus a
/// bias in f32 (any summation order, with or without FMA): (terms + 1) * eps * the sum of
/// the absolute terms (`mag`), doubled for slack; and every value respects the clamp.
pub fn assert_close(
    got: &[f32],
    want: &[f32],
    mag: &[f32],
    clamp: Clamp,
    terms: usize,
    what: &str,
) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let eps = 2.0 * (terms + 1) as f32 * f32::EPSILON;
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        assert!(
            (g - w).abs() <= eps * m + f32::MIN_POSITIVE,
            "{what}: element {i}: got {g}, want {w} (magnitude {m})"
        );
        assert!(
            g >= clamp.min && g <= clamp.max,
            "{what}: element {i} = {g} outside the clamp {clamp:?}"
        );
    }
}

/// Panics unless `r` is a shape error whose message contains `needle`.
pub fn shape_error(r: sepconv::Result<()>, needle: &str) {
    match r {
        Err(Error::Shape(msg)) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
        other => panic!("expected a shape error about {needle:?}, got {other:?}"),
    }
}
