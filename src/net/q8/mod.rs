//! Int8 networks: the quantized parameters as data ([`Q8Network`]), min/max
//! post-training quantization of an f32 network ([`quantize`]), and the runner
//! ([`Q8Model`]).

mod dtype;
mod model;
mod network;
pub mod quantize;
mod run;
mod workspace;

pub use dtype::EdgeType;
pub use model::Q8Model;
pub use network::{
    activation_bounds, xnnpack_bounds, InputRounding, Q8Fc, Q8Layer, Q8Network, Q8Pool, Q8PoolMode,
};
pub use run::{Q8Input, Q8Output};
pub use workspace::Q8Workspace;
