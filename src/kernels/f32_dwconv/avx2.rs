//! AVX2+FMA depthwise rows: 8-channel blocks in ymm registers (16 registers: 9 taps,
//! bias, clamp bounds and 3 accumulators leave one for input, hence 2-row bands).

use super::{DwKernel, DwRows, DwSimd};
use crate::kernels::cpu::{self, Features, Isa};
use crate::kernels::simd::avx2::{Avx2, LANES};
use crate::kernels::table::KernelId;

pub(crate) const KERNEL: DwKernel = DwKernel {
    id: KernelId {
        name: "f32_dwconv3x3_8c_avx2",
        isa: Isa::Avx2,
        features: Features::NONE,
        detail: "rust avx2+fma intrinsics, 8-channel blocks, maskload tails",
    },
    rows,
    block: LANES,
};

impl DwSimd for Avx2 {
    const BAND: usize = 2;
    const BAND2: usize = 2;
    const PIXELS_WIDELY: bool = true;
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
/// The CPU has avx2,fma and `a.check(LANES)` passed.
#[target_feature(enable = "avx2,fma")]
unsafe fn entry(a: &mut DwRows<'_>) {
    // SAFETY: the features are enabled here, so the token is valid; the call was checked.
    unsafe { super::rows(Avx2::new(), a) }
}
