//! STAND-IN (replaced by the gemm branch at merge): the agreed API over a scalar loop.

use crate::activation::Clamp;
use crate::kernels::KernelSet;
use crate::{Error, Result};

pub struct PackedGemmB {
    k: usize,
    n: usize,
    w: Vec<f32>,
    b: Vec<f32>,
}

impl PackedGemmB {
    pub fn new(
        _kernels: &'static KernelSet,
        k: usize,
        n: usize,
        weights: &[f32],
        bias: &[f32],
    ) -> Result<Self> {
        if weights.len() != k * n || bias.len() != n {
            return Err(Error::Shape("pw".into()));
        }
        Ok(PackedGemmB {
            k,
            n,
            w: weights.to_vec(),
            b: bias.to_vec(),
        })
    }
    pub fn k(&self) -> usize {
        self.k
    }
    pub fn n(&self) -> usize {
        self.n
    }
}

pub fn pointwise(
    b: &PackedGemmB,
    m: usize,
    a: &[f32],
    lda: usize,
    c: &mut [f32],
    ldc: usize,
    clamp: Clamp,
) -> Result<()> {
    for i in 0..m {
        for j in 0..b.n {
            let mut acc = b.b[j];
            for kk in 0..b.k {
                acc += a[i * lda + kk] * b.w[j * b.k + kk];
            }
            c[i * ldc + j] = clamp.apply(acc);
        }
    }
    Ok(())
}
