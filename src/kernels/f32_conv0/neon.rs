//! The NEON conv0 entry: the generic row of `super` with 4-lane q-register blocks.

use super::{Conv0Kernel, Conv0Row};
use crate::kernels::cpu::{self, Features, Isa};
use crate::kernels::simd::neon::{self, Neon};
use crate::kernels::table::KernelId;

/// 32 q registers: 8 pixels x 2 vectors (16 accumulators + 6 taps + a broadcast) or 16
/// pixels x 1 vector (16 + 3 + 1).
pub const NEON: Conv0Kernel = Conv0Kernel {
    id: KernelId {
        name: "f32_conv0_8c_neon",
        isa: Isa::Neon,
        features: Features::NONE,
        detail: "rust neon, 8 pixels x 8 or 16 x 4 channels, direct from the image",
    },
    row: row_neon,
    block: neon::LANES,
    max_out_c: usize::MAX,
};

fn row_neon(mut a: Conv0Row<'_>) {
    a.check(neon::LANES);
    cpu::assert_runs(&NEON.id);
    // SAFETY: NEON is baseline on AArch64 (and confirmed by `assert_runs`); `check`
    // validated the row.
    unsafe { super::row::<_, 8, 4, 16, 4>(Neon::new(), &mut a) }
}
