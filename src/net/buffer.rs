//! A zeroed f32 buffer whose first element is 64-byte aligned: activations start on a
//! cache line, so the kernels' full-vector loads and stores never split one.

pub(crate) struct AlignedBuf {
    storage: Vec<f32>,
    start: usize,
    len: usize,
}

const ALIGN_FLOATS: usize = 16;

impl AlignedBuf {
    pub(crate) fn zeroed(len: usize) -> AlignedBuf {
        let storage = vec![0.0f32; len + ALIGN_FLOATS - 1];
        // align_offset counts elements; it is below 16 for an f32 pointer and 64 bytes.
        let start = storage.as_ptr().align_offset(64).min(ALIGN_FLOATS - 1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line_with_the_asked_length() {
        for len in [0, 1, 17, 1000] {
            let mut b = AlignedBuf::zeroed(len);
            assert_eq!(b.len(), len);
            let s = b.as_mut_slice();
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % 64, 0);
        }
    }
}
