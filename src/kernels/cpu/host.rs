//! The CPU's own feature flags, detected once.

use std::sync::OnceLock;

/// The CPU's own feature flags, as `std::arch` names them, detected once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Host {
    bits: u64,
}

/// Every flag sepconv reads, in the order of [`Host`]'s bits.
pub(super) const HOST_FLAGS: &[&str] = &[
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512dq",
    "avx512vl",
    "avx512vnni",
    "avxvnni",
    "avx512bf16",
    "avx512fp16",
    "neon",
    "dotprod",
    "fp16",
    "bf16",
    "i8mm",
];

impl Host {
    /// The flags of this CPU (cached after the first call).
    pub fn get() -> Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        *HOST.get_or_init(|| Host {
            bits: HOST_FLAGS
                .iter()
                .enumerate()
                .filter(|(_, name)| detect(name))
                .fold(0, |b, (i, _)| b | 1 << i),
        })
    }

    /// Whether the CPU reports the flag `name` (false for names sepconv does not read).
    pub fn has(self, name: &str) -> bool {
        HOST_FLAGS
            .iter()
            .position(|n| *n == name)
            .is_some_and(|i| self.bits & 1 << i != 0)
    }

    /// The flags this CPU reports, for `sepconv info`.
    pub fn names(self) -> Vec<&'static str> {
        HOST_FLAGS.iter().copied().filter(|n| self.has(n)).collect()
    }
}

#[cfg(target_arch = "x86_64")]
fn detect(name: &str) -> bool {
    use std::arch::is_x86_feature_detected as has;
    match name {
        "avx2" => has!("avx2"),
        "fma" => has!("fma"),
        "avx512f" => has!("avx512f"),
        "avx512bw" => has!("avx512bw"),
        "avx512dq" => has!("avx512dq"),
        "avx512vl" => has!("avx512vl"),
        "avx512vnni" => has!("avx512vnni"),
        "avxvnni" => has!("avxvnni"),
        "avx512bf16" => has!("avx512bf16"),
        "avx512fp16" => has!("avx512fp16"),
        _ => false,
    }
}

#[cfg(target_arch = "aarch64")]
fn detect(name: &str) -> bool {
    use std::arch::is_aarch64_feature_detected as has;
    match name {
        "neon" => has!("neon"),
        "dotprod" => has!("dotprod"),
        "fp16" => has!("fp16"),
        "bf16" => has!("bf16"),
        "i8mm" => has!("i8mm"),
        _ => false,
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect(_: &str) -> bool {
    false
}
