//! Naive, obviously-correct f32 NHWC operators: the oracle every kernel and the runner are
//! tested against. Written for reading, not speed.

mod conv;
mod mobilenet;
pub(crate) mod network;
mod ops;
pub mod q8;
mod q8_network;

pub use conv::{conv2d, Conv2d};
pub use mobilenet::mobilenet_v1_forward;
pub use network::network_forward;
pub use ops::{batch_norm, clamp, fully_connected, global_avg_pool, softmax};
pub use q8_network::q8_network_forward;
