//! AVX-512F depthwise rows: 16-channel blocks in zmm registers.

use super::{DwKernel, DwRows, DwSimd};
use crate::kernels::cpu::{self, Features, Isa};
use crate::kernels::simd::avx512::{Avx512, LANES};
use crate::kernels::table::KernelId;

pub(crate) const KERNEL: DwKernel = DwKernel {
    id: KernelId {
        name: "f32_dwconv3x3_16c_avx512",
        isa: Isa::Avx512,
        features: Features::NONE,
        detail: "rust avx512f intrinsics, 16-channel blocks, k-mask tails",
    },
    rows,
    block: LANES,
};

impl DwSimd for Avx512 {
    const BAND: usize = 4;
    const BAND2: usize = 2;
}

/// Entry of [`KERNEL`].
fn rows(mut a: DwRows<'_>) {
    a.check(LANES);
    cpu::assert_runs(&KERNEL.id);
    // SAFETY: `assert_runs` confirmed that this CPU has the features `entry` enables;
    // `check` above validated the call.
    unsafe { entry(&mut a) }
}

/// # Safety
/// The CPU has avx512f and `a.check(LANES)` passed.
#[target_feature(enable = "avx512f")]
unsafe fn entry(a: &mut DwRows<'_>) {
    // SAFETY: the features are enabled here, so the token is valid; the call was checked.
    unsafe { super::rows(Avx512::new(), a) }
}
