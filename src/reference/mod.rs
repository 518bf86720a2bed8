//! Naive, obviously-correct f32 NHWC operators: the oracle every kernel and the runner are
//! tested against. Written for reading, not speed.

mod conv;
mod mobilenet;
mod network;
mod ops;
pub mod q8;

pub use conv::{conv2d, Conv2d};
pub use mobilenet::mobilenet_v1_forward;
pub use network::network_forward;
pub use ops::{batch_norm, clamp, fully_connected, global_avg_pool, softmax};
