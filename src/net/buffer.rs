//! Where activation buffers sit relative to each other.
//!
//! Placement matters because of 4K aliasing: an Intel core first matches a load against
//! earlier, still-pending stores on address bits 0..11 only, and a load that matches one
//! waits for it. The depthwise kernel stores output pixels of a channel block while it
//! loads input pixels of the same block; with a pixel stride that is a multiple of 128
//! bytes (channels a multiple of 32), an output that lies a whole number of 128-byte pairs
//! from its input collides in those bits again and again, one an odd number of cache
//! lines away never does (docs/performance.md has the depthwise speed at every offset).
//! Separate large allocations share their offset within
//! a page, the worst case, so the runner places its buffers explicitly, all in one
//! page-aligned buffer (see [`crate::memory`]).

use std::ops::Range;

/// Bytes in the address bits a load is first matched against pending stores on.
pub(crate) const PAGE: usize = 4096;

/// Floats of slack a destination needs for [`odd_lines_from`] to place it.
pub(crate) const PLACE_SLACK: usize = 32;

/// Lays parts of `(floats, phase)` out one after the other in a buffer that starts on a
/// page: part i starts `phase` bytes after a 4 KiB boundary (`phase` < 4096, a multiple
/// of 64: activations start on a cache line, so the kernels' full-vector loads and stores
/// never split one). Returns each part's range and the floats the buffer needs, or
/// `None` if that overflows.
pub(crate) fn place<const N: usize>(
    parts: [(usize, usize); N],
) -> Option<([Range<usize>; N], usize)> {
    let mut at = Some(0usize);
    let ranges = parts.map(|(len, phase)| {
        debug_assert!(phase < PAGE && phase.is_multiple_of(64));
        let (page, want) = (PAGE / 4, phase / 4);
        let start = at.and_then(|a| a.checked_add((want + page - a % page) % page));
        let end = start.and_then(|s| s.checked_add(len));
        at = end;
        start.unwrap_or(0)..end.unwrap_or(0)
    });
    Some((ranges, at?))
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
    fn parts_start_at_their_phases_without_overlap() {
        let parts = [
            (0, 0),
            (1, 64),
            (17, 2112),
            (1000, 4032),
            (5000, 0),
            (3, 1088),
        ];
        let (ranges, len) = place(parts).unwrap();
        let mut end = 0;
        for (r, (n, phase)) in ranges.iter().zip(parts) {
            assert_eq!(r.len(), n);
            assert_eq!(r.start * 4 % PAGE, phase);
            assert!(r.start >= end);
            end = r.end;
        }
        assert_eq!(len, end);
        assert!(place([(usize::MAX - 10, 0), (20, 64)]).is_none());
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
