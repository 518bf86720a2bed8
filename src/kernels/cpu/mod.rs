//! What a CPU offers the kernels: a base ISA (a rung of its architecture's ladder) plus
//! features that are not rungs (AVX512-VNNI, ARMv8.2 dot product, ...). Both are rows of
//! the tables below, the one place that names them: detection, the names `SEPCONV_ISA`,
//! the CLI and errors use, and the values the C ABI uses all come from these rows.
//!
//! Detection runs once. Forcing names a base ISA and may switch features off
//! (`SEPCONV_ISA=avx512,-vnni`); what the CPU lacks is refused with an error naming the
//! missing CPU feature, never run into an illegal instruction.

mod features;
mod host;
mod isa;

pub use features::Features;
pub use host::Host;
pub use isa::{Feature, FeatureRow, Isa, IsaRow, FEATURES, ISAS};

use super::table::KernelId;
use crate::{Error, Result};
use std::sync::OnceLock;

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

#[cfg(test)]
mod tests {
    use super::host::HOST_FLAGS;
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
