//! x86-64 conv0 entries: the generic row of `super` instantiated with AVX-512F (16-lane
//! zmm blocks, k-mask tails) and AVX2+FMA (8-lane ymm blocks, maskstore tails).

use super::{Conv0Kernel, Conv0Row};
use crate::kernels::dwconv::avx2::{self, Avx2};
use crate::kernels::dwconv::avx512::{self, Avx512};

/// AVX-512: 32 zmm registers hold a tile's accumulators, the 3 taps (kx = 0, 1, 2) of
/// each of its vectors and a broadcast: 12 pixels x 2 vectors (24 + 6 + 1) or 24 pixels
/// x 1 vector (24 + 3 + 1).
pub const AVX512: Conv0Kernel = Conv0Kernel {
    row: row_avx512,
    block: avx512::BLOCK,
    name: "rust avx512f (12 pixels x 32 or 24 x 16 channels, 12 x 8 as tap pairs, direct from the image)",
};

/// AVX2: 16 ymm registers: 4 pixels x 2 vectors (8 + 6 + 1) or 12 pixels x 1 vector
/// (12 + 3 + 1). On the Xeon host: 62-72 GFLOP/s, 70-80% of the AVX2 FMA peak (6 pixels
/// x 2 vectors spill and ran at 55-59).
pub const AVX2: Conv0Kernel = Conv0Kernel {
    row: row_avx2,
    block: avx2::BLOCK,
    name: "rust avx2+fma (4 pixels x 16 or 12 x 8 channels, direct from the image)",
};

fn row_avx512(mut a: Conv0Row<'_>) {
    a.check(avx512::BLOCK);
    // SAFETY: reachable only through the AVX-512 `KernelSet`, which `kernels::kernel_set`
    // hands out after `Isa::check` confirmed AVX-512F; `check` above validated the row.
    unsafe { entry_avx512(&mut a) }
}

/// # Safety
/// The CPU has AVX-512F and `a.check(avx512::BLOCK)` passed.
#[target_feature(enable = "avx512f")]
unsafe fn entry_avx512(a: &mut Conv0Row<'_>) {
    // SAFETY: AVX-512F is enabled here, so the token is valid; the row was checked (and
    // `pairs::row` takes at most 8 channels).
    unsafe {
        if a.out_c <= 8 {
            super::pairs::row(a)
        } else {
            super::row::<_, 12, 4, 24, 8>(Avx512::new(), a)
        }
    }
}

fn row_avx2(mut a: Conv0Row<'_>) {
    a.check(avx2::BLOCK);
    // SAFETY: reachable only through the AVX2 and AVX-512 `KernelSet`s, which
    // `kernels::kernel_set` hands out after `Isa::check` confirmed AVX2 and FMA; `check`
    // above validated the row.
    unsafe { entry_avx2(&mut a) }
}

/// # Safety
/// The CPU has AVX2 and FMA, and `a.check(avx2::BLOCK)` passed.
#[target_feature(enable = "avx2,fma")]
unsafe fn entry_avx2(a: &mut Conv0Row<'_>) {
    // SAFETY: AVX2 and FMA are enabled here, so the token is valid; the row was checked.
    unsafe { super::row::<_, 4, 2, 12, 4>(Avx2::new(), a) }
}
