//! x86-64 conv0 entries: the generic row of `super` instantiated with AVX-512F (16-lane
//! zmm blocks, k-mask tails) and AVX2+FMA (8-lane ymm blocks, maskstore tails), and the
//! AVX-512 tap-pair row for layers of at most 8 channels (`pairs`).

use super::{Conv0Kernel, Conv0Row};
use crate::kernels::cpu::{self, Features, Isa};
use crate::kernels::simd::avx2::{self, Avx2};
use crate::kernels::simd::avx512::{self, Avx512};
use crate::kernels::table::KernelId;

/// At most 8 output channels (MobileNet 0.25): a zmm holds 8 channels x 2 taps rather
/// than 16 channels with half the lanes idle. Packs like [`AVX512`] (16-lane blocks).
pub const AVX512_PAIRS: Conv0Kernel = Conv0Kernel {
    id: KernelId {
        name: "f32_conv0_8c_pairs_avx512",
        isa: Isa::Avx512,
        features: Features::NONE,
        detail: "rust avx512f, 12 pixels x 8 channels as tap pairs, direct from the image",
    },
    row: row_pairs_avx512,
    block: avx512::LANES,
    max_out_c: 8,
};

/// AVX-512: 32 zmm registers hold a tile's accumulators, the 3 taps (kx = 0, 1, 2) of
/// each of its vectors and a broadcast: 12 pixels x 2 vectors (24 + 6 + 1) or 24 pixels
/// x 1 vector (24 + 3 + 1).
pub const AVX512: Conv0Kernel = Conv0Kernel {
    id: KernelId {
        name: "f32_conv0_32c_avx512",
        isa: Isa::Avx512,
        features: Features::NONE,
        detail: "rust avx512f, 12 pixels x 32 or 24 x 16 channels, direct from the image",
    },
    row: row_avx512,
    block: avx512::LANES,
    max_out_c: usize::MAX,
};

/// AVX2: 16 ymm registers: 4 pixels x 2 vectors (8 + 6 + 1) or 12 pixels x 1 vector
/// (12 + 3 + 1); 6 pixels x 2 vectors would spill.
pub const AVX2: Conv0Kernel = Conv0Kernel {
    id: KernelId {
        name: "f32_conv0_16c_avx2",
        isa: Isa::Avx2,
        features: Features::NONE,
        detail: "rust avx2+fma, 4 pixels x 16 or 12 x 8 channels, direct from the image",
    },
    row: row_avx2,
    block: avx2::LANES,
    max_out_c: usize::MAX,
};

fn row_pairs_avx512(mut a: Conv0Row<'_>) {
    a.check(avx512::LANES);
    assert!(
        a.out_c <= 8,
        "f32_conv0_8c_pairs_avx512: {} channels > 8",
        a.out_c
    );
    cpu::assert_runs(&AVX512_PAIRS.id);
    // SAFETY: `assert_runs` confirmed AVX-512F; `check` above validated the row and it
    // has at most 8 channels.
    unsafe { entry_pairs_avx512(&mut a) }
}

/// # Safety
/// The CPU has AVX-512F, `a.check(avx512::LANES)` passed and `a.out_c <= 8`.
#[target_feature(enable = "avx512f")]
unsafe fn entry_pairs_avx512(a: &mut Conv0Row<'_>) {
    // SAFETY: AVX-512F is enabled here; the row was checked and has at most 8 channels.
    unsafe { super::pairs::row(a) }
}

fn row_avx512(mut a: Conv0Row<'_>) {
    a.check(avx512::LANES);
    cpu::assert_runs(&AVX512.id);
    // SAFETY: `assert_runs` confirmed AVX-512F; `check` above validated the row.
    unsafe { entry_avx512(&mut a) }
}

/// # Safety
/// The CPU has AVX-512F and `a.check(avx512::LANES)` passed.
#[target_feature(enable = "avx512f")]
unsafe fn entry_avx512(a: &mut Conv0Row<'_>) {
    // SAFETY: AVX-512F is enabled here, so the token is valid; the row was checked.
    unsafe { super::row::<_, 12, 4, 24, 8>(Avx512::new(), a) }
}

fn row_avx2(mut a: Conv0Row<'_>) {
    a.check(avx2::LANES);
    cpu::assert_runs(&AVX2.id);
    // SAFETY: `assert_runs` confirmed AVX2 and FMA; `check` above validated the row.
    unsafe { entry_avx2(&mut a) }
}

/// # Safety
/// The CPU has AVX2 and FMA, and `a.check(avx2::LANES)` passed.
#[target_feature(enable = "avx2,fma")]
unsafe fn entry_avx2(a: &mut Conv0Row<'_>) {
    // SAFETY: AVX2 and FMA are enabled here, so the token is valid; the row was checked.
    unsafe { super::row::<_, 4, 2, 12, 4>(Avx2::new(), a) }
}
