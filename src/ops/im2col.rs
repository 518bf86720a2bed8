//! A full 3x3 convolution from any number of channels as im2col + the pointwise GEMM:
//! each output pixel's 3 x 3 x C window is copied (zero where it falls on the padding)
//! into one row of A, K = 9 C floats in the order [ky][kx][c], which is the order of the
//! OHWI weights [out][ky][kx][c], so B is the weights packed by
//! [`PackedGemmB`](crate::ops::pointwise::PackedGemmB) with K = 9 C. For the full
//! convolutions the direct conv0 kernel does not take (other channel counts, stride 1, a
//! full convolution later in a network).

use crate::geometry::{conv_output_len, Padding};
use crate::{Error, Result};
use std::ops::Range;

/// The geometry of one image of a 3x3 convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2colParams {
    pub in_h: usize,
    pub in_w: usize,
    pub in_c: usize,
    /// 1 or 2.
    pub stride: usize,
    /// Each side 0 or 1.
    pub padding: Padding,
}

impl Im2colParams {
    /// Output height (0 if the parameters are invalid).
    pub fn out_h(&self) -> usize {
        let p = self.padding;
        conv_output_len(self.in_h, 3, self.stride, p.top, p.bottom).unwrap_or(0)
    }

    /// Output width (0 if the parameters are invalid).
    pub fn out_w(&self) -> usize {
        let p = self.padding;
        conv_output_len(self.in_w, 3, self.stride, p.left, p.right).unwrap_or(0)
    }

    /// Floats of one row of A: 9 x in_c.
    pub fn k(&self) -> usize {
        9 * self.in_c
    }

    /// Floats of one input image.
    pub fn image_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Checks every field; the error names the one at fault.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("in_h", self.in_h),
            ("in_w", self.in_w),
            ("in_c", self.in_c),
        ] {
            if v == 0 {
                return Err(Error::Shape(format!("conv3x3 {name} must be >= 1, got 0")));
            }
        }
        if !matches!(self.stride, 1 | 2) {
            return Err(Error::Shape(format!(
                "conv3x3 stride must be 1 or 2, got {}",
                self.stride
            )));
        }
        let p = self.padding;
        if [p.top, p.left, p.bottom, p.right].iter().any(|&v| v > 1) {
            return Err(Error::Shape(format!(
                "conv3x3 padding must be 0 or 1 per side, got {p:?}"
            )));
        }
        conv_output_len(self.in_h, 3, self.stride, p.top, p.bottom)
            .map_err(|e| Error::Shape(format!("conv3x3 height: {e}")))?;
        conv_output_len(self.in_w, 3, self.stride, p.left, p.right)
            .map_err(|e| Error::Shape(format!("conv3x3 width: {e}")))?;
        self.in_h
            .checked_mul(self.in_w)
            .and_then(|n| n.checked_mul(self.k()))
            .ok_or_else(|| Error::Shape("conv3x3 input has too many elements".into()))?;
        Ok(())
    }
}

/// The im2col rows of output rows `rows` of one `image` ([in_h, in_w, in_c]): `a` holds
/// `rows.len() * out_w` rows of `lda >= 9 in_c` floats, of which the first 9 in_c of each
/// are written (the rest left as they are).
pub fn im2col_rows(
    p: &Im2colParams,
    image: &[f32],
    rows: Range<usize>,
    a: &mut [f32],
    lda: usize,
) -> Result<()> {
    p.validate()?;
    let (k, c, out_w) = (p.k(), p.in_c, p.out_w());
    if image.len() != p.image_len() {
        return Err(Error::Shape(format!(
            "conv3x3 image [{}, {}, {c}] needs {} floats, got {}",
            p.in_h,
            p.in_w,
            p.image_len(),
            image.len()
        )));
    }
    if rows.start > rows.end || rows.end > p.out_h() {
        return Err(Error::Shape(format!(
            "conv3x3 output rows {}..{} are not within 0..{}",
            rows.start,
            rows.end,
            p.out_h()
        )));
    }
    if lda < k {
        return Err(Error::Shape(format!("conv3x3: lda {lda} < k {k}")));
    }
    let m = rows.len() * out_w;
    if a.len() != m * lda {
        return Err(Error::Shape(format!(
            "conv3x3 im2col of {m} rows at stride {lda} needs {} floats, got {}",
            m * lda,
            a.len()
        )));
    }
    let (s, pt, pl) = (p.stride, p.padding.top, p.padding.left);
    let mut dst = a.chunks_exact_mut(lda);
    for oy in rows {
        for ox in 0..out_w {
            let Some(row) = dst.next() else {
                return Ok(());
            };
            for ky in 0..3 {
                let iy = (oy * s + ky).wrapping_sub(pt);
                for kx in 0..3 {
                    let ix = (ox * s + kx).wrapping_sub(pl);
                    let to = &mut row[(ky * 3 + kx) * c..(ky * 3 + kx + 1) * c];
                    if iy < p.in_h && ix < p.in_w {
                        let at = (iy * p.in_w + ix) * c;
                        to.copy_from_slice(&image[at..at + c]);
                    } else {
                        to.fill(0.0);
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_hold_each_window_in_ky_kx_c_order_with_zero_padding() {
        // 2x2 image, 2 channels, values 1..=8; stride 1, pad 1: output 2x2. The window of
        // output (0, 0) covers rows -1..=1 and columns -1..=1: only taps (1,1), (1,2),
        // (2,1), (2,2) are in the image (pixels (0,0), (0,1), (1,0), (1,1)).
        let image: Vec<f32> = (1..=8).map(|v| v as f32).collect();
        let p = Im2colParams {
            in_h: 2,
            in_w: 2,
            in_c: 2,
            stride: 1,
            padding: Padding::symmetric(1),
        };
        let lda = 19;
        let mut a = vec![-1.0; 4 * lda];
        im2col_rows(&p, &image, 0..2, &mut a, lda).unwrap();
        let mut want = [0.0; 18];
        want[8..10].copy_from_slice(&[1., 2.]);
        want[10..12].copy_from_slice(&[3., 4.]);
        want[14..16].copy_from_slice(&[5., 6.]);
        want[16..18].copy_from_slice(&[7., 8.]);
        assert_eq!(&a[..18], &want[..]);
        assert_eq!(a[18], -1.0, "the stride's padding is left alone");
        // Output (1, 1): taps (0,0), (0,1), (1,0), (1,1) in the image.
        let last = &a[3 * lda..3 * lda + 18];
        assert_eq!(&last[..4], &[1., 2., 3., 4.]);
        assert_eq!(&last[6..10], &[5., 6., 7., 8.]);
        assert!(last[4..6].iter().chain(&last[10..]).all(|&v| v == 0.0));
        assert!(im2col_rows(&p, &image, 1..3, &mut a[..2 * lda], lda).is_err());
    }
}
