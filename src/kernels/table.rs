//! What every kernel descriptor starts with ([`KernelId`]), and the one rule that picks a
//! table's entry for a CPU ([`best`]).
//!
//! Each op keeps one table of its kernels, best first (`f32_gemm::TABLE`,
//! `f32_dwconv::TABLE`, ...): the only place that holds the op's ISA policy. A kernel is
//! picked for a [`Cpu`] by the first entry whose base ISA and features the CPU has, so
//! adding a kernel is one entry at its place in one table.

use super::cpu::{Cpu, Features, Isa};

/// A kernel's identity: its name, and what the CPU must have to run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelId {
    /// Data type, op, tile and ISA, as in `f32_gemm_14x32_avx512`: unique over every table
    /// (the name of its test, its row in docs/kernels.md and `sepconv info`).
    pub name: &'static str,
    /// The base ISA it needs (it also runs on every rung above).
    pub isa: Isa,
    /// The features beyond the base ISA it needs.
    pub features: Features,
    /// How it is built: the source and what its tile does at the edges.
    pub detail: &'static str,
}

impl KernelId {
    /// Whether `cpu` runs this kernel.
    pub fn runs_on(&self, cpu: Cpu) -> bool {
        cpu.runs(self.isa, self.features)
    }
}

impl std::fmt::Display for KernelId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.detail)
    }
}

/// A kernel descriptor: a [`KernelId`], then the op's entry points and tile sizes.
pub trait Kernel: Sync + 'static {
    fn id(&self) -> &KernelId;
}

/// The first entry of `table` that `cpu` runs and `fits` accepts.
pub fn best<K: Kernel>(
    table: &'static [K],
    cpu: Cpu,
    fits: impl Fn(&K) -> bool,
) -> Option<&'static K> {
    table.iter().find(|k| k.id().runs_on(cpu) && fits(k))
}
