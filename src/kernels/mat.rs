//! [`MatMut`]: the output operand of the GEMM kernels, a strided window of a `&mut [f32]`
//! that can be split by columns, so that threads write disjoint column ranges of one
//! row-major matrix at once (which disjoint `&mut [f32]` slices cannot express: every
//! row of one range lies between rows of the other).

use std::marker::PhantomData;
use std::ops::Range;

use crate::{Error, Result};

/// `rows` x `cols` floats at row stride `stride`, borrowed mutably from a slice.
///
/// Invariant: element (i, j) for i < rows, j < cols is `ptr + i * stride + j`, lies inside
/// the slice the view was made from, and belongs to no other live view: views are only
/// made by [`MatMut::new`] (one per `&mut` borrow) and by splitting or reborrowing one,
/// which hand out disjoint elements.
#[derive(Debug)]
pub struct MatMut<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    stride: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

// SAFETY: a view is a unique borrow of its elements, like `&mut [f32]`, which is Send.
unsafe impl Send for MatMut<'_> {}
// SAFETY: through `&MatMut` only the shape can be read; writing needs `&mut`.
unsafe impl Sync for MatMut<'_> {}

impl<'a> MatMut<'a> {
    /// A view of `rows` x `cols` floats of `data`, rows `stride` apart. Errors unless
    /// `cols <= stride` and the last element lies inside `data` (`rows` or `cols` 0 is an
    /// empty view).
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, stride: usize) -> Result<Self> {
        if rows > 0 && cols > 0 {
            if cols > stride && rows > 1 {
                return Err(Error::Shape(format!(
                    "matrix of {cols} columns with row stride {stride}: rows would overlap"
                )));
            }
            let need = (rows - 1)
                .checked_mul(stride)
                .and_then(|x| x.checked_add(cols));
            if need.is_none_or(|need| need > data.len()) {
                return Err(Error::Shape(format!(
                    "c has {} floats, too few for {rows} rows of {cols} at stride {stride}",
                    data.len()
                )));
            }
        }
        Ok(MatMut {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            stride,
            _borrow: PhantomData,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// A shorter-lived view of the same elements.
    pub fn rb(&mut self) -> MatMut<'_> {
        MatMut { ..*self }
    }

    /// The rows `rows` and columns `cols` of this view, each range cut to the view's
    /// extent (so the result is never larger than asked, and may be empty).
    pub fn sub(&mut self, rows: Range<usize>, cols: Range<usize>) -> MatMut<'_> {
        let r1 = rows.end.min(self.rows);
        let r0 = rows.start.min(r1);
        let c1 = cols.end.min(self.cols);
        let c0 = cols.start.min(c1);
        MatMut {
            // In bounds or one past the view's last element (wrapping_add: no UB either
            // way); only dereferenced when the view is non-empty.
            ptr: self.ptr.wrapping_add(r0 * self.stride + c0),
            rows: r1 - r0,
            cols: c1 - c0,
            stride: self.stride,
            _borrow: PhantomData,
        }
    }

    /// Columns `0..at` and `at..` (`at` cut to `cols`), as two views.
    pub fn split_cols(self, at: usize) -> (MatMut<'a>, MatMut<'a>) {
        let at = at.min(self.cols);
        let right = MatMut {
            ptr: self.ptr.wrapping_add(at),
            cols: self.cols - at,
            ..self
        };
        (MatMut { cols: at, ..self }, right)
    }

    /// Views of `width` columns each (the last may be narrower), from either end.
    pub fn col_chunks(self, width: usize) -> ColChunks<'a> {
        let count = if width == 0 {
            0
        } else {
            self.cols.div_ceil(width)
        };
        ColChunks {
            rest: self,
            width,
            count,
        }
    }

    /// Row `i` (its `cols` floats), or `None` past the last row.
    pub fn row_mut(&mut self, i: usize) -> Option<&mut [f32]> {
        (i < self.rows).then(|| {
            // SAFETY: row i of this view lies inside its slice and belongs to no other
            // live view (the type's invariant); `&mut self` keeps it unique while the
            // returned slice lives.
            unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.stride), self.cols) }
        })
    }

    /// The first element, for kernels that write through a pointer; writes must stay
    /// inside `rows` x `cols` at `stride`.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut f32 {
        self.ptr
    }
}

/// Iterator of [`MatMut::col_chunks`].
#[derive(Debug)]
pub struct ColChunks<'a> {
    rest: MatMut<'a>,
    width: usize,
    count: usize,
}

impl<'a> Iterator for ColChunks<'a> {
    type Item = MatMut<'a>;

    fn next(&mut self) -> Option<MatMut<'a>> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        let rest = std::mem::replace(&mut self.rest, MatMut::empty());
        let (head, tail) = rest.split_cols(self.width);
        self.rest = tail;
        Some(head)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.count, Some(self.count))
    }
}

impl ExactSizeIterator for ColChunks<'_> {}

impl DoubleEndedIterator for ColChunks<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        let rest = std::mem::replace(&mut self.rest, MatMut::empty());
        let (head, tail) = rest.split_cols(self.width * self.count);
        self.rest = head;
        Some(tail)
    }
}

impl MatMut<'_> {
    fn empty() -> Self {
        MatMut {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            rows: 0,
            cols: 0,
            stride: 0,
            _borrow: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_chunks_write_disjoint_columns_from_both_ends() {
        let (rows, cols, stride) = (3, 10, 12);
        let mut data = vec![-1.0; (rows - 1) * stride + cols];
        let mat = MatMut::new(&mut data, rows, cols, stride).unwrap();
        let mut chunks = mat.col_chunks(4);
        let mut parts = vec![chunks.next().unwrap(), chunks.next_back().unwrap()];
        parts.extend(chunks);
        assert_eq!(
            parts.iter().map(MatMut::cols).collect::<Vec<_>>(),
            [4, 2, 4]
        );
        for (tag, part) in parts.iter_mut().enumerate() {
            for i in 0..rows {
                part.row_mut(i).unwrap().fill(tag as f32);
            }
            assert!(part.row_mut(rows).is_none());
        }
        for i in 0..rows {
            let row = &data[i * stride..i * stride + cols];
            assert_eq!(row, [0., 0., 0., 0., 2., 2., 2., 2., 1., 1.]);
            if i + 1 < rows {
                assert_eq!(data[i * stride + cols..(i + 1) * stride], [-1.0, -1.0]);
            }
        }
    }

    #[test]
    fn views_stay_inside_their_slice() {
        let mut data = vec![0.0; 20];
        assert!(MatMut::new(&mut data, 3, 8, 6).is_err(), "rows overlap");
        assert!(MatMut::new(&mut data, 3, 4, 9).is_err(), "2 x 9 + 4 > 20");
        assert!(MatMut::new(&mut data, 3, 4, 8).is_ok(), "2 x 8 + 4 = 20");
        assert!(MatMut::new(&mut data, 3, 4, 7).is_ok());
        assert!(MatMut::new(&mut data, 1, 20, 0).is_ok());
        assert!(MatMut::new(&mut data, 0, 100, 100).is_ok());
        assert!(MatMut::new(&mut data, usize::MAX, 1, 2).is_err());
        let mut m = MatMut::new(&mut data, 3, 4, 7).unwrap();
        let mut s = m.sub(1..9, 2..9);
        assert_eq!((s.rows(), s.cols()), (2, 2));
        s.row_mut(1).unwrap().fill(5.0);
        assert_eq!(m.sub(5..9, 0..4).rows(), 0);
        assert_eq!(data[16..18], [5.0, 5.0]);
        assert_eq!(data.iter().filter(|&&v| v != 0.0).count(), 2);
    }

    /// Two threads writing interleaved column ranges through the portable GEMM kernel
    /// (small enough for Miri, which checks the views never alias).
    #[test]
    fn threads_fill_column_views_through_the_portable_kernel() {
        use crate::activation::Clamp;
        use crate::kernels::f32_gemm::{scalar, GemmArgs};
        let (rows, kc, nr) = (5, 3, scalar::NR);
        let a: Vec<f32> = (0..rows * kc).map(|i| i as f32).collect();
        let panel: Vec<f32> = (0..(kc + 1) * nr).map(|i| (i % 7) as f32).collect();
        let cols = 2 * nr;
        let mut c = vec![0.0; rows * cols];
        let mut views = MatMut::new(&mut c, rows, cols, cols)
            .unwrap()
            .col_chunks(nr);
        let (left, right) = (views.next().unwrap(), views.next().unwrap());
        let run = |view: MatMut<'_>| {
            scalar::gemm(GemmArgs {
                mr: rows,
                nr,
                kc,
                a: &a,
                lda: kc,
                panel: &panel,
                c: view,
                clamp: Clamp::NONE,
            })
            .unwrap()
        };
        std::thread::scope(|s| {
            s.spawn(|| run(left));
            run(right);
        });
        for i in 0..rows {
            for j in 0..nr {
                let want = panel[j]
                    + (0..kc)
                        .map(|k| a[i * kc + k] * panel[(k + 1) * nr + j])
                        .sum::<f32>();
                assert_eq!(c[i * cols + j], want);
                assert_eq!(c[i * cols + nr + j], want);
            }
        }
    }
}
