//! Portable depthwise rows: 8-channel blocks as plain arrays.

use super::{DwKernel, DwRows, DwSimd};
use crate::kernels::cpu::{Features, Isa};
use crate::kernels::simd::scalar::{Portable, LANES};
use crate::kernels::table::KernelId;

pub(crate) const KERNEL: DwKernel = DwKernel {
    id: KernelId {
        name: "f32_dwconv3x3_8c_scalar",
        isa: Isa::Scalar,
        features: Features::NONE,
        detail: "rust portable, 8-channel blocks",
    },
    rows,
    block: LANES,
};

impl DwSimd for Portable {
    const BAND: usize = 1;
    const BAND2: usize = 1;
}

/// Entry of [`KERNEL`].
fn rows(mut a: DwRows<'_>) {
    a.check(LANES);
    // SAFETY: the portable token needs no CPU feature; `check` validated the call.
    unsafe { super::rows(Portable, &mut a) }
}
