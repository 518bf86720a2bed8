//! Activation buffers and where they sit relative to each other.
//!
//! Placement matters because of 4K aliasing: an Intel core first matches a load against
//! earlier, still-pending stores on address bits 0..11 only, and a load that matches one
//! waits for it. The depthwise kernel stores output pixels of a channel block while it
//! loads input pixels of the same block; with a pixel stride that is a multiple of 128
//! bytes (channels a multiple of 32), an output that lies a whole number of 128-byte pairs
//! from its input collides in those bits again and again, one an odd number of cache
//! lines away never does. Measured on a virtualized Xeon (AVX-512, input 4 KiB aligned,
//! output offsets 0..4032 in steps of 64 bytes): 112x112x32 at 32-36 GFLOP/s for every
//! even line offset against 48-51 for every odd one, 56x56x128 36-40 against 49-51,
//! 28x28x256 56-69 against 65-77. Separate large allocations share their offset within
//! a page, the worst case, so the runner places its buffers explicitly.

/// Bytes in the address bits a load is first matched against pending stores on.
pub(crate) const PAGE: usize = 4096;

/// Floats of slack a destination needs for [`odd_lines_from`] to place it.
pub(crate) const PLACE_SLACK: usize = 32;

/// A zeroed f32 buffer starting at a chosen byte offset within a 4 KiB page (a multiple
/// of 64: activations start on a cache line, so the kernels' full-vector loads and
/// stores never split one).
pub(crate) struct AlignedBuf {
    storage: Vec<f32>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` floats starting on a page boundary.
    pub(crate) fn zeroed(len: usize) -> AlignedBuf {
        AlignedBuf::zeroed_at(len, 0)
    }

    /// `len` floats starting `phase` bytes after a page boundary (`phase` < 4096, a
    /// multiple of 64).
    pub(crate) fn zeroed_at(len: usize, phase: usize) -> AlignedBuf {
        debug_assert!(phase < PAGE && phase.is_multiple_of(64));
        let storage = vec![0.0f32; len + PAGE / 4];
        let addr = storage.as_ptr() as usize;
        // Vec<f32> is 4-byte aligned, so the distance to the wanted phase is whole floats,
        // fewer than PAGE / 4 of them.
        let start = (phase + PAGE - addr % PAGE) % PAGE / 4;
        AlignedBuf {
            storage,
            start,
            len,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// The first `len` floats of `dst` after skipping 0..32 of them, so that they start an
/// odd number of cache lines after `src` modulo 128 bytes (see the module comment):
/// for a depthwise output written while `src` is read. `dst` holds `len + PLACE_SLACK`
/// floats (else the call panics: the callers size their scratch with the slack).
pub(crate) fn odd_lines_from(src: *const f32, dst: &mut [f32], len: usize) -> &mut [f32] {
    let gap = (src as usize + 64).wrapping_sub(dst.as_ptr() as usize) % 128;
    let skip = gap / 4;
    &mut dst[skip..skip + len]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_asked_phase_with_the_asked_length() {
        for len in [0, 1, 17, 1000] {
            for phase in [0, 64, 2112, 4032] {
                let mut b = AlignedBuf::zeroed_at(len, phase);
                assert_eq!(b.len(), len);
                let s = b.as_mut_slice();
                assert_eq!(s.len(), len);
                assert_eq!(s.as_ptr() as usize % PAGE, phase);
                assert!(s.iter().all(|&x| x == 0.0));
            }
        }
    }

    #[test]
    fn odd_lines_from_places_dst_an_odd_line_count_after_src() {
        let src = vec![0.0f32; 64];
        let mut dst = vec![0.0f32; 100 + PLACE_SLACK + 40];
        for from in 0..40 {
            for at in 0..32 {
                let s = src[at..].as_ptr();
                let d = odd_lines_from(s, &mut dst[from..], 100);
                assert_eq!(d.len(), 100);
                let gap = (d.as_ptr() as usize).wrapping_sub(s as usize) % 128;
                assert_eq!(gap, 64, "from {from}, src at {at}");
            }
        }
    }
}
