//! Helpers shared by the integration tests.
#![allow(dead_code)]

use sepconv::Isa;

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
