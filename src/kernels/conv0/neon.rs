//! The NEON conv0 entry: the generic row of `super` with 4-lane q-register blocks.

use super::{Conv0Kernel, Conv0Row};
use crate::kernels::dwconv::neon::{self, Neon};

/// 32 q registers: 8 pixels x 2 vectors (16 accumulators + 6 taps + a broadcast) or 16
/// pixels x 1 vector (16 + 3 + 1).
pub const NEON: Conv0Kernel = Conv0Kernel {
    row: row_neon,
    block: neon::BLOCK,
    name: "rust neon (8 pixels x 8 or 16 x 4 channels, direct from the image)",
};

fn row_neon(mut a: Conv0Row<'_>) {
    a.check(neon::BLOCK);
    // SAFETY: NEON is baseline on AArch64; `check` validated the row.
    unsafe { super::row::<_, 8, 4, 16, 4>(Neon::new(), &mut a) }
}
