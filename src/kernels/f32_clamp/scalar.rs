//! Portable clamp.

use super::ClampKernel;
use crate::activation::Clamp;
use crate::kernels::cpu::{Features, Isa};
use crate::kernels::table::KernelId;

pub const SCALAR: ClampKernel = ClampKernel {
    id: KernelId {
        name: "f32_clamp_scalar",
        isa: Isa::Scalar,
        features: Features::NONE,
        detail: "rust",
    },
    run: clamp,
};

pub fn clamp(data: &mut [f32], c: Clamp) {
    for v in data {
        *v = c.apply(*v);
    }
}
