//! sepconv: hand-optimized SIMD kernels for MobileNet V1 (depthwise-separable convolution)
//! on ARM NEON and x86 AVX2 / AVX-512, with runtime CPU dispatch.
//!
//! Activations are f32 NHWC. `reference` holds the naive oracle every kernel is tested
//! against; `kernels` the kernel tables per op, from which a [`KernelSet`] is picked for a [`Cpu`]; `net` MobileNet V1.

pub mod activation;
pub mod error;
pub mod ffi;
pub mod geometry;
pub mod io;
pub mod kernels;
mod memory;
pub mod net;
pub mod ops;
pub mod quant;
pub mod reference;
pub mod tensor;

pub use activation::{Activation, Clamp};
pub use error::{Error, Result};
pub use geometry::Padding;
pub use kernels::cpu::{Cpu, Feature, Features, Isa};
pub use kernels::{kernel_set, selected_kernel_set, KernelSet};
pub use net::{MobileNetConfig, MobileNetWeights, PaddingStyle};
pub use tensor::{Shape, Tensor};
