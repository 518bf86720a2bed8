//! Layer-level operators, written once above a [`crate::KernelSet`]: weight packing,
//! blocking and tiling. They never allocate in the compute call and are single-threaded;
//! the runner splits work over rows.

pub mod conv0;
pub mod depthwise;
pub mod im2col;
pub mod pointwise;
pub mod q8_conv;
pub mod q8_conv0;
pub mod q8_depthwise;
pub mod q8_pool;
