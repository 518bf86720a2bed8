//! The one error type of the public API: every message names what is at fault.

/// Everything that can go wrong in sepconv. Messages name the field, shape, tensor, node or
/// byte offset at fault.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A shape, size or parameter that does not fit the operation.
    #[error("invalid shape: {0}")]
    Shape(String),
    /// A configuration value out of range (alpha, resolution, threads...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An ISA name that sepconv does not know.
    #[error("unknown ISA {0:?}: expected one of {isas}", isas = crate::kernels::cpu::Isa::names())]
    UnknownIsa(String),
    /// A CPU feature name that sepconv does not know.
    #[error("unknown CPU feature {0:?}: expected one of {features}", features = crate::kernels::cpu::Feature::names())]
    UnknownFeature(String),
    /// An ISA that was asked for but that this CPU (or this build) cannot run.
    #[error("ISA {isa} is not available: {why}")]
    IsaUnavailable { isa: &'static str, why: String },
    /// A model file or tensor that cannot be used.
    #[error("invalid model: {0}")]
    Model(String),
    /// An I/O failure, with the path involved.
    #[error("I/O error on {path}: {message}")]
    Io { path: String, message: String },
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
