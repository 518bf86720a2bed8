//! Differential: the packed pointwise GEMM of every ISA this CPU runs against the
//! reference 1x1 convolution, on arbitrary small shapes, strides and data. Gaps between
//! rows of C and its tail hold a guard value that must survive.
#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::oracle::{self, Tolerance};
use libfuzzer_sys::fuzz_target;
use sepconv::ops::pointwise::{pointwise, PackedGemmB};
use sepconv::{kernel_set, Activation, Isa};

#[derive(Arbitrary, Debug)]
struct Input {
    m: u8,
    n: u8,
    k: u8,
    lda_pad: u8,
    ldc_pad: u8,
    act: u8,
    /// Cycled to fill A, then the weights, then the bias.
    data: Vec<i8>,
}

const GUARD: f32 = -777.25;

fuzz_target!(|input: Input| {
    let m = input.m as usize % 40 + 1;
    let n = input.n as usize % 70 + 1;
    let k = input.k as usize % 80 + 1;
    let lda = k + input.lda_pad as usize % 5;
    let ldc = n + input.ldc_pad as usize % 5;
    let act = [Activation::None, Activation::Relu, Activation::Relu6][input.act as usize % 3];
    if input.data.is_empty() {
        return;
    }
    // Small integers times 1/8: every product and partial sum is exact in f32, so all
    // kernels must agree with the reference exactly.
    let mut vals = input.data.iter().cycle().map(|&v| v as f32 / 8.0);
    let mut a = vec![f32::NAN; (m - 1) * lda + k];
    for i in 0..m {
        for v in &mut a[i * lda..i * lda + k] {
            *v = vals.next().unwrap();
        }
    }
    let w: Vec<f32> = (0..n * k).map(|_| vals.next().unwrap()).collect();
    let bias: Vec<f32> = (0..n).map(|_| vals.next().unwrap()).collect();
    let want = oracle::pointwise(m, k, n, &a, lda, &w, &bias, act.clamp(), Tolerance::Exact);

    for isa in Isa::available() {
        let packed = PackedGemmB::new(kernel_set(isa).unwrap(), k, n, &w, &bias).unwrap();
        let mut c = vec![GUARD; (m - 1) * ldc + n + 9];
        let len = c.len() - 9;
        pointwise(&packed, m, &a, lda, &mut c[..len], ldc, act.clamp()).unwrap();
        let what = format!("{isa} {} m={m} n={n} k={k}", packed.gemm().id.name);
        for i in 0..m {
            common::assert_ok(want.check_from(i * n, &c[i * ldc..i * ldc + n], &what));
            let end = if i + 1 < m { (i + 1) * ldc } else { c.len() };
            assert!(
                c[i * ldc + n..end].iter().all(|&v| v == GUARD),
                "{what}: guard after row {i}"
            );
        }
    }
});
