//! A plain owned NHWC f32 tensor, used by the reference ops, the runner's API and the tests.

use crate::{Error, Result};

/// Dimensions of an NHWC tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape {
    pub const fn new(n: usize, h: usize, w: usize, c: usize) -> Shape {
        Shape { n, h, w, c }
    }

    /// Number of elements, or an error if it overflows `usize`.
    pub fn checked_len(&self) -> Result<usize> {
        self.n
            .checked_mul(self.h)
            .and_then(|x| x.checked_mul(self.w))
            .and_then(|x| x.checked_mul(self.c))
            .ok_or_else(|| Error::Shape(format!("{self} has too many elements")))
    }

    /// Number of elements. Panics only if the shape overflows `usize`; shapes that came
    /// from outside are checked with [`Shape::checked_len`] first.
    pub fn len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Flat index of (n, y, x, c).
    #[inline(always)]
    pub fn index(&self, n: usize, y: usize, x: usize, c: usize) -> usize {
        ((n * self.h + y) * self.w + x) * self.c + c
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[n={}, h={}, w={}, c={}]",
            self.n, self.h, self.w, self.c
        )
    }
}

/// An owned NHWC f32 tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    pub shape: Shape,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(shape: Shape) -> Tensor {
        Tensor {
            shape,
            data: vec![0.0; shape.len()],
        }
    }

    /// Wraps `data`, checking that its length matches `shape`.
    pub fn from_vec(shape: Shape, data: Vec<f32>) -> Result<Tensor> {
        let len = shape.checked_len()?;
        if data.len() != len {
            return Err(Error::Shape(format!(
                "tensor {shape} needs {len} values, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }

    #[inline(always)]
    pub fn at(&self, n: usize, y: usize, x: usize, c: usize) -> f32 {
        self.data[self.shape.index(n, y, x, c)]
    }

    /// Converts an NCHW buffer to NHWC.
    pub fn from_nchw(n: usize, c: usize, h: usize, w: usize, data: &[f32]) -> Result<Tensor> {
        let shape = Shape::new(n, h, w, c);
        let len = shape.checked_len()?;
        if data.len() != len {
            return Err(Error::Shape(format!(
                "NCHW tensor [n={n}, c={c}, h={h}, w={w}] needs {len} values, got {}",
                data.len()
            )));
        }
        let mut out = Tensor::zeros(shape);
        nchw_to_nhwc(data, &mut out.data, c, h * w);
        Ok(out)
    }
}

/// Transposes whole images of `c` channels x `hw` pixels from NCHW `src` into NHWC `dst`
/// (both `images x c x hw` floats long; extra floats of `dst` are left alone).
pub fn nchw_to_nhwc(src: &[f32], dst: &mut [f32], c: usize, hw: usize) {
    let image = c * hw;
    if image == 0 {
        return;
    }
    for (from, to) in src.chunks_exact(image).zip(dst.chunks_exact_mut(image)) {
        for (p, px) in to.chunks_exact_mut(c).enumerate() {
            for (ch, v) in px.iter_mut().enumerate() {
                *v = from[ch * hw + p];
            }
        }
    }
}
