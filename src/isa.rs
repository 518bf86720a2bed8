//! CPU feature detection, the [`Isa`] enum and the forced override (`SEPCONV_ISA`).
//!
//! Detection runs once. A forced ISA that the CPU lacks is refused with an error naming the
//! missing feature, never run into a SIGILL.

use crate::{Error, Result};
use std::sync::OnceLock;

/// An instruction set with its own kernel set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable Rust, any CPU (the compiler's baseline: SSE2 on x86-64, NEON on AArch64).
    Scalar,
    /// x86-64 AVX2 + FMA.
    Avx2,
    /// x86-64 AVX-512F (plus AVX2 + FMA, which every AVX-512 CPU has).
    Avx512,
    /// AArch64 Advanced SIMD.
    Neon,
}

impl Isa {
    /// Every ISA sepconv knows, in preference order within an architecture.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar];

    /// The name used by `SEPCONV_ISA`, the CLI and the C ABI.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Whether this CPU and this build can run the ISA's kernels; the error says why not.
    pub fn check(self) -> Result<()> {
        let f = CpuFeatures::get();
        let required = match self {
            Isa::Scalar => vec![],
            Isa::Avx2 => vec![("avx2", f.avx2), ("fma", f.fma)],
            Isa::Avx512 => vec![("avx512f", f.avx512f), ("avx2", f.avx2), ("fma", f.fma)],
            Isa::Neon => vec![("neon", f.neon)],
        };
        let missing: Vec<&str> = required
            .into_iter()
            .filter(|(_, has)| !has)
            .map(|(name, _)| name)
            .collect();
        let arch_ok = match self {
            Isa::Scalar => true,
            Isa::Avx2 | Isa::Avx512 => cfg!(target_arch = "x86_64"),
            Isa::Neon => cfg!(target_arch = "aarch64"),
        };
        if !arch_ok {
            return Err(Error::IsaUnavailable {
                isa: self.name(),
                why: format!("this build is for {}", std::env::consts::ARCH),
            });
        }
        if !missing.is_empty() {
            return Err(Error::IsaUnavailable {
                isa: self.name(),
                why: format!("this CPU lacks {}", missing.join(", ")),
            });
        }
        Ok(())
    }

    /// Every ISA this CPU can run, best first (always ends with `Scalar`).
    pub fn available() -> Vec<Isa> {
        Isa::ALL.into_iter().filter(|i| i.check().is_ok()).collect()
    }

    /// The best ISA this CPU can run.
    pub fn detect() -> Isa {
        Isa::available()[0]
    }

    /// The ISA in force: `SEPCONV_ISA` if set (an error if unknown or unavailable), else the
    /// detected best. Read once per process.
    pub fn selected() -> Result<Isa> {
        static SELECTED: OnceLock<Result<Isa>> = OnceLock::new();
        SELECTED
            .get_or_init(|| match std::env::var("SEPCONV_ISA") {
                Ok(name) if !name.trim().is_empty() => {
                    let isa: Isa = name.parse()?;
                    isa.check()?;
                    Ok(isa)
                }
                _ => Ok(Isa::detect()),
            })
            .clone()
    }

    /// `requested` if given (checked), else [`Isa::selected`]: how an API option overrides
    /// the environment.
    pub fn resolve(requested: Option<Isa>) -> Result<Isa> {
        match requested {
            Some(isa) => isa.check().map(|()| isa),
            None => Isa::selected(),
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isa {
    type Err = Error;

    fn from_str(s: &str) -> Result<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Ok(Isa::Scalar),
            "avx2" => Ok(Isa::Avx2),
            "avx512" | "avx512f" | "avx-512" => Ok(Isa::Avx512),
            "neon" => Ok(Isa::Neon),
            _ => Err(Error::UnknownIsa(s.to_string())),
        }
    }
}

/// The CPU features sepconv cares about, detected once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuFeatures {
    pub avx2: bool,
    pub fma: bool,
    pub avx512f: bool,
    pub avx512vl: bool,
    pub avx512bw: bool,
    pub avx512dq: bool,
    pub neon: bool,
}

impl CpuFeatures {
    /// The features of this CPU (cached after the first call).
    pub fn get() -> CpuFeatures {
        static FEATURES: OnceLock<CpuFeatures> = OnceLock::new();
        *FEATURES.get_or_init(CpuFeatures::detect)
    }

    #[cfg(target_arch = "x86_64")]
    fn detect() -> CpuFeatures {
        use std::arch::is_x86_feature_detected as has;
        CpuFeatures {
            avx2: has!("avx2"),
            fma: has!("fma"),
            avx512f: has!("avx512f"),
            avx512vl: has!("avx512vl"),
            avx512bw: has!("avx512bw"),
            avx512dq: has!("avx512dq"),
            neon: false,
        }
    }

    #[cfg(target_arch = "aarch64")]
    fn detect() -> CpuFeatures {
        CpuFeatures {
            neon: std::arch::is_aarch64_feature_detected!("neon"),
            ..CpuFeatures::default()
        }
    }

    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    fn detect() -> CpuFeatures {
        CpuFeatures::default()
    }

    /// The detected features as names, for `sepconv info`.
    pub fn names(&self) -> Vec<&'static str> {
        [
            ("avx2", self.avx2),
            ("fma", self.fma),
            ("avx512f", self.avx512f),
            ("avx512vl", self.avx512vl),
            ("avx512bw", self.avx512bw),
            ("avx512dq", self.avx512dq),
            ("neon", self.neon),
        ]
        .into_iter()
        .filter(|(_, has)| *has)
        .map(|(n, _)| n)
        .collect()
    }
}
