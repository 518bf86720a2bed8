//! Portable clamp.

use crate::activation::Clamp;

pub fn clamp(data: &mut [f32], c: Clamp) {
    for v in data {
        *v = c.apply(*v);
    }
}
