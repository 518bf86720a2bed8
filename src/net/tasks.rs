//! Splitting a layer into tasks over the threads of a team: bands of output rows
//! ([`row_bands`]), handed out from both ends ([`run_tasks`]).

use super::pool::spin_lock;
use super::team::Team;
use crate::Result;
use std::ops::Range;
use std::sync::{Mutex, PoisonError};

/// `(image, output rows, their slice)` for `bands` bands of rows of each image of `out`
/// (images of `out_h` rows of `row_len` elements; 1 <= `bands` <= `out_h`).
pub(super) fn row_bands<E: Send>(
    out: &mut [E],
    out_h: usize,
    row_len: usize,
    bands: usize,
) -> impl DoubleEndedIterator<Item = (usize, Range<usize>, &mut [E])> + Send {
    out.chunks_mut(out_h * row_len)
        .enumerate()
        .flat_map(move |(b, image)| {
            RowBands {
                rest: image,
                rows: 0..out_h,
                bands: 0..bands,
                row_len,
                total: (out_h, bands),
            }
            .map(move |(rows, slice)| (b, rows, slice))
        })
}

/// Rows of band `t` of `bands` over `rows` rows: sizes differ by at most one, and the
/// longer bands sit at both ends (band 0, the last, band 1, ...), so that with two
/// threads taking bands from opposite ends each gets the same number of rows.
fn band_rows(rows: usize, bands: usize, t: usize) -> usize {
    let extra = rows % bands;
    let rank = if 2 * t < bands {
        2 * t
    } else {
        2 * (bands - 1 - t) + 1
    };
    rows / bands + usize::from(rank < extra)
}

/// Iterator behind [`row_bands`] for one image, from either end.
struct RowBands<'a, E> {
    /// The rows not handed out yet.
    rest: &'a mut [E],
    rows: Range<usize>,
    bands: Range<usize>,
    row_len: usize,
    /// Rows and bands of the whole image.
    total: (usize, usize),
}

impl<'a, E> Iterator for RowBands<'a, E> {
    type Item = (Range<usize>, &'a mut [E]);

    fn next(&mut self) -> Option<Self::Item> {
        let t = self.bands.next()?;
        let n = band_rows(self.total.0, self.total.1, t);
        let (head, tail) = std::mem::take(&mut self.rest).split_at_mut(n * self.row_len);
        self.rest = tail;
        let r0 = self.rows.start;
        self.rows.start += n;
        Some((r0..r0 + n, head))
    }
}

impl<E> DoubleEndedIterator for RowBands<'_, E> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let t = self.bands.next_back()?;
        let n = band_rows(self.total.0, self.total.1, t);
        let rest = std::mem::take(&mut self.rest);
        let (head, tail) = rest.split_at_mut(rest.len() - n * self.row_len);
        self.rest = head;
        let r1 = self.rows.end;
        self.rows.end -= n;
        Some((r1 - n..r1, tail))
    }
}

/// Runs `f(task, scratch)` for every task, over the team's threads when there is one (each
/// thread takes the next task when done, and has its own `scratch_len` elements of
/// `scratch`). The first error is returned (other tasks may still run).
///
/// Tasks are bands of rows in order. Even threads take them from the front, odd threads
/// from the back, so with two threads each keeps roughly the same half of the image from
/// layer to layer: its input is then mostly in its own L2 (written there by the previous
/// layer) instead of in the other core's. Handed out in order instead, the bands made the
/// depthwise layers slower at 2 threads than at 1 (docs/performance.md).
pub(super) fn run_tasks<T: Send, S: Send>(
    team: Option<&Team<'_>>,
    tasks: impl DoubleEndedIterator<Item = T> + Send,
    scratch: &mut [S],
    scratch_len: usize,
    f: impl Fn(T, &mut [S]) -> Result<()> + Sync,
) -> Result<()> {
    let Some(team) = team else {
        let scratch = &mut scratch[..scratch_len];
        return tasks.into_iter().try_for_each(|t| f(t, scratch));
    };
    let tasks = Mutex::new(tasks);
    let scratches = Mutex::new(scratch.chunks_mut(scratch_len.max(1)));
    let status = Mutex::new(Ok(()));
    team.run(&|thread| {
        let scratch = spin_lock(&scratches).next().unwrap_or_default();
        loop {
            let task = if thread % 2 == 0 {
                spin_lock(&tasks).next()
            } else {
                spin_lock(&tasks).next_back()
            };
            let Some(task) = task else { break };
            if let Err(e) = f(task, scratch) {
                *spin_lock(&status) = Err(e);
                break;
            }
        }
    });
    status.into_inner().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row once, in order, from whichever end the bands are taken; sizes within one.
    #[test]
    fn row_bands_cover_each_image_in_near_equal_bands() {
        for out_h in 1..=20 {
            for bands in 1..=out_h {
                for batch in 1..=2 {
                    let row_len = 3;
                    let mut out = vec![0.0; batch * out_h * row_len];
                    let mut seen = Vec::new();
                    {
                        let mut it = row_bands(&mut out, out_h, row_len, bands);
                        let mut front = true;
                        loop {
                            let band = if front { it.next() } else { it.next_back() };
                            let Some((b, rows, slice)) = band else { break };
                            assert_eq!(slice.len(), rows.len() * row_len);
                            slice.fill((b * out_h + rows.start) as f32);
                            seen.push((b, rows));
                            front = !front;
                        }
                    }
                    seen.sort_by_key(|(b, r)| (*b, r.start));
                    assert_eq!(seen.len(), bands * batch);
                    let mut next = (0, 0);
                    for (b, rows) in &seen {
                        if *b != next.0 {
                            assert_eq!(next.1, out_h, "image {} not covered", next.0);
                            next = (*b, 0);
                        }
                        assert_eq!(rows.start, next.1);
                        let len = rows.len();
                        assert!(len == out_h / bands || len == out_h.div_ceil(bands));
                        next.1 = rows.end;
                    }
                    assert_eq!(next, (batch - 1, out_h));
                    // Each slice sits at its rows: row r of image b starts with the
                    // value written for its band's first row.
                    for (b, rows) in &seen {
                        let at = (b * out_h + rows.start) * row_len;
                        assert_eq!(out[at], (b * out_h + rows.start) as f32);
                    }
                }
            }
        }
    }

    /// Two threads taking bands from opposite ends get equal rows whenever the extra rows
    /// come in pairs.
    #[test]
    fn longer_bands_sit_at_both_ends() {
        assert_eq!(
            (0..4).map(|t| band_rows(14, 4, t)).collect::<Vec<_>>(),
            [4, 3, 3, 4]
        );
        assert_eq!(
            (0..6).map(|t| band_rows(22, 6, t)).collect::<Vec<_>>(),
            [4, 4, 3, 3, 4, 4]
        );
        assert_eq!(
            (0..3).map(|t| band_rows(7, 3, t)).collect::<Vec<_>>(),
            [3, 2, 2]
        );
    }
}
