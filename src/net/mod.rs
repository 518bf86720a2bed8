//! MobileNet V1: configuration (alpha, resolution, classes, activation, padding style), the
//! layer plan, and weights.

mod buffer;
mod config;
mod deep;
mod fold;
mod model;
mod pool;
mod weights;

pub use config::{LayerKind, LayerSpec, MobileNetConfig, PaddingStyle, BLOCKS};
pub use fold::fold_batch_norm;
pub use model::{Fuse, Model, Options, Step, StepKind, Workspace, DEPTH_FIRST_MIN_BYTES};
pub use weights::{BatchNormParams, BlockWeights, ConvWeights, MobileNetWeights};
