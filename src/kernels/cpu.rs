//! What a CPU offers the kernels: a base ISA (a rung of its architecture's ladder) plus
//! features that are not rungs (AVX512-VNNI, ARMv8.2 dot product, ...). Both are rows of
//! the tables below, the one place that names them: detection, the names `SEPCONV_ISA`,
//! the CLI and errors use, and the values the C ABI uses all come from these rows.
//!
//! Detection runs once. Forcing names a base ISA and may switch features off
//! (`SEPCONV_ISA=avx512,-vnni`); what the CPU lacks is refused with an error naming the
//! missing CPU feature, never run into an illegal instruction.

use super::table::KernelId;
use crate::{Error, Result};
use std::sync::OnceLock;

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
    fn detected_on(self, isa: Isa) -> bool {
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

/// A set of [`Feature`]s, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Features(u32);

impl Features {
    pub const NONE: Features = Features(0);

    /// The set of these features.
    pub const fn of(features: &[Feature]) -> Features {
        let mut bits = 0;
        let mut i = 0;
        while i < features.len() {
            bits |= features[i] as u32;
            i += 1;
        }
        Features(bits)
    }

    /// The set with these C ABI bits (unknown bits dropped).
    pub fn from_bits(bits: u32) -> Features {
        Features(bits & Feature::all().fold(0, |m, f| m | f.bit()))
    }

    pub fn bits(self) -> u32 {
        self.0
    }

    pub fn has(self, f: Feature) -> bool {
        self.0 & f.bit() != 0
    }

    /// Whether every feature of `other` is in this set.
    pub fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn with(self, f: Feature) -> Features {
        Features(self.0 | f.bit())
    }

    pub fn without(self, other: Features) -> Features {
        Features(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::all().filter(move |f| self.has(*f))
    }
}

impl std::fmt::Display for Features {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.iter().map(Feature::name).collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(" "))
        }
    }
}

/// What the kernels may use: a base ISA and features. [`Cpu::detect`] gives all this CPU
/// has; forcing gives a lower rung or fewer features. Every kernel set is chosen for a
/// `Cpu`, after [`Cpu::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cpu {
    pub isa: Isa,
    pub features: Features,
}

impl Cpu {
    /// `isa` with every feature this CPU has at its rungs.
    pub fn with_isa(isa: Isa) -> Result<Cpu> {
        isa.check()?;
        let features = Feature::all()
            .filter(|f| f.detected_on(isa))
            .fold(Features::NONE, Features::with);
        Ok(Cpu { isa, features })
    }

    /// The same rung without the features `off`.
    pub fn without(self, off: Features) -> Cpu {
        Cpu {
            features: self.features.without(off),
            ..self
        }
    }

    /// All this CPU offers: its best rung and every feature.
    pub fn detect() -> Cpu {
        static DETECTED: OnceLock<Cpu> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            Cpu::with_isa(Isa::detect()).unwrap_or(Cpu {
                isa: Isa::Scalar,
                features: Features::NONE,
            })
        })
    }

    /// One `Cpu` per base ISA this CPU runs (each with all its features), best first.
    pub fn available() -> Vec<Cpu> {
        Isa::available()
            .into_iter()
            .filter_map(|i| Cpu::with_isa(i).ok())
            .collect()
    }

    /// The `Cpu` in force: `SEPCONV_ISA` if set (an error if unknown or unavailable), else
    /// [`Cpu::detect`]. Read once per process.
    pub fn selected() -> Result<Cpu> {
        static SELECTED: OnceLock<Result<Cpu>> = OnceLock::new();
        SELECTED
            .get_or_init(|| match std::env::var("SEPCONV_ISA") {
                Ok(spec) if !spec.trim().is_empty() => spec.parse(),
                _ => Ok(Cpu::detect()),
            })
            .clone()
    }

    /// `requested` if given (checked), else [`Cpu::selected`]: how an API option overrides
    /// the environment.
    pub fn resolve(requested: Option<Cpu>) -> Result<Cpu> {
        match requested {
            Some(cpu) => cpu.check().map(|()| cpu),
            None => Cpu::selected(),
        }
    }

    /// Whether this CPU runs this rung and has these features; the error names what is
    /// missing.
    pub fn check(self) -> Result<()> {
        self.isa.check()?;
        let missing: Vec<&str> = self
            .features
            .iter()
            .filter(|f| !f.detected_on(self.isa))
            .map(Feature::name)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::IsaUnavailable {
                isa: self.isa.name(),
                why: format!(
                    "this CPU lacks {} (or it needs a higher base ISA)",
                    missing.join(", ")
                ),
            })
        }
    }

    /// Whether a kernel written for `isa` with `features` may run here.
    pub fn runs(self, isa: Isa, features: Features) -> bool {
        self.isa.runs(isa) && self.features.contains(features)
    }

    /// The `SEPCONV_ISA` spelling of this CPU: the base ISA, then `-feature` for each
    /// feature the rung has on this CPU but this value switches off.
    pub fn spec(self) -> String {
        let mut s = self.isa.name().to_string();
        if let Ok(full) = Cpu::with_isa(self.isa) {
            for f in full.features.without(self.features).iter() {
                s.push_str(",-");
                s.push_str(f.name());
            }
        }
        s
    }
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.isa.name())?;
        if !self.features.is_empty() {
            write!(f, " + {}", self.features)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Cpu {
    type Err = Error;

    /// `isa[,-feature]*`: a base ISA with every feature this CPU has at its rungs, minus
    /// each one named with a `-`. Checked against this CPU.
    fn from_str(s: &str) -> Result<Cpu> {
        let mut parts = s.split(',');
        let isa: Isa = parts.next().unwrap_or_default().parse()?;
        let mut off = Features::NONE;
        for part in parts {
            let part = part.trim();
            match part.strip_prefix('-') {
                Some(name) => off = off.with(name.parse()?),
                None => {
                    return Err(Error::Config(format!(
                        "{s:?}: after the ISA, only features to switch off, as -{}",
                        FEATURES[0].name
                    )))
                }
            }
        }
        Ok(Cpu::with_isa(isa)?.without(off))
    }
}

/// Ok if this CPU runs the kernel `id`, else the error naming what it lacks: the check
/// in each safe entry of a kernel that needs more than the baseline, which makes its
/// `unsafe` call sound whoever holds the entry (a cached test, once per call).
pub fn require(id: &KernelId) -> Result<()> {
    if id.runs_on(Cpu::detect()) {
        Ok(())
    } else {
        Cpu {
            isa: id.isa,
            features: id.features,
        }
        .check()
        .and(Err(Error::IsaUnavailable {
            isa: id.isa.name(),
            why: format!("this CPU cannot run {}", id.name),
        }))
    }
}

/// [`require`] for entries that return no `Result`: panics instead of running
/// instructions the CPU lacks.
pub fn assert_runs(id: &KernelId) {
    if let Err(e) = require(id) {
        panic!("{}: {e}", id.name);
    }
}

/// The CPU's own feature flags, as `std::arch` names them, detected once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Host {
    bits: u64,
}

/// Every flag sepconv reads, in the order of [`Host`]'s bits.
const HOST_FLAGS: &[&str] = &[
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_one_row_and_distinct_values() {
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon] {
            assert_eq!(ISAS.iter().filter(|r| r.isa == isa).count(), 1, "{isa:?}");
            assert_eq!(Isa::from_c(isa.c_value()), Some(isa));
        }
        assert_eq!(Isa::from_c(0), None);
        let features = [
            Feature::Vnni,
            Feature::AvxVnni,
            Feature::Dotprod,
            Feature::Fp16,
            Feature::Bf16,
            Feature::I8mm,
        ];
        for f in features {
            assert_eq!(FEATURES.iter().filter(|r| r.feature == f).count(), 1);
            assert_eq!(f.bit().count_ones(), 1, "{f:?}");
            assert!(f
                .row()
                .on
                .iter()
                .all(|(_, needs)| needs.iter().all(|n| HOST_FLAGS.contains(n))));
        }
        let bits = features.iter().fold(0, |b, f| b | f.bit());
        assert_eq!(bits.count_ones() as usize, features.len());
        for r in ISAS {
            assert!(
                r.requires.iter().all(|n| HOST_FLAGS.contains(n)),
                "{}",
                r.name
            );
        }
    }

    #[test]
    fn chains_end_in_scalar() {
        for isa in Isa::all() {
            assert_eq!(isa.chain().last(), Some(Isa::Scalar));
            assert!(isa.runs(isa) && isa.runs(Isa::Scalar));
        }
        assert!(Isa::Avx512.runs(Isa::Avx2));
        assert!(!Isa::Avx2.runs(Isa::Avx512));
        assert!(!Isa::Neon.runs(Isa::Avx2));
    }

    #[test]
    fn specs_parse_and_print_back() {
        for cpu in Cpu::available() {
            assert_eq!(cpu.spec().parse::<Cpu>().unwrap(), cpu);
            for f in cpu.features.iter() {
                let less = cpu.without(Features::of(&[f]));
                assert_eq!(less.spec().parse::<Cpu>().unwrap(), less);
                assert!(less.spec().contains(&format!("-{f}")));
            }
        }
        assert!(matches!(
            "scalar,+vnni".parse::<Cpu>(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            "scalar,-nosuch".parse::<Cpu>(),
            Err(Error::UnknownFeature(_))
        ));
        // Switching off a feature the rung lacks is allowed (a no-op).
        assert_eq!(
            "scalar,-vnni".parse::<Cpu>().unwrap(),
            Cpu::with_isa(Isa::Scalar).unwrap()
        );
    }

    #[test]
    fn features_belong_to_their_rungs() {
        // Scalar has no features; a feature is never detected on a rung below its own.
        assert!(Cpu::with_isa(Isa::Scalar).unwrap().features.is_empty());
        for cpu in Cpu::available() {
            assert!(cpu.check().is_ok());
            for f in cpu.features.iter() {
                assert!(f.row().on.iter().any(|(rung, _)| cpu.isa.runs(*rung)));
            }
        }
    }
}
