//! MobileNet V1: configuration (alpha, resolution, classes, activation, padding style), the
//! layer plan, and weights.

mod buffer;
mod config;
mod deep;
mod fold;
mod model;
mod network;
mod options;
mod plan;
mod pool;
#[cfg(feature = "rayon")]
mod pool_rayon;
mod profile;
pub mod q8;
mod run;
mod tasks;
mod weights;
mod workspace;

/// The fork-join backend of the runner: the spin pool, or rayon with the `rayon` feature.
mod team {
    #[cfg(not(feature = "rayon"))]
    pub(super) use super::pool::{Pool, Team};
    #[cfg(feature = "rayon")]
    pub(super) use super::pool_rayon::{Pool, Team};
}

pub use config::{LayerKind, LayerSpec, MobileNetConfig, PaddingStyle, BLOCKS};
pub use fold::fold_batch_norm;
pub use model::Model;
pub use network::{layer_spec, Head, NetLayer, Network, NetworkWeights, MAX_CONV_IN_CHANNELS};
pub use options::{Fuse, Options, DEPTH_FIRST_MIN_BYTES};
pub use profile::{Step, StepKind};
pub use weights::{BatchNormParams, BlockWeights, ConvWeights, MobileNetWeights};
pub use workspace::Workspace;
