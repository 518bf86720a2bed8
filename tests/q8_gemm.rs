//! Every int8 GEMM kernel of `q8_gemm::TABLE` that this CPU runs, against the reference
//! (`reference::q8`), bit for bit: random shapes around each kernel's MR, NR and KR (K and
//! N remainders, one row), strided A and C with guard bytes, zero points 0 and 255 (s8's
//! -128 and 127), scales 1e-6..1, clamp bounds, raw i32 accumulators, and accumulators
//! that wrap around i32 through a large bias.

mod common;

use common::Lcg;
use proptest::prelude::*;
use sepconv::kernels::q8_gemm::{best, gemm, PackedQ8B, Q8GemmKernel, Q8Out, TABLE};
use sepconv::quant::OutQ;
use sepconv::reference::q8::{q8_accumulators, q8_pointwise};
use sepconv::Cpu;

const GUARD: u8 = 0xa5;

fn runnable() -> Vec<&'static Q8GemmKernel> {
    let cpu = Cpu::detect();
    let ks: Vec<_> = TABLE.iter().filter(|k| k.id.runs_on(cpu)).collect();
    assert!(!ks.is_empty());
    ks
}

#[derive(Debug, Clone)]
struct Case {
    m: usize,
    n: usize,
    k: usize,
    lda_pad: usize,
    ldc_pad: usize,
    zp_in: i32,
    out: OutQ,
    scale_exp: f32,
    big_bias: bool,
    seed: u64,
}

fn check(kernel: &'static Q8GemmKernel, c: &Case) {
    let mut g = Lcg(c.seed);
    let kp = kernel.k_padded(c.k);
    // Rows may be dense (lda = k): a kernel reads k_padded(k) bytes of each, the bytes
    // past k (the next row's, or the slack after the last) meeting zero weights.
    let lda = c.k + c.lda_pad;
    let a: Vec<u8> = (0..(c.m - 1) * lda + kp).map(|_| g.next() as u8).collect();
    let dense: Vec<u8> = (0..c.m)
        .flat_map(|r| a[r * lda..r * lda + c.k].to_vec())
        .collect();
    let w: Vec<i8> = (0..c.n * c.k).map(|_| g.next() as i8).collect();
    let bias: Vec<i32> = (0..c.n)
        .map(|_| {
            if c.big_bias {
                // Near the i32 limits, so the sums wrap.
                (g.next() as i32) | 0x7fff_0000
            } else {
                (g.next() as i32) >> 12
            }
        })
        .collect();
    let scale: Vec<f32> = (0..c.n)
        .map(|_| 10f32.powf(c.scale_exp - (g.next() % 1000) as f32 / 1000.0))
        .collect();
    let b = PackedQ8B::new(kernel, &w, c.k, &bias, &scale, c.zp_in).unwrap();
    let name = kernel.id.name;

    let ldc = c.n + c.ldc_pad;
    let mut out = vec![GUARD; (c.m - 1) * ldc + c.n + 3];
    gemm(
        &b,
        &a,
        c.m,
        lda,
        Q8Out::U8 {
            c: &mut out,
            out: c.out,
        },
        ldc,
    )
    .unwrap();
    let want = q8_pointwise(&dense, c.m, c.k, c.zp_in, &w, &bias, &scale, c.out).unwrap();
    for r in 0..c.m {
        assert_eq!(
            &out[r * ldc..r * ldc + c.n],
            &want[r * c.n..(r + 1) * c.n],
            "{name}: row {r} of {c:?}"
        );
        let gap_end = if r + 1 < c.m {
            (r + 1) * ldc
        } else {
            out.len()
        };
        assert!(
            out[r * ldc + c.n..gap_end].iter().all(|&v| v == GUARD),
            "{name}: wrote past row {r} of {c:?}"
        );
    }

    let mut acc = vec![i32::MIN + 7; (c.m - 1) * ldc + c.n];
    gemm(&b, &a, c.m, lda, Q8Out::I32 { c: &mut acc }, ldc).unwrap();
    let want = q8_accumulators(&dense, c.m, c.k, c.zp_in, &w, &bias).unwrap();
    for r in 0..c.m {
        assert_eq!(
            &acc[r * ldc..r * ldc + c.n],
            &want[r * c.n..(r + 1) * c.n],
            "{name}: accumulators of row {r} of {c:?}"
        );
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1usize..=40, 1usize..=80, 1usize..=300),
        (0usize..=9, 0usize..=5),
        prop_oneof![Just(0), Just(255), Just(128), 0i32..=255],
        (0i32..=255, 0u8..=255, 0u8..=255),
        -6.0f32..=0.0,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |((m, n, k), (lda_pad, ldc_pad), zp_in, (zp, a, b), scale_exp, big_bias, seed)| Case {
                m,
                n,
                k,
                lda_pad,
                ldc_pad,
                zp_in,
                out: OutQ::new(zp, a.min(b), a.max(b)).unwrap(),
                scale_exp,
                big_bias,
                seed,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn q8_gemm_kernels_equal_the_reference(c in case()) {
        for k in runnable() {
            check(k, &c);
        }
    }
}

/// The shapes at each kernel's tile edges: rows around MR, columns around NR, K around KR
/// and the unrolled loop (8 and 13 groups: the NEON dotprod tile's two-block loop and its
/// even and odd tails), with the extreme zero points.
#[test]
fn q8_gemm_tile_edges() {
    for kernel in runnable() {
        let (mr, nr, kr) = (kernel.mr, kernel.nr, kernel.kr);
        for m in [1, mr.max(2) - 1, mr, mr + 1, 2 * mr + 1] {
            for n in [1, nr - 1, nr, nr + 1, 2 * nr + 3] {
                for k in [1, kr, kr + 1, 4 * kr - 1, 8 * kr, 12 * kr + 1, 64, 257] {
                    for (zp_in, zp_out) in [(0, 255), (255, 0)] {
                        check(
                            kernel,
                            &Case {
                                m,
                                n: n.max(1),
                                k,
                                lda_pad: 1,
                                ldc_pad: 2,
                                zp_in,
                                out: OutQ::full(zp_out),
                                scale_exp: -3.0,
                                big_bias: false,
                                seed: (m * 1000 + n * 10 + k) as u64,
                            },
                        );
                    }
                }
            }
        }
    }
}

/// The kernel picked for this CPU is the first entry it runs, and needs nothing the CPU
/// lacks. CI sets SEPCONV_EXPECT_Q8_GEMM where it knows which one that is (the baseline
/// NEON tile under `qemu-aarch64 -cpu cortex-a72`, which has no dot product).
#[test]
fn q8_gemm_best_is_the_first_the_cpu_runs() {
    let cpu = Cpu::detect();
    let picked = best(cpu);
    assert_eq!(picked.id.name, runnable()[0].id.name);
    assert!(
        cpu.features.contains(picked.id.features),
        "{}",
        picked.id.name
    );
    if let Ok(name) = std::env::var("SEPCONV_EXPECT_Q8_GEMM") {
        assert_eq!(picked.id.name, name, "on {cpu}");
    }
}

#[test]
fn q8_gemm_refuses_bad_arguments() {
    let kernel = runnable()[0];
    assert!(PackedQ8B::new(kernel, &[1; 5], 3, &[0, 0], &[1.0, 1.0], 0).is_err());
    assert!(PackedQ8B::new(kernel, &[1; 6], 3, &[0, 0], &[1.0, 0.0], 0).is_err());
    assert!(PackedQ8B::new(kernel, &[1; 6], 3, &[0, 0], &[1.0, 1.0], 256).is_err());
    let b = PackedQ8B::new(kernel, &[1; 6], 3, &[0, 0], &[1.0, 1.0], 0).unwrap();
    let mut c = [0u8; 4];
    let out = OutQ::full(0);
    // A too short for two rows at its stride; C too short; C stride below n.
    let a = vec![0u8; kernel.k_padded(3) + 1];
    assert!(gemm(
        &b,
        &a,
        2,
        kernel.k_padded(3),
        Q8Out::U8 { c: &mut c, out },
        2
    )
    .is_err());
    let a = vec![0u8; 64];
    assert!(gemm(
        &b,
        &a,
        2,
        8,
        Q8Out::U8 {
            c: &mut c[..3],
            out
        },
        2
    )
    .is_err());
    assert!(gemm(&b, &a, 2, 8, Q8Out::U8 { c: &mut c, out }, 1).is_err());
    assert!(gemm(&b, &a, 2, 8, Q8Out::U8 { c: &mut c, out }, 2).is_ok());
}

/// Long K (many groups, accumulators far from the bias), single rows and single columns,
/// and a full-width tile with clamp bounds inside the u8 range.
#[test]
fn q8_gemm_long_k_and_thin_shapes() {
    for kernel in runnable() {
        let (mr, nr) = (kernel.mr, kernel.nr);
        for (m, n, k) in [
            (1, 1, 1024),
            (1, nr, 2048),
            (mr, 1, 2048),
            (mr + 1, nr, 1024),
            (2 * mr - 1, nr - 1, 1023),
        ] {
            check(
                kernel,
                &Case {
                    m,
                    n,
                    k,
                    lda_pad: 0,
                    ldc_pad: 0,
                    zp_in: 77,
                    out: OutQ::new(100, 20, 230).unwrap(),
                    scale_exp: -4.0,
                    big_bias: false,
                    seed: (m * 7 + n * 131 + k) as u64,
                },
            );
        }
    }
}
