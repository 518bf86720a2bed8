//! MobileNet V1: configuration (alpha, resolution, classes, activation, padding style), the
//! layer plan, and weights.

mod config;
mod weights;

pub use config::{LayerKind, LayerSpec, MobileNetConfig, PaddingStyle, BLOCKS};
pub use weights::{BatchNormParams, BlockWeights, ConvWeights, MobileNetWeights};
