//! MobileNet V1: configuration (alpha, resolution, classes, activation, padding style), the
//! layer plan, and weights.

mod buffer;
mod config;
mod deep;
mod fold;
mod model;
mod options;
mod plan;
mod pool;
mod profile;
mod run;
mod tasks;
mod weights;
mod workspace;

pub use config::{LayerKind, LayerSpec, MobileNetConfig, PaddingStyle, BLOCKS};
pub use fold::fold_batch_norm;
pub use model::Model;
pub use options::{Fuse, Options, DEPTH_FIRST_MIN_BYTES};
pub use profile::{Step, StepKind};
pub use weights::{BatchNormParams, BlockWeights, ConvWeights, MobileNetWeights};
pub use workspace::Workspace;
