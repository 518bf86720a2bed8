//! Int8 networks: the quantized parameters as data ([`Q8Network`]), min/max
//! post-training quantization of an f32 network ([`quantize`]), and the runner
//! ([`Q8Model`]).

mod model;
mod network;
pub mod quantize;

pub use model::{Q8Model, Q8Workspace};
pub use network::{
    activation_bounds, xnnpack_bounds, EdgeType, Q8Fc, Q8Layer, Q8Network, Q8Pool, Q8PoolMode,
};
