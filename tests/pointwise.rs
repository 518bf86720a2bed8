//! The packed pointwise GEMM on every ISA vs the reference 1x1 convolution: random and
//! edge shapes (relative to each kernel's MR, NR, k unrolling and M block), strided A
//! and C with guard values, every activation; and refusal of bad arguments.

mod common;

use proptest::prelude::*;
use sepconv::kernels::gemm::GemmArgs;
use sepconv::ops::pointwise::{pointwise, PackedGemmB, A_BLOCK_BYTES};
use sepconv::reference::{self, Conv2d};
use sepconv::{kernel_set, Activation, Clamp, Error, Isa, Padding, Shape, Tensor};

/// Value of the gaps between rows and after the end of C: must survive untouched.
const GUARD: f32 = -12345.5;

/// One problem: A with row stride `lda` (gaps hold NaN, which would poison any result
/// that read them), weights [n][k], bias [n].
#[derive(Debug, Clone)]
struct Problem {
    m: usize,
    n: usize,
    k: usize,
    lda: usize,
    ldc: usize,
    a: Vec<f32>,
    w: Vec<f32>,
    bias: Vec<f32>,
    act: Activation,
}

impl Problem {
    /// Deterministic data from a seed (a small LCG: values in [-1, 1)).
    fn new(m: usize, n: usize, k: usize, lda_pad: usize, ldc_pad: usize, seed: u64) -> Self {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32) / (1u64 << 23) as f32 - 1.0
        };
        let lda = k + lda_pad;
        let mut a = vec![f32::NAN; (m - 1) * lda + k];
        for i in 0..m {
            for v in &mut a[i * lda..i * lda + k] {
                *v = next();
            }
        }
        let w = (0..n * k).map(|_| next()).collect();
        let bias = (0..n).map(|_| next()).collect();
        let act = [Activation::None, Activation::Relu, Activation::Relu6][(seed % 3) as usize];
        Problem {
            m,
            n,
            k,
            lda,
            ldc: n + ldc_pad,
            a,
            w,
            bias,
            act,
        }
    }

    /// Runs the operator with `isa`'s kernels and checks every output against the
    /// reference and every guard for being untouched.
    fn check(&self, isa: Isa) -> Result<(), String> {
        let Problem {
            m, n, k, lda, ldc, ..
        } = *self;
        let dense: Vec<f32> = (0..m)
            .flat_map(|i| self.a[i * lda..i * lda + k].iter().copied())
            .collect();
        let conv = Conv2d {
            out_channels: n,
            kernel_h: 1,
            kernel_w: 1,
            stride_h: 1,
            stride_w: 1,
            padding: Padding::new(0, 0, 0, 0),
            groups: 1,
        };
        let input = Tensor::from_vec(Shape::new(1, 1, m, k), dense).unwrap();
        let clamp = self.act.clamp();
        let want = reference::conv2d(&input, &self.w, Some(&self.bias), &conv, clamp).unwrap();

        let packed = PackedGemmB::new(kernel_set(isa).unwrap(), k, n, &self.w, &self.bias)
            .map_err(|e| e.to_string())?;
        let tail = 17;
        let mut c = vec![GUARD; (m - 1) * ldc + n + tail];
        let c_len = c.len() - tail;
        pointwise(&packed, m, &self.a, lda, &mut c[..c_len], ldc, clamp)
            .map_err(|e| e.to_string())?;

        for i in 0..m {
            for j in 0..n {
                let got = c[i * ldc + j];
                let expect = want.data[i * n + j];
                // Rounding error of a k-term f32 dot product: a few ulps of the sum of
                // magnitudes per term, computed here independently of both codes.
                let scale: f64 = self.bias[j].abs() as f64
                    + (0..k)
                        .map(|kk| (self.a[i * lda + kk] as f64 * self.w[j * k + kk] as f64).abs())
                        .sum::<f64>();
                let tol = 2.0 * (k as f64 + 1.0) * f32::EPSILON as f64 * scale + 1e-30;
                let diff = (got as f64 - expect as f64).abs();
                if diff.is_nan() || diff > tol {
                    return Err(format!(
                        "{isa} m={m} n={n} k={k} lda={lda} ldc={ldc} {:?}: C[{i}][{j}] = {got}, \
                         reference {expect} (tol {tol:e})",
                        self.act
                    ));
                }
            }
            let gap_end = if i + 1 < m { (i + 1) * ldc } else { c.len() };
            if let Some(j) = c[i * ldc + n..gap_end].iter().position(|&v| v != GUARD) {
                return Err(format!(
                    "{isa} m={m} n={n} k={k} ldc={ldc}: wrote the guard {j} floats after row {i}"
                ));
            }
        }
        Ok(())
    }
}

#[test]
fn packed_b_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PackedGemmB>();
}

/// Every shape relation to each kernel's tile, exhaustively over small sizes: m around
/// MR, n around NR, k around the unrolling (4 on x86, 2 on NEON) and 1.
#[test]
fn edges_of_every_tile() {
    for isa in common::isas_under_test() {
        let g = kernel_set(isa).unwrap().gemm;
        let (mr, nr) = (g.mr, g.nr);
        let ms = [1, mr - 1, mr, mr + 1, 2 * mr + 1, 3 * mr];
        let ns = [1, 2, nr - 1, nr, nr + 1, 2 * nr + 3];
        let ks = [1, 2, 3, 4, 5, 7, 8, 9, 17, 64];
        let mut seed = 0;
        for &m in ms.iter().filter(|&&m| m >= 1) {
            for &n in ns.iter().filter(|&&n| n >= 1) {
                for &k in &ks {
                    seed += 1;
                    let p = Problem::new(m, n, k, (seed % 3) as usize, (seed % 4) as usize, seed);
                    p.check(isa).unwrap();
                }
            }
        }
    }
}

/// More rows than one M block holds, so several blocks pass over every panel.
#[test]
fn several_m_blocks() {
    let k = 600;
    let block_rows = A_BLOCK_BYTES / (4 * k);
    for isa in common::isas_under_test() {
        let m = 2 * block_rows + 5;
        Problem::new(m, 37, k, 3, 2, 7).check(isa).unwrap();
    }
}

fn dim(max: usize, multiples: &'static [usize]) -> impl Strategy<Value = usize> {
    prop_oneof![
        1..=8usize,
        1..=max,
        // A multiple of a tile width, or one off it.
        (prop::sample::select(multiples), 1..=8usize, -1i64..=1)
            .prop_map(move |(t, q, d)| ((t * q) as i64 + d).clamp(1, max as i64) as usize),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(64)))]

    #[test]
    fn matches_reference(
        m in dim(200, &[4, 6, 7, 8]),
        n in dim(300, &[8, 12, 16, 32]),
        k in dim(600, &[2, 4, 64]),
        lda_pad in prop_oneof![Just(0usize), 1..=9usize],
        ldc_pad in prop_oneof![Just(0usize), 1..=9usize],
        seed in any::<u64>(),
    ) {
        let p = Problem::new(m, n, k, lda_pad, ldc_pad, seed);
        for isa in common::isas_under_test() {
            if let Err(e) = p.check(isa) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

fn shape_error<T: std::fmt::Debug>(r: sepconv::Result<T>, mention: &str) {
    match r {
        Err(Error::Shape(msg)) => assert!(msg.contains(mention), "{msg:?} lacks {mention:?}"),
        other => panic!("expected a shape error mentioning {mention:?}, got {other:?}"),
    }
}

#[test]
fn bad_arguments_are_errors() {
    for isa in common::isas_under_test() {
        let ks = kernel_set(isa).unwrap();
        let (k, n) = (5, 3);
        let w = vec![0.5; k * n];
        let bias = vec![0.25; n];
        shape_error(PackedGemmB::new(ks, 0, n, &[], &bias), "k = 0");
        shape_error(PackedGemmB::new(ks, k, 0, &[], &[]), "n = 0");
        shape_error(PackedGemmB::new(ks, k, n, &w[1..], &bias), "weights");
        shape_error(PackedGemmB::new(ks, k, n, &w, &bias[1..]), "bias");
        shape_error(PackedGemmB::new(ks, usize::MAX, 2, &w, &bias), "weights");

        let b = PackedGemmB::new(ks, k, n, &w, &bias).unwrap();
        assert_eq!((b.k(), b.n()), (k, n));
        let m = 4;
        let a = vec![1.0; m * k];
        let mut c = vec![0.0; m * n];
        let none = Clamp::NONE;
        shape_error(pointwise(&b, m, &a, k - 1, &mut c, n, none), "lda");
        shape_error(pointwise(&b, m, &a, k, &mut c, n - 1, none), "ldc");
        shape_error(pointwise(&b, m, &a[1..], k, &mut c, n, none), "a needs");
        shape_error(pointwise(&b, m, &a, k, &mut c[1..], n, none), "c needs");
        shape_error(pointwise(&b, m + 1, &a, k, &mut c, n, none), "a needs");
        shape_error(pointwise(&b, usize::MAX, &a, k, &mut c, n, none), "a needs");
        shape_error(pointwise(&b, 2, &a, usize::MAX, &mut c, n, none), "a needs");
        let nan = Clamp {
            min: f32::NAN,
            max: 1.0,
        };
        assert!(matches!(
            pointwise(&b, m, &a, k, &mut c, n, nan),
            Err(Error::Config(_))
        ));
        // Nothing was written by the refused calls; m = 0 is a no-op.
        assert!(c.iter().all(|&v| v == 0.0));
        pointwise(&b, 0, &[], k, &mut [], n, none).unwrap();
        // The exact minimum lengths are accepted: (m - 1) x stride + row.
        pointwise(&b, 2, &a[..k + k], k, &mut c[..n + n], n, none).unwrap();
        assert_eq!(c[0], 0.25 + 0.5 * 5.0);
    }
}

#[test]
fn microkernel_refuses_what_the_assembly_cannot_do() {
    for isa in common::isas_under_test() {
        let g = kernel_set(isa).unwrap().gemm;
        let (mr, nr, kc) = (g.mr, g.nr, 3);
        let a = vec![1.0; (mr + 1) * kc];
        let panel = vec![1.0; (kc + 1) * nr];
        let mut c = vec![0.0; (mr + 1) * (nr + 1)];
        let call = |mr_: usize, nr_: usize, kc_: usize, a: &[f32], p: &[f32], c: &mut [f32]| {
            (g.ukernel)(GemmArgs {
                mr: mr_,
                nr: nr_,
                kc: kc_,
                a,
                lda: kc,
                panel: p,
                c,
                ldc: nr + 1,
                clamp: Clamp::NONE,
            })
        };
        shape_error(call(mr + 1, nr, kc, &a, &panel, &mut c), "mr");
        shape_error(call(0, nr, kc, &a, &panel, &mut c), "mr");
        shape_error(call(mr, nr + 1, kc, &a, &panel, &mut c), "nr");
        shape_error(call(mr, 0, kc, &a, &panel, &mut c), "nr");
        shape_error(call(mr, nr, 0, &a, &panel, &mut c), "kc");
        shape_error(call(mr, nr, kc, &a[..mr * kc - 1], &panel, &mut c), "a has");
        shape_error(call(mr, nr, kc, &a, &panel[1..], &mut c), "panel");
        shape_error(
            call(mr, nr, kc, &a, &panel, &mut c[..mr * (nr + 1) - 2]),
            "c has",
        );
        // In bounds: every output is bias 1 + kc products of 1.
        call(mr, nr, kc, &a, &panel, &mut c).unwrap();
        assert_eq!(c[0], 1.0 + kc as f32);
        assert_eq!(c[(mr - 1) * (nr + 1) + nr - 1], 1.0 + kc as f32);
        assert_eq!(c[nr], 0.0, "{isa}: the gap after row 0 was written");
    }
}
