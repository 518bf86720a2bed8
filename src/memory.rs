//! Memory for packed weights and activations, on 2 MiB pages where the OS gives them.
//!
//! A MobileNet run touches every packed weight once (17 MB at 1.0-224) and a few MB of
//! activations; on 4 KiB pages that is thousands of pages per run, more than the second-
//! level TLB holds, and their scattered physical placement spreads unevenly over the L2
//! sets. A model therefore gathers all its weights into one buffer, and a workspace all
//! its activations into another, each starting on a 2 MiB boundary and marked for
//! transparent huge pages (Linux and Android `madvise(MADV_HUGEPAGE)`, which takes effect
//! where THP is enabled as "always" or "madvise"). The gain, measured at 1 and 2
//! threads on 1.0-224, 0.5-160 and 0.25-128, is in docs/performance.md.

use std::ops::{Deref, Range};
use std::sync::Arc;

/// Huge page size the buffers align to.
const HUGE: usize = 2 << 20;
/// Buffers of at least this many bytes start on a huge page and ask for huge pages;
/// smaller ones start on a 4 KiB page (the alignment the activation placement needs).
const HUGE_MIN_BYTES: usize = 1 << 20;
/// Floats per 64-byte cache line: gathered parts start on one.
const LINE_FLOATS: usize = 16;

/// A zeroed f32 buffer starting on a 4 KiB page, or on a 2 MiB page and backed by huge
/// pages (if the OS has them) when it is at least `HUGE_MIN_BYTES`.
#[derive(Debug)]
pub(crate) struct PageBuf {
    storage: Vec<f32>,
    start: usize,
    len: usize,
}

impl PageBuf {
    /// `len` zeroed floats, or `None` if the memory cannot be had.
    pub(crate) fn zeroed(len: usize) -> Option<PageBuf> {
        let huge = len.checked_mul(4)? >= HUGE_MIN_BYTES;
        let align = if huge { HUGE } else { 4096 };
        let total = len.checked_add(align / 4)?;
        let mut storage = Vec::new();
        storage.try_reserve_exact(total).ok()?;
        let addr = storage.as_ptr() as usize;
        // Vec<f32> is 4-byte aligned, so the distance to the boundary is whole floats.
        let start = (align - addr % align) % align / 4;
        if huge {
            // Before the zeros are written: a large reservation comes from fresh mmap'd
            // pages, and the first write to each is where the kernel picks its page size.
            advise_huge(addr + start * 4, len * 4);
        }
        storage.resize(total, 0.0);
        Some(PageBuf {
            storage,
            start,
            len,
        })
    }

    /// Takes `v` as it is (no copy, no page alignment): for weights packed outside a
    /// model, before [`gather`] moves them.
    fn from_vec(v: Vec<f32>) -> PageBuf {
        let len = v.len();
        PageBuf {
            storage: v,
            start: 0,
            len,
        }
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.storage[self.start..self.start + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// Asks the OS to back the `bytes` at `addr` (memory this process has allocated) with
/// transparent huge pages where they cover whole ones. A hint: where it is refused or
/// unsupported nothing changes.
fn advise_huge(addr: usize, bytes: usize) {
    #[cfg(all(any(target_os = "linux", target_os = "android"), not(miri)))]
    {
        let first = addr.next_multiple_of(HUGE);
        let end = (addr + bytes) / HUGE * HUGE;
        if end > first {
            // SAFETY: [first, end) lies inside the caller's allocation (PageBuf::zeroed's
            // reservation, all of it this process's) and is page aligned (`first` is a
            // multiple of 2 MiB); MADV_HUGEPAGE changes only how the kernel backs those
            // pages, never their contents or validity, so no Rust value is affected. The
            // result is ignored: a refusal (THP disabled, EINVAL on old kernels) leaves the
            // memory as it was.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(all(any(target_os = "linux", target_os = "android"), not(miri))))]
    let _ = (addr, bytes);
}

/// Immutable packed weights: a range of a shared [`PageBuf`], either the buffer they were
/// packed into or, after [`gather`], their model's buffer of all weights.
#[derive(Clone, Debug)]
pub(crate) struct Packed {
    buf: Arc<PageBuf>,
    range: Range<usize>,
}

impl Packed {
    pub(crate) fn from_vec(v: Vec<f32>) -> Packed {
        let range = 0..v.len();
        Packed {
            buf: Arc::new(PageBuf::from_vec(v)),
            range,
        }
    }
}

impl Deref for Packed {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf.as_slice()[self.range.clone()]
    }
}

/// Copies `parts` one after the other (each on a cache line) into one new page-aligned
/// buffer and points each at its copy: a model's weights.
/// `None` (and `parts` unchanged) if the memory cannot be had.
pub(crate) fn gather(parts: &mut [&mut Packed]) -> Option<()> {
    let mut at = Vec::with_capacity(parts.len());
    let mut len = 0usize;
    for p in parts.iter() {
        at.push(len);
        len = len
            .checked_add(p.len())?
            .checked_next_multiple_of(LINE_FLOATS)?;
    }
    let mut buf = PageBuf::zeroed(len)?;
    let mem = buf.as_mut_slice();
    for (p, &a) in parts.iter().zip(&at) {
        mem[a..a + p.len()].copy_from_slice(p);
    }
    let buf = Arc::new(buf);
    for (p, &a) in parts.iter_mut().zip(&at) {
        let n = p.len();
        **p = Packed {
            buf: Arc::clone(&buf),
            range: a..a + n,
        };
    }
    Some(())
}

/// Splits `mem` into the disjoint `parts` (ascending, non-overlapping ranges, all within
/// `mem`; else the call panics: callers build them with [`crate::net`]'s placement).
pub(crate) fn split_parts<'a, const N: usize>(
    mem: &'a mut [f32],
    parts: &[Range<usize>; N],
) -> [&'a mut [f32]; N] {
    let mut out: [&'a mut [f32]; N] = std::array::from_fn(|_| Default::default());
    let (mut rest, mut consumed) = (mem, 0);
    for (o, r) in out.iter_mut().zip(parts) {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(r.end - consumed);
        *o = &mut head[r.start - consumed..];
        rest = tail;
        consumed = r.end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bufs_are_zeroed_and_aligned() {
        for len in [0, 1, 1000, HUGE_MIN_BYTES / 4 - 1, HUGE_MIN_BYTES / 4 + 3] {
            let mut b = PageBuf::zeroed(len).unwrap();
            let s = b.as_mut_slice();
            assert_eq!(s.len(), len);
            let align = if len * 4 >= HUGE_MIN_BYTES {
                HUGE
            } else {
                4096
            };
            assert_eq!(s.as_ptr() as usize % align, 0, "len {len}");
            assert!(s.iter().all(|&x| x == 0.0));
            s.fill(1.0);
        }
    }

    #[test]
    fn gather_keeps_contents_on_cache_lines() {
        let mut a = Packed::from_vec(vec![1.0, 2.0, 3.0]);
        let mut b = Packed::from_vec((0..100).map(|i| i as f32).collect());
        let mut c = Packed::from_vec(vec![]);
        let mut d = Packed::from_vec(vec![7.0; 17]);
        gather(&mut [&mut a, &mut b, &mut c, &mut d]).unwrap();
        assert_eq!(&*a, &[1.0, 2.0, 3.0]);
        assert_eq!(&*b, &(0..100).map(|i| i as f32).collect::<Vec<_>>()[..]);
        assert!(c.is_empty());
        assert_eq!(&*d, &[7.0; 17]);
        for p in [&a, &b, &d] {
            assert_eq!(p.as_ptr() as usize % 64, 0);
        }
        assert!(Arc::ptr_eq(&a.buf, &d.buf));
    }

    #[test]
    fn impossible_sizes_are_none() {
        assert!(PageBuf::zeroed(usize::MAX / 4).is_none());
        assert!(PageBuf::zeroed(usize::MAX / 2).is_none());
    }

    #[test]
    fn split_parts_gives_the_ranges() {
        let mut mem: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let [x, y, z] = split_parts(&mut mem, &[0..3, 5..5, 7..20]);
        assert_eq!(x, &[0.0, 1.0, 2.0]);
        assert!(y.is_empty());
        assert_eq!(z.len(), 13);
        assert_eq!(z[0], 7.0);
    }
}
