//! The base ISAs and the features beside them: the one table that names them (names,
//! detection, C ABI values) and the enums' parsing and printing. Also parsed by cbindgen
//! for include/sepconv.h.

use super::{Cpu, Host};
use crate::{Error, Result};

/// A base instruction set: a rung of its architecture's ladder, each rung running every
/// kernel of the rungs below it. The discriminant is the value the C ABI uses
/// (`SEPCONV_ISA_*`; 0 there means "auto").
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    /// Portable Rust, any CPU (the compiler's baseline: SSE2 on x86-64, NEON on AArch64).
    Scalar = 1,
    /// x86-64 AVX2 + FMA.
    Avx2 = 2,
    /// x86-64 AVX-512 F, BW, DQ and VL (every AVX-512 core since Skylake-SP), on AVX2.
    Avx512 = 3,
    /// AArch64 Advanced SIMD.
    Neon = 4,
}

/// A CPU feature beside the base ISA, used by the kernels that need it. The discriminant
/// is its bit in a feature set, here and in the C ABI's masks (`SEPCONV_FEATURE_*`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    /// AVX512-VNNI: `vpdpbusd`, 4 int8 products summed into each i32 lane.
    Vnni = 1,
    /// AVX-VNNI: the VEX form of `vpdpbusd` on AVX2 cores.
    AvxVnni = 2,
    /// ARMv8.2 dot product: `sdot` / `udot`.
    Dotprod = 4,
    /// Half-precision arithmetic: ARMv8.2 FP16, x86 AVX512-FP16.
    Fp16 = 8,
    /// bfloat16 dot products: x86 AVX512-BF16, ARMv8.6 BF16.
    Bf16 = 16,
    /// ARMv8.6 int8 matrix multiply: `smmla`.
    I8mm = 32,
}

/// One base ISA: its names, where it runs, and what the CPU must report for it.
#[derive(Debug)]
pub struct IsaRow {
    pub isa: Isa,
    /// The name `SEPCONV_ISA`, `--isa`, errors and `sepconv info` use.
    pub name: &'static str,
    /// Other spellings accepted when parsing.
    pub aliases: &'static [&'static str],
    /// `std::env::consts::ARCH` of the builds that run it (`None`: every build).
    pub arch: Option<&'static str>,
    /// The rung below (which this one runs the kernels of).
    pub below: Option<Isa>,
    /// CPU features (`std::arch` detection names) it needs beyond the rung below.
    pub requires: &'static [&'static str],
}

/// One feature: its name, the lowest rung that may use it, and its detection.
#[derive(Debug)]
pub struct FeatureRow {
    pub feature: Feature,
    /// The name used to switch it off (`-name`) and in `sepconv info`.
    pub name: &'static str,
    /// (rung, CPU features it needs there): one entry per architecture that has it.
    pub on: &'static [(Isa, &'static [&'static str])],
}

/// Every base ISA, best first within an architecture.
pub const ISAS: &[IsaRow] = &[
    IsaRow {
        isa: Isa::Avx512,
        name: "avx512",
        aliases: &["avx512f", "avx-512"],
        arch: Some("x86_64"),
        below: Some(Isa::Avx2),
        requires: &["avx512f", "avx512bw", "avx512dq", "avx512vl"],
    },
    IsaRow {
        isa: Isa::Avx2,
        name: "avx2",
        aliases: &[],
        arch: Some("x86_64"),
        below: Some(Isa::Scalar),
        requires: &["avx2", "fma"],
    },
    IsaRow {
        isa: Isa::Neon,
        name: "neon",
        aliases: &["asimd"],
        arch: Some("aarch64"),
        below: Some(Isa::Scalar),
        requires: &["neon"],
    },
    IsaRow {
        isa: Isa::Scalar,
        name: "scalar",
        aliases: &["portable"],
        arch: None,
        below: None,
        requires: &[],
    },
];

/// Every feature.
pub const FEATURES: &[FeatureRow] = &[
    FeatureRow {
        feature: Feature::Vnni,
        name: "vnni",
        on: &[(Isa::Avx512, &["avx512vnni"])],
    },
    FeatureRow {
        feature: Feature::AvxVnni,
        name: "avxvnni",
        on: &[(Isa::Avx2, &["avxvnni"])],
    },
    FeatureRow {
        feature: Feature::Dotprod,
        name: "dotprod",
        on: &[(Isa::Neon, &["dotprod"])],
    },
    FeatureRow {
        feature: Feature::Fp16,
        name: "fp16",
        on: &[(Isa::Avx512, &["avx512fp16"]), (Isa::Neon, &["fp16"])],
    },
    FeatureRow {
        feature: Feature::Bf16,
        name: "bf16",
        on: &[(Isa::Avx512, &["avx512bf16"]), (Isa::Neon, &["bf16"])],
    },
    FeatureRow {
        feature: Feature::I8mm,
        name: "i8mm",
        on: &[(Isa::Neon, &["i8mm"])],
    },
];

impl Isa {
    /// Every base ISA, best first within an architecture.
    pub fn all() -> impl Iterator<Item = Isa> {
        ISAS.iter().map(|r| r.isa)
    }

    /// This ISA's table row.
    pub fn row(self) -> &'static IsaRow {
        // Every variant has a row (checked by a unit test).
        ISAS.iter()
            .find(|r| r.isa == self)
            .unwrap_or(&ISAS[ISAS.len() - 1])
    }

    /// The name used by `SEPCONV_ISA`, the CLI and errors.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The value the C ABI uses for this ISA.
    pub fn c_value(self) -> i32 {
        self as i32
    }

    /// The ISA of a C ABI value (`None` for 0, "auto", and unknown values).
    pub fn from_c(value: i32) -> Option<Isa> {
        Isa::all().find(|i| i.c_value() == value)
    }

    /// This rung and every rung below it, this one first.
    pub fn chain(self) -> impl Iterator<Item = Isa> {
        std::iter::successors(Some(self), |i| i.row().below)
    }

    /// Whether a CPU at this rung runs kernels written for `other`.
    pub fn runs(self, other: Isa) -> bool {
        self.chain().any(|i| i == other)
    }

    /// Whether this CPU and this build can run the ISA's kernels; the error says why not.
    pub fn check(self) -> Result<()> {
        let unavailable = |why: String| Error::IsaUnavailable {
            isa: self.name(),
            why,
        };
        if let Some(arch) = self.row().arch {
            if arch != std::env::consts::ARCH {
                return Err(unavailable(format!(
                    "this build is for {}",
                    std::env::consts::ARCH
                )));
            }
        }
        let host = Host::get();
        let missing: Vec<&str> = self
            .chain()
            .flat_map(|i| i.row().requires.iter().copied())
            .filter(|name| !host.has(name))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(unavailable(format!(
                "this CPU lacks {}",
                missing.join(", ")
            )))
        }
    }

    /// Every ISA this CPU can run, best first (always ends with `Scalar`).
    pub fn available() -> Vec<Isa> {
        Isa::all().filter(|i| i.check().is_ok()).collect()
    }

    /// The best ISA this CPU can run.
    pub fn detect() -> Isa {
        Isa::available().first().copied().unwrap_or(Isa::Scalar)
    }

    /// The base ISA of [`Cpu::selected`].
    pub fn selected() -> Result<Isa> {
        Cpu::selected().map(|c| c.isa)
    }

    /// `requested` if given (checked), else [`Isa::selected`].
    pub fn resolve(requested: Option<Isa>) -> Result<Isa> {
        match requested {
            Some(isa) => isa.check().map(|()| isa),
            None => Isa::selected(),
        }
    }

    /// Every known ISA name, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = ISAS.iter().map(|r| r.name).collect();
        names.join(", ")
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
        let s = s.trim().to_ascii_lowercase();
        ISAS.iter()
            .find(|r| r.name == s || r.aliases.contains(&s.as_str()))
            .map(|r| r.isa)
            .ok_or_else(|| Error::UnknownIsa(s.to_string()))
    }
}

impl Feature {
    /// Every feature.
    pub fn all() -> impl Iterator<Item = Feature> {
        FEATURES.iter().map(|r| r.feature)
    }

    /// This feature's table row.
    pub fn row(self) -> &'static FeatureRow {
        // Every variant has a row (checked by a unit test).
        FEATURES
            .iter()
            .find(|r| r.feature == self)
            .unwrap_or(&FEATURES[0])
    }

    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// Its bit in a [`Features`] set and in the C ABI.
    pub fn bit(self) -> u32 {
        self as u32
    }

    /// Whether the CPU has this feature at a rung of `isa`'s chain (and this build's
    /// architecture).
    pub(super) fn detected_on(self, isa: Isa) -> bool {
        let host = Host::get();
        self.row()
            .on
            .iter()
            .any(|(rung, needs)| isa.runs(*rung) && needs.iter().all(|n| host.has(n)))
    }

    /// Every known feature name, for error messages.
    pub fn names() -> String {
        let names: Vec<&str> = FEATURES.iter().map(|r| r.name).collect();
        names.join(", ")
    }
}

impl std::fmt::Display for Feature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Feature {
    type Err = Error;

    fn from_str(s: &str) -> Result<Feature> {
        let s = s.trim().to_ascii_lowercase();
        FEATURES
            .iter()
            .find(|r| r.name == s)
            .map(|r| r.feature)
            .ok_or_else(|| Error::UnknownFeature(s.to_string()))
    }
}
