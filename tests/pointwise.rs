//! The packed pointwise GEMM vs the reference 1x1 convolution: one test per kernel of
//! `f32_gemm::TABLE` (forced with `PackedGemmB::with_kernel` in the kernel set of its ISA:
//! random and edge shapes relative to its MR, NR, k unrolling and M block, strided A and
//! C with guard values, every activation); then on every ISA under test the automatic
//! choice of `PackedGemmB::new`, column slices (`pointwise_panels`), column views from two
//! threads, single rows, and refusal of bad arguments.

mod common;

use common::oracle::{self, Expected, Tolerance};
use common::strategies::dim;
use proptest::prelude::*;
use sepconv::kernels::f32_gemm::{GemmArgs, GemmKernel, TABLE};
use sepconv::kernels::mat::MatMut;
use sepconv::ops::pointwise::{
    a_stride, pointwise, pointwise_cols, pointwise_panels, PackedGemmB, A_BLOCK_BYTES,
};
use sepconv::{kernel_set, Activation, Clamp, Error, Isa, KernelSet};
use std::ops::Range;
use std::sync::Arc;

/// Value of the gaps between rows and after the end of C: must survive untouched.
const GUARD: f32 = -12345.5;

/// One problem: A with row stride `lda` (gaps hold NaN, which would poison any result
/// that read them), weights [n][k], bias [n].
#[derive(Debug, Clone)]
struct Problem {
    /// What the data was drawn from.
    seed: u64,
    /// How many tests check it (see `common::cached`): 1 unless set.
    users: usize,
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
            seed,
            users: 1,
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

    /// The reference result, m x n dense, within the error bound of a k-term dot product.
    /// Once per process for one problem (see `common::cached`).
    fn reference(&self) -> Arc<Expected> {
        let Problem { m, n, k, lda, .. } = *self;
        let key = format!("{m} {n} {k} {lda} {}", self.seed);
        common::cached(key, self.users, || {
            let tol = Tolerance::Dot { terms: k };
            oracle::pointwise(
                m,
                k,
                n,
                &self.a,
                lda,
                &self.w,
                &self.bias,
                self.act.clamp(),
                tol,
            )
        })
    }

    /// Runs the operator with the kernel `PackedGemmB::new` picks in `isa`'s set.
    fn check(&self, isa: Isa) -> Result<(), String> {
        let ks = kernel_set(isa).unwrap();
        let packed =
            PackedGemmB::new(ks, self.k, self.n, &self.w, &self.bias).map_err(|e| e.to_string())?;
        self.check_packed(&packed, &self.reference())
    }

    /// Every column through `pointwise`.
    fn check_packed(&self, packed: &PackedGemmB, want: &Expected) -> Result<(), String> {
        self.check_panels(packed, None, want)
    }

    /// The columns of `panels` (all through `pointwise` if None), written into a C of
    /// just those columns, vs the reference; guards after each row must survive.
    fn check_panels(
        &self,
        packed: &PackedGemmB,
        panels: Option<Range<usize>>,
        want: &Expected,
    ) -> Result<(), String> {
        let Problem { m, n, k, lda, .. } = *self;
        let isa = packed.kernels().cpu;
        let nr = packed.nr();
        let (j0, j1) = match &panels {
            Some(r) => ((r.start * nr).min(n), (r.end * nr).min(n)),
            None => (0, n),
        };
        let cols = j1 - j0;
        let ldc = cols + (self.ldc - n);
        let tail = 17;
        let mut c = vec![GUARD; (m - 1) * ldc + cols + tail];
        let c_len = c.len() - tail;
        let clamp = self.act.clamp();
        let what = format!(
            "{isa} {} m={m} n={n} k={k} lda={lda} ldc={ldc} panels={panels:?} {:?}",
            packed.gemm().id.name,
            self.act
        );
        match &panels {
            Some(r) => pointwise_panels(
                packed,
                r.clone(),
                m,
                &self.a,
                lda,
                &mut c[..c_len],
                ldc,
                clamp,
            ),
            None => pointwise(packed, m, &self.a, lda, &mut c[..c_len], ldc, clamp),
        }
        .map_err(|e| format!("{what}: {e}"))?;

        for i in 0..m {
            for j in j0..j1 {
                let got = c[i * ldc + j - j0];
                want.check_at(i * n + j, got)
                    .map_err(|e| format!("{what}: C[{i}][{j}]: {e}"))?;
            }
            let gap_end = if i + 1 < m { (i + 1) * ldc } else { c.len() };
            if let Some(j) = c[i * ldc + cols..gap_end].iter().position(|&v| v != GUARD) {
                return Err(format!("{what}: wrote the guard {j} floats after row {i}"));
            }
        }
        Ok(())
    }
}

/// Every GEMM kernel of `isa`'s set: the wide one, then the narrow ones.
fn gemm_kernels(isa: Isa) -> Vec<&'static GemmKernel> {
    kernel_set(isa).unwrap().gemms().collect()
}

#[test]
fn packed_b_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PackedGemmB>();
}

common::kernel_tests!(
    TABLE,
    check_kernel,
    [
        f32_gemm_14x32_avx512,
        f32_gemm_12x16_avx512,
        f32_gemm_6x16_avx2,
        f32_gemm_8x8_neon,
        f32_gemm_4x8_scalar,
    ]
);

/// One kernel forced into `pointwise` (in the kernel set of its ISA) vs the reference:
/// every shape relation to its tile, shrunk failures, then random shapes.
fn check_kernel(g: &'static GemmKernel, ks: &'static KernelSet) {
    assert!(
        ks.gemms().any(|x| x.id.name == g.id.name),
        "the {} set never runs {}",
        ks.cpu,
        g.id.name
    );
    // Every kernel test of the table checks these problems: one reference for them all.
    let users = common::kernels_under_test(TABLE).len();
    let check = |p: Problem| {
        let p = Problem { users, ..p };
        let packed = PackedGemmB::with_kernel(ks, g, p.k, p.n, &p.w, &p.bias).unwrap();
        if let Err(e) = p.check_packed(&packed, &p.reference()) {
            panic!("{e}");
        }
    };
    // Exhaustively over small sizes: every row count of a first tile (the x86 wide tiles
    // run short ones of <= 4 rows in a loop of their own), every tail after one whole tile
    // (the AVX-512 14x32 hands it to the 7x32 in one or two tiles), and longer runs; n
    // around NR; k around the unrolling (4 on x86, 2 on NEON) and 1.
    let (mr, nr) = (g.mr, g.nr);
    let ms: Vec<usize> = (1..=2 * mr + 1).chain([2 * mr + 4, 3 * mr]).collect();
    let ns = [1, 2, nr - 1, nr, nr + 1, 2 * nr + 3];
    let ks_ = [1, 2, 3, 4, 5, 7, 8, 9, 17, 27, 64];
    let mut seed = 0;
    for &m in &ms {
        for &n in ns.iter().filter(|&&n| n >= 1) {
            for &k in &ks_ {
                seed += 1;
                check(Problem::new(
                    m,
                    n,
                    k,
                    (seed % 3) as usize,
                    (seed % 4) as usize,
                    seed,
                ));
            }
        }
    }
    // More rows than one M block holds, so several blocks pass over every panel.
    let k = 600;
    check(Problem::new(
        2 * A_BLOCK_BYTES / (4 * k) + 5,
        37,
        k,
        3,
        2,
        7,
    ));
    // Shrunk failures of `matches_reference` (tests/pointwise.proptest-regressions).
    check(Problem::new(1, 48, 1, 0, 0, 0));
    check(Problem::new(1, 1, 7, 0, 0, 1433297221209927297));

    common::runner(64, file!())
        .run(&shapes(), |(m, n, k, (lda_pad, ldc_pad), seed)| {
            check(Problem::new(m, n, k, lda_pad, ldc_pad, seed));
            Ok(())
        })
        .unwrap();
}

/// Smaller (m, n, k), for the panel and column-view tests.
fn small_shapes() -> impl Strategy<Value = (usize, usize, usize)> {
    (
        dim(40, &[7, 12]),
        prop_oneof![
            1..=100usize,
            prop::sample::select(vec![24usize, 48, 96, 1000])
        ],
        prop_oneof![1..=30usize, 200..=300usize],
    )
}

/// Random GEMM shapes: (m, n, k, (lda pad, ldc pad), seed).
fn shapes() -> impl Strategy<Value = (usize, usize, usize, (usize, usize), u64)> {
    (
        dim(200, &[4, 6, 7, 8, 12]),
        prop_oneof![
            dim(300, &[8, 12, 16, 32]),
            1..=40usize,
            // The alpha-0.75 widths.
            prop::sample::select(vec![24usize, 48, 96, 192, 384, 768]),
        ],
        prop_oneof![dim(600, &[2, 4, 64]), 1..=30usize],
        (
            prop_oneof![Just(0usize), 1..=9usize],
            prop_oneof![Just(0usize), 1..=9usize],
        ),
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(16)))]

    /// The kernel `PackedGemmB::new` picks (each is tested above on its own).
    #[test]
    fn automatic_choice_matches_reference((m, n, k, (lda_pad, ldc_pad), seed) in shapes()) {
        let p = Problem::new(m, n, k, lda_pad, ldc_pad, seed);
        for isa in common::isas_under_test() {
            if let Err(e) = p.check(isa) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

/// More rows than one M block holds, with the automatic choice.
#[test]
fn several_m_blocks() {
    let k = 600;
    let block_rows = A_BLOCK_BYTES / (4 * k);
    for isa in common::isas_under_test() {
        let m = 2 * block_rows + 5;
        Problem::new(m, 37, k, 3, 2, 7).check(isa).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(64)))]

    /// Column slices: any panel range of any kernel, into a C of just those columns.
    #[test]
    fn panels_match_reference(
        (m, n, k) in small_shapes(),
        ldc_pad in prop_oneof![Just(0usize), 1..=5usize],
        range in (any::<prop::sample::Index>(), any::<prop::sample::Index>()),
        kernel in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let p = Problem::new(m, n, k, seed as usize % 3, ldc_pad, seed);
        let want = p.reference();
        for isa in common::isas_under_test() {
            let kernels = gemm_kernels(isa);
            let g = kernels[kernel.index(kernels.len())];
            let b = PackedGemmB::with_kernel(kernel_set(isa).unwrap(), g, k, n, &p.w, &p.bias)
                .unwrap();
            let panels = b.panels();
            prop_assert_eq!(panels, n.div_ceil(b.nr()));
            let (x, y) = (range.0.index(panels + 1), range.1.index(panels + 1));
            let r = x.min(y)..x.max(y);
            if let Err(e) = p.check_panels(&b, Some(r), &want) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

/// Splitting the columns into consecutive ranges writes exactly the full result.
#[test]
fn panel_ranges_tile_the_result() {
    let (m, n, k) = (5, 1000, 64);
    let p = Problem::new(m, n, k, 0, 0, 11);
    for isa in common::isas_under_test() {
        let b = PackedGemmB::new(kernel_set(isa).unwrap(), k, n, &p.w, &p.bias).unwrap();
        let mut full = vec![0.0; m * n];
        pointwise(&b, m, &p.a, k, &mut full, n, Clamp::NONE).unwrap();
        let mut split = vec![GUARD; m * n];
        let panels = b.panels();
        let cuts = [0, 1, panels / 3, panels - 1, panels];
        for w in cuts.windows(2) {
            let j0 = w[0] * b.nr();
            pointwise_panels(&b, w[0]..w[1], m, &p.a, k, &mut split[j0..], n, Clamp::NONE).unwrap();
        }
        assert_eq!(full, split, "{isa}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(32)))]

    /// Column views of one output (`MatMut::col_chunks`, whole panels each), filled by
    /// two threads at once through `pointwise_cols`, taking views from opposite ends:
    /// bit-identical to one `pointwise` call, and the gaps between rows untouched.
    #[test]
    fn column_views_from_two_threads_match_one_call(
        (m, n, k) in small_shapes(),
        ldc_pad in 0..=3usize,
        per_view in 1..=4usize,
        kernel in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let p = Problem::new(m, n, k, 0, ldc_pad, seed);
        let clamp = p.act.clamp();
        for isa in common::isas_under_test() {
            let kernels = gemm_kernels(isa);
            let g = kernels[kernel.index(kernels.len())];
            let b = PackedGemmB::with_kernel(kernel_set(isa).unwrap(), g, k, n, &p.w, &p.bias)
                .unwrap();
            let ldc = p.ldc;
            let mut whole = vec![GUARD; (m - 1) * ldc + n];
            pointwise(&b, m, &p.a, p.lda, &mut whole, ldc, clamp).unwrap();
            let mut split = vec![GUARD; (m - 1) * ldc + n];
            let views = MatMut::new(&mut split, m, n, ldc).unwrap().col_chunks(per_view * b.nr());
            let queue = std::sync::Mutex::new(views.enumerate());
            let work = |front: bool| loop {
                let next = if front {
                    queue.lock().unwrap().next()
                } else {
                    queue.lock().unwrap().next_back()
                };
                let Some((t, view)) = next else { break };
                let panels = t * per_view..((t + 1) * per_view).min(b.panels());
                pointwise_cols(&b, panels, &p.a, p.lda, view, clamp).unwrap();
            };
            std::thread::scope(|s| {
                s.spawn(|| work(true));
                work(false);
            });
            prop_assert!(
                whole.iter().zip(&split).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{} {}: column views differ from one call", isa, g.id.name
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(common::cases(32)))]

    /// Where a kernel computes a single row itself (`GemmKernel::one_row`: the x86 one-row
    /// loops behind the batch-1 classifier), that row gets the same bits as in any
    /// register tile of a many-row call: batch 1 and batch N give the same logits.
    #[test]
    fn one_row_matches_its_row_in_a_tile(
        m in dim(60, &[6, 7, 14]),
        n in prop_oneof![1..=100usize, prop::sample::select(vec![1000usize])],
        k in prop_oneof![1..=30usize, 200..=300usize],
        seed in any::<u64>(),
    ) {
        let p = Problem::new(m, n, k, 0, 0, seed);
        let clamp = p.act.clamp();
        for isa in common::isas_under_test() {
            for g in gemm_kernels(isa).into_iter().filter(|g| g.one_row) {
                let ks = kernel_set(isa).unwrap();
                let b = PackedGemmB::with_kernel(ks, g, k, n, &p.w, &p.bias).unwrap();
                let mut all = vec![0.0; m * n];
                pointwise(&b, m, &p.a, k, &mut all, n, clamp).unwrap();
                for i in 0..m {
                    let mut row = vec![0.0; n];
                    pointwise(&b, 1, &p.a[i * k..(i + 1) * k], k, &mut row, n, clamp).unwrap();
                    let same = row.iter().zip(&all[i * n..]).all(|(x, y)| x.to_bits() == y.to_bits());
                    prop_assert!(same, "{} {}: row {} of {} alone differs", isa, g.id.name, i, m);
                }
            }
        }
    }
}

/// Rows are spread by one cache line only where a tile's rows would crowd one L1 set.
#[test]
fn a_stride_spreads_only_rows_that_crowd_an_l1_set() {
    // 4 KiB rows: every row of a 14- or 12-row tile in one set.
    assert_eq!(a_stride(1024, 14), 1040);
    assert_eq!(a_stride(1024, 12), 1040);
    assert_eq!(a_stride(2048, 14), 2064);
    // 2 KiB rows: 7 per set, within the 8 ways; 8 rows of 4 KiB likewise.
    assert_eq!(a_stride(512, 14), 512);
    assert_eq!(a_stride(1024, 8), 1024);
    assert_eq!(a_stride(1024, 6), 1024);
    // Rows not a multiple of a line apart spread over the sets by themselves.
    assert_eq!(a_stride(1000, 14), 1000);
    assert_eq!(a_stride(1, 14), 1);
}

/// The chosen tile never pads more than the wide one and matches the layer's width.
#[test]
fn narrow_layers_get_narrow_tiles() {
    for isa in common::isas_under_test() {
        let ks = kernel_set(isa).unwrap();
        let min_nr = gemm_kernels(isa).iter().map(|g| g.nr).min().unwrap();
        for n in 1..=200 {
            let k = 3;
            let b = PackedGemmB::new(ks, k, n, &vec![0.0; n * k], &vec![0.0; n]).unwrap();
            let padded = |nr: usize| n.div_ceil(nr) * nr;
            assert!(padded(b.nr()) <= padded(ks.gemm.nr), "{isa} n={n}");
            assert_eq!(b.panels(), n.div_ceil(b.nr()));
            assert_eq!((b.mr(), b.nr()), (b.gemm().mr, b.gemm().nr));
            if n <= min_nr {
                assert_eq!(b.nr(), min_nr, "{isa} n={n}: the narrowest tile fits");
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

        // A kernel of another set is refused.
        for other in Isa::available() {
            let foreign = kernel_set(other).unwrap().gemm;
            if !gemm_kernels(isa)
                .iter()
                .any(|g| g.id.name == foreign.id.name)
            {
                assert!(matches!(
                    PackedGemmB::with_kernel(ks, foreign, k, n, &w, &bias),
                    Err(Error::Config(_))
                ));
            }
        }
    }
}

#[test]
fn bad_panel_ranges_are_errors() {
    for isa in common::isas_under_test() {
        let ks = kernel_set(isa).unwrap();
        let (k, n) = (5, 40);
        let w = vec![0.5; k * n];
        let bias = vec![0.25; n];
        for g in gemm_kernels(isa) {
            let b = PackedGemmB::with_kernel(ks, g, k, n, &w, &bias).unwrap();
            let (panels, nr) = (b.panels(), b.nr());
            let m = 3;
            let a = vec![1.0; m * k];
            let mut c = vec![0.0; m * n];
            let none = Clamp::NONE;
            let call = |r: Range<usize>, m: usize, a: &[f32], c: &mut [f32], ldc: usize| {
                pointwise_panels(&b, r, m, a, k, c, ldc, none)
            };
            shape_error(call(0..panels + 1, m, &a, &mut c, n), "panel range");
            shape_error(
                call(panels + 1..panels + 1, m, &a, &mut c, n),
                "panel range",
            );
            #[allow(clippy::reversed_empty_ranges)]
            let backwards = 1..0;
            shape_error(call(backwards, m, &a, &mut c, n), "panel range");
            shape_error(
                call(usize::MAX..usize::MAX, m, &a, &mut c, n),
                "panel range",
            );
            // The last panel alone: its columns, not nr, bound ldc and c.
            let last_cols = n - (panels - 1) * nr;
            shape_error(
                call(panels - 1..panels, m, &a, &mut c, last_cols - 1),
                "ldc",
            );
            shape_error(
                call(
                    panels - 1..panels,
                    m,
                    &a,
                    &mut c[..(m - 1) * last_cols + last_cols - 1],
                    last_cols,
                ),
                "c needs",
            );
            shape_error(call(0..1, m, &a[1..], &mut c, n), "a needs");
            shape_error(call(0..panels, usize::MAX, &a, &mut c, n), "a needs");
            // Nothing was written by the refused calls; empty ranges and m = 0 are no-ops.
            assert!(c.iter().all(|&v| v == 0.0));
            call(panels..panels, m, &[], &mut [], 0).unwrap();
            call(0..0, m, &a, &mut c, n).unwrap();
            call(0..panels, 0, &[], &mut [], 0).unwrap();
            // The exact minimum: the last panel into a C of exactly its columns.
            let mut last = vec![0.0; m * last_cols];
            call(panels - 1..panels, m, &a, &mut last, last_cols).unwrap();
            assert!(
                last.iter().all(|&v| v == 0.25 + 0.5 * 5.0),
                "{isa} {}",
                g.id.name
            );
        }
    }
}

#[test]
fn microkernel_refuses_what_the_assembly_cannot_do() {
    for isa in common::isas_under_test() {
        for g in gemm_kernels(isa) {
            // More rows than one tile: the entry walks them in tiles.
            let (rows, nr, kc) = (2 * g.mr + 1, g.nr, 3);
            let a = vec![1.0; rows * kc];
            let panel = vec![1.0; (kc + 1) * nr];
            let mut c = vec![0.0; rows * (nr + 1)];
            let call = |mr_: usize, nr_: usize, kc_: usize, a: &[f32], p: &[f32], c: &mut [f32]| {
                // The view covers what the call asks for (at least one row and column);
                // a slice too short for it is refused when the view is made.
                let c = MatMut::new(c, mr_.max(1), nr_.clamp(1, nr + 1), nr + 1)?;
                (g.ukernel)(GemmArgs {
                    mr: mr_,
                    nr: nr_,
                    kc: kc_,
                    a,
                    lda: kc,
                    panel: p,
                    c,
                    clamp: Clamp::NONE,
                })
            };
            shape_error(call(0, nr, kc, &a, &panel, &mut c), "mr");
            shape_error(call(rows + 1, nr, kc, &a, &panel, &mut c), "c has");
            // A view with fewer rows or columns than the call computes.
            for (r, cols) in [(rows - 1, nr), (rows, nr - 1)] {
                let view = MatMut::new(&mut c, r, cols, nr + 1).unwrap();
                let args = GemmArgs {
                    mr: rows,
                    nr,
                    kc,
                    a: &a,
                    lda: kc,
                    panel: &panel,
                    c: view,
                    clamp: Clamp::NONE,
                };
                shape_error((g.ukernel)(args), "c has");
            }
            shape_error(call(rows, nr + 1, kc, &a, &panel, &mut c), "nr");
            shape_error(call(rows, 0, kc, &a, &panel, &mut c), "nr");
            shape_error(call(rows, nr, 0, &a, &panel, &mut c), "kc");
            shape_error(
                call(rows, nr, kc, &a[..rows * kc - 1], &panel, &mut c),
                "a has",
            );
            shape_error(call(rows, nr, kc, &a, &panel[1..], &mut c), "panel");
            shape_error(
                call(rows, nr, kc, &a, &panel, &mut c[..rows * (nr + 1) - 2]),
                "c has",
            );
            assert!(c.iter().all(|&v| v == 0.0));
            // In bounds: every output is bias 1 + kc products of 1; gaps untouched.
            call(rows, nr, kc, &a, &panel, &mut c).unwrap();
            for i in 0..rows {
                let row = &c[i * (nr + 1)..(i + 1) * (nr + 1)];
                assert!(
                    row[..nr].iter().all(|&v| v == 1.0 + kc as f32),
                    "{isa} {}",
                    g.id.name
                );
                assert_eq!(
                    row[nr], 0.0,
                    "{isa} {}: the gap after row {i} was written",
                    g.id.name
                );
            }
        }
    }
}
