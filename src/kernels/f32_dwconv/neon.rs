//! NEON depthwise rows: 4-channel blocks in q registers.

use super::{DwKernel, DwRows, DwSimd};
use crate::kernels::cpu::{self, Features, Isa};
use crate::kernels::simd::neon::{Neon, LANES};
use crate::kernels::table::KernelId;

pub(crate) const KERNEL: DwKernel = DwKernel {
    id: KernelId {
        name: "f32_dwconv3x3_4c_neon",
        isa: Isa::Neon,
        features: Features::NONE,
        detail: "rust neon intrinsics, 4-channel blocks, partial tails",
    },
    rows,
    block: LANES,
};

impl DwSimd for Neon {
    const BAND: usize = 4;
    const BAND2: usize = 2;
}

/// Entry of [`KERNEL`].
fn rows(mut a: DwRows<'_>) {
    a.check(LANES);
    cpu::assert_runs(&KERNEL.id);
    // SAFETY: NEON is baseline on AArch64 (and confirmed by `assert_runs`); `check`
    // validated the call.
    unsafe { super::rows(Neon::new(), &mut a) }
}
