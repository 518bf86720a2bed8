//! The portable int8 depthwise 3x3: the shared sweep over plain arrays, 16-channel
//! blocks in the packed layout of the SIMD kernels (so it also checks that layout on
//! every CPU).

use super::{lane_channel, DwVec, Q8DwArgs, Q8DwKernel};
use crate::kernels::cpu::{Features, Isa};
use crate::kernels::table::KernelId;
use crate::quant::{requantize, OutQ};
use crate::Result;

pub const SCALAR: Q8DwKernel = Q8DwKernel {
    id: KernelId {
        name: "q8_dwconv3x3_16c_scalar",
        isa: Isa::Scalar,
        features: Features::NONE,
        detail: "portable Rust over the packed 4-tap lanes, 16-channel blocks",
    },
    block: 16,
    tail_block: 16,
    wide: false,
    a_offset: 0,
    run,
};

fn run(mut a: Q8DwArgs<'_>) -> Result<()> {
    a.check(&SCALAR)?;
    // SAFETY: the portable token needs no CPU feature; `check` validated the call.
    unsafe { super::rows(Portable, Portable, &SCALAR, &mut a) };
    Ok(())
}

#[derive(Clone, Copy)]
struct Portable;

impl DwVec for Portable {
    const B: usize = 16;
    const WB: usize = 16;
    type R = [u8; 16];
    type X = [u8; 16];
    type A = [i32; 4];
    type Q = OutQ;

    #[inline(always)]
    unsafe fn load(self, p: *const u8, n: usize) -> [u8; 16] {
        let mut v = [0u8; 16];
        // SAFETY: the caller guarantees p .. p + n readable, n <= 16.
        unsafe { std::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n) };
        v
    }

    #[inline(always)]
    fn interleave(self, a: [u8; 16], b: [u8; 16], c: [u8; 16]) -> [[u8; 16]; 4] {
        let mut x = [[0u8; 16]; 4];
        for (r, x) in x.iter_mut().enumerate() {
            for i in 0..4 {
                let ch = lane_channel(r, i);
                x[4 * i..4 * i + 3].copy_from_slice(&[a[ch], b[ch], c[ch]]);
            }
        }
        x
    }

    #[inline(always)]
    unsafe fn bias(self, p: *const u8) -> [i32; 4] {
        let mut v = [0i32; 4];
        for (i, v) in v.iter_mut().enumerate() {
            let mut b = [0u8; 4];
            // SAFETY: p .. p + 16 readable.
            unsafe { std::ptr::copy_nonoverlapping(p.add(4 * i), b.as_mut_ptr(), 4) };
            *v = i32::from_le_bytes(b);
        }
        v
    }

    #[inline(always)]
    unsafe fn dot(self, mut acc: [i32; 4], x: [u8; 16], w: *const u8) -> [i32; 4] {
        let mut wv = [0u8; 16];
        // SAFETY: w .. w + 16 readable.
        unsafe { std::ptr::copy_nonoverlapping(w, wv.as_mut_ptr(), 16) };
        for (i, acc) in acc.iter_mut().enumerate() {
            for t in 0..4 {
                let p = i32::from(x[4 * i + t]) * i32::from(wv[4 * i + t] as i8);
                *acc = acc.wrapping_add(p);
            }
        }
        acc
    }

    #[inline(always)]
    fn quant(self, out: OutQ) -> OutQ {
        out
    }

    #[inline(always)]
    unsafe fn store(self, acc: [[i32; 4]; 4], scale: *const u8, q: OutQ, p: *mut u8, n: usize) {
        for (r, acc) in acc.iter().enumerate() {
            for (i, &acc) in acc.iter().enumerate() {
                let ch = lane_channel(r, i);
                if ch < n {
                    let mut s = [0u8; 4];
                    // SAFETY: the scales are 4 registers of 16 bytes; ch < n, so p + ch
                    // is writable.
                    unsafe {
                        std::ptr::copy_nonoverlapping(scale.add(16 * r + 4 * i), s.as_mut_ptr(), 4);
                        *p.add(ch) = requantize(acc, f32::from_le_bytes(s), q);
                    }
                }
            }
        }
    }
}
