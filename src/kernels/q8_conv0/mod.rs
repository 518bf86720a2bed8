//! Int8 direct conv0: a full 3x3 convolution from few input channels (MobileNet's first
//! layer: 3 channels, stride 2), one output row at a time from three padded rows of u8
//! codes, `y = requantize(bias + sum (x - zp_in) * w, scale[c])`, bit-identical to
//! `reference::q8::q8_conv2d`.
//!
//! Design: output channels across the lanes, 4 taps per i32 lane (the dot-product
//! instructions' shape). A kernel row `ky` of an output pixel is `3 * in_c` contiguous
//! bytes of its input row (OHWI weights have the same order), so with the rows padded
//! (zero-point columns left and right, see [`Q8Conv0Args`]) its taps are dwords read
//! straight from the row at `ox * stride * in_c`: no window is built. Per kernel row,
//! [`full_groups`] dwords from the pixel's offset; bytes past `3 in_c` meet zero weights.
//! For conv0's 3 channels that would be 9 dwords for 27 taps, so instead each kernel row
//! gives its first 8 bytes (2 dwords) and the three rows' 9th bytes make one more dword
//! ([`has_tail`]): 7 dwords, 27 of 28 taps useful. What the layout saves is the im2col
//! copy and, with the f32 input, the separate quantization pass: the op
//! (`ops::q8_conv0`) quantizes each input row once into a 3-row ring with
//! [`Q8Conv0Kernel::quantize`].
//!
//! Packed weights, per block of `B` channels (32, or a 16-channel block for a tail that
//! fits; [`Q8Conv0Kernel::blocks`]): `B` i32 folded biases (`quant::fold_bias` with the
//! input zero point, which the padding columns hold), `B` f32 scales, then for each of the
//! [`dwords`] (`ky` major, then the tail dword) `B` lanes of 4 s8 weights. Lanes past the
//! last channel are zero.

pub mod scalar;

#[cfg(target_arch = "x86_64")]
pub mod x86;

use super::cpu::Cpu;
use super::table::{Kernel, KernelId};
use crate::net::q8::InputRounding;
use crate::quant::{fold_bias, OutQ, QParams};
use crate::{Error, Result};

/// Input channels the kernels take: `3 * in_c <= 12` (at most 3 dwords per kernel row).
pub const MAX_IN_C: usize = 4;

/// One int8 direct conv0 kernel and its packing.
#[derive(Debug)]
pub struct Q8Conv0Kernel {
    pub id: KernelId,
    /// Channels per full block.
    pub block: usize,
    /// Width of the last block when the remaining channels fit in it; else `block`.
    pub tail_block: usize,
    /// One output row (checks its arguments first, refuses a CPU without its ISA).
    pub run: fn(Q8Conv0Args<'_>) -> Result<()>,
    /// `src` quantized into `dst` (equal lengths), exactly as `rounding.quantize(q, x)`
    /// per value.
    pub quantize:
        fn(src: &[f32], dst: &mut [u8], q: QParams, rounding: InputRounding) -> Result<()>,
}

impl Kernel for Q8Conv0Kernel {
    fn id(&self) -> &KernelId {
        &self.id
    }
}

/// Dwords read from each kernel row at the pixel's offset, for `in_c` channels.
pub fn full_groups(in_c: usize) -> usize {
    if has_tail(in_c) {
        2
    } else {
        (3 * in_c).div_ceil(4)
    }
}

/// Whether the last byte of each kernel row goes to a shared tail dword `[row 0, row 1,
/// row 2, 0]` (3 channels: 9 bytes a row).
pub fn has_tail(in_c: usize) -> bool {
    in_c == 3
}

/// Packed weight dwords per channel.
pub fn dwords(in_c: usize) -> usize {
    3 * full_groups(in_c) + usize::from(has_tail(in_c))
}

impl Q8Conv0Kernel {
    /// The blocks of `channels`: (first channel, width), full blocks then the tail.
    pub fn blocks(&self, channels: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..channels).step_by(self.block).map(move |c0| {
            let width = if channels - c0 <= self.tail_block {
                self.tail_block
            } else {
                self.block
            };
            (c0, width)
        })
    }

    /// Packed bytes per channel: bias, scale and the weight dwords.
    pub fn bytes_per_channel(in_c: usize) -> usize {
        8 + 4 * dwords(in_c)
    }

    /// Bytes of the packed weights of `channels`.
    pub fn packed_len(&self, in_c: usize, channels: usize) -> usize {
        self.blocks(channels)
            .last()
            .map_or(0, |(c0, b)| (c0 + b) * Self::bytes_per_channel(in_c))
    }

    /// Packs OHWI weights `[out_c][3][3][in_c]`, bias and scales (see the module doc).
    pub fn pack(
        &self,
        in_c: usize,
        weights: &[i8],
        bias: &[i32],
        scale: &[f32],
        zp_in: i32,
    ) -> Result<Vec<u8>> {
        let oc = bias.len();
        if in_c == 0
            || in_c > MAX_IN_C
            || oc == 0
            || weights.len() != oc * 9 * in_c
            || scale.len() != oc
            || !(0..=255).contains(&zp_in)
        {
            return Err(Error::Shape(format!(
                "{}: {} weights, {oc} biases, {} scales for {in_c} (1..={MAX_IN_C}) input \
                 channels, zero point {zp_in}",
                self.id.name,
                weights.len(),
                scale.len()
            )));
        }
        crate::quant::check_scales(scale, oc, self.id.name)?;
        let g = full_groups(in_c);
        let row = 3 * in_c;
        let per = Self::bytes_per_channel(in_c);
        let mut p = vec![0u8; self.packed_len(in_c, oc)];
        for (c0, b) in self.blocks(oc) {
            let base = c0 * per;
            for i in 0..b.min(oc - c0) {
                let ch = c0 + i;
                let w = &weights[ch * 9 * in_c..(ch + 1) * 9 * in_c];
                let fb = fold_bias(bias[ch], w.iter().copied(), zp_in, 0);
                p[base + 4 * i..base + 4 * i + 4].copy_from_slice(&fb.to_le_bytes());
                let at = base + 4 * b + 4 * i;
                p[at..at + 4].copy_from_slice(&scale[ch].to_le_bytes());
                for ky in 0..3 {
                    for d in 0..g {
                        let reg = base + 8 * b + (ky * g + d) * 4 * b;
                        for t in 0..4 {
                            let j = 4 * d + t;
                            if j < row {
                                p[reg + 4 * i + t] = w[ky * row + j] as u8;
                            }
                        }
                    }
                }
                if has_tail(in_c) {
                    let reg = base + 8 * b + 3 * g * 4 * b;
                    for ky in 0..3 {
                        p[reg + 4 * i + ky] = w[ky * row + 4 * g] as u8;
                    }
                }
            }
        }
        Ok(p)
    }
}

/// One output row. `rows[ky]` is kernel row `ky`'s input row as u8 codes, padded: byte
/// `j` is channel `j % in_c` of input column `j / in_c - pad_left`, the input zero point
/// where that column is outside the image. Output pixel `ox` reads
/// [`Q8Conv0Args::row_need`]`(in_c, stride, 1)` bytes of each row from `ox * stride *
/// in_c`. `out` receives `out_w` pixels of `out_c` channels
/// (dense). `packed` is [`Q8Conv0Kernel::pack`]ed for the kernel.
pub struct Q8Conv0Args<'a> {
    pub rows: [&'a [u8]; 3],
    pub in_c: usize,
    pub stride: usize,
    pub out_w: usize,
    pub out_c: usize,
    pub out: &'a mut [u8],
    pub packed: &'a [u8],
    pub out_q: OutQ,
}

impl Q8Conv0Args<'_> {
    /// Bytes of each row a call reads.
    pub fn row_need(in_c: usize, stride: usize, out_w: usize) -> usize {
        let per_pixel = if has_tail(in_c) {
            4 * full_groups(in_c) + 1
        } else {
            4 * full_groups(in_c)
        };
        out_w.saturating_sub(1) * stride * in_c + per_pixel
    }

    /// Checks everything the kernels rely on for memory safety.
    pub fn check(&self, kernel: &Q8Conv0Kernel) -> Result<()> {
        let c = self.in_c;
        let ok = (1..=MAX_IN_C).contains(&c)
            && (1..=2).contains(&self.stride)
            && self.out_w >= 1
            && self.out_c >= 1
            && self
                .out_w
                .checked_mul(self.out_c)
                .is_some_and(|n| self.out.len() >= n)
            && self
                .rows
                .iter()
                .all(|r| r.len() >= Self::row_need(c, self.stride, self.out_w))
            && self.packed.len() >= kernel.packed_len(c, self.out_c)
            && self.out_q.lo <= self.out_q.hi
            && (0..=255).contains(&self.out_q.zero_point);
        if ok {
            Ok(())
        } else {
            Err(Error::Shape(format!(
                "{}: called outside its contract ({} input channels, stride {}, {} x {} \
                 outputs into {}, rows of {:?} bytes, {} packed bytes)",
                kernel.id.name,
                c,
                self.stride,
                self.out_w,
                self.out_c,
                self.out.len(),
                self.rows.map(<[u8]>::len),
                self.packed.len()
            )))
        }
    }
}

/// Every int8 direct conv0 kernel, best first.
pub static TABLE: &[Q8Conv0Kernel] = &[
    #[cfg(target_arch = "x86_64")]
    x86::VNNI,
    scalar::SCALAR,
];

/// The direct kernel `cpu` runs conv0 with, if any: the vector entries where the CPU has
/// them, the portable one only on the scalar rung (on the other vector rungs im2col and
/// the rung's vector GEMM are faster than portable code: `ops::q8_conv`).
pub fn best(cpu: Cpu) -> Option<&'static Q8Conv0Kernel> {
    super::table::best(TABLE, cpu, |k| {
        k.id.isa != crate::Isa::Scalar || cpu.isa == crate::Isa::Scalar
    })
}
