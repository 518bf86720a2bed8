//! A set of features, as the bits the C ABI's masks use.

use super::Feature;

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
