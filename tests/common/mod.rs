//! Helpers shared by the integration tests: the ISAs and kernels under test (honouring
//! `SEPCONV_ISA`), [`kernel_tests!`] (one `#[test]` per kernel of a table), guards around
//! outputs, the reference calls and tolerances ([`oracle`], shared with the benches and
//! fuzz targets) and the proptest strategies ([`strategies`]).
#![allow(dead_code)]

pub mod oracle;
pub mod strategies;

use oracle::Expected;
use sepconv::kernels::{Kernel, KernelId};
use sepconv::{kernel_set, Cpu, Error, Isa, KernelSet};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The ISAs a test must cover: the one forced by `SEPCONV_ISA` (so CI's forced runs test
/// exactly that ISA), else every ISA this CPU runs.
pub fn isas_under_test() -> Vec<Isa> {
    match std::env::var("SEPCONV_ISA") {
        Ok(name) if !name.trim().is_empty() => {
            let isa: Isa = name.parse().expect("SEPCONV_ISA names a known ISA");
            isa.check().expect("SEPCONV_ISA names an ISA this CPU runs");
            vec![isa]
        }
        _ => Isa::available(),
    }
}

/// The CPU `SEPCONV_ISA` forces (CI runs the suite once per ISA so), if set.
fn forced_cpu() -> Option<Cpu> {
    match std::env::var("SEPCONV_ISA") {
        Ok(spec) if !spec.trim().is_empty() => Some(
            spec.parse()
                .expect("SEPCONV_ISA names an ISA (and features) this CPU runs"),
        ),
        _ => None,
    }
}

/// The CPU whose kernel set a kernel's test runs it through: the one of the kernel's own
/// base ISA, among those under test (only the forced one under `SEPCONV_ISA`, as
/// [`isas_under_test`]; else every one this CPU runs). `Err` says why the kernel is not
/// tested here.
pub fn cpu_for_kernel(id: &KernelId) -> Result<Cpu, String> {
    let forced = forced_cpu();
    let cpus = forced.map_or_else(Cpu::available, |cpu| vec![cpu]);
    if let Some(cpu) = cpus.into_iter().find(|c| c.isa == id.isa && id.runs_on(*c)) {
        return Ok(cpu);
    }
    match (sepconv::kernels::cpu::require(id), forced) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(()), Some(cpu)) => Err(format!(
            "SEPCONV_ISA={} tests only the kernels of {cpu}",
            cpu.spec()
        )),
        (Ok(()), None) => Err(format!("no CPU under test runs {}", id.name)),
    }
}

/// Says on the terminal that a test did not run its kernel, past libtest's capture of
/// `println!` (a skip must not read as a pass).
pub fn skip_notice(test: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// The body of a test [`kernel_tests!`] generates: `check` on the entry `name` of `table`
/// with the kernel set of [`cpu_for_kernel`], or a printed notice saying why not.
pub fn run_kernel_test<K: Kernel>(
    table: &'static [K],
    name: &str,
    check: fn(&'static K, &'static KernelSet),
) {
    let Some(k) = table.iter().find(|k| k.id().name == name) else {
        let why = format!("not in this build's table ({})", std::env::consts::ARCH);
        return skip_notice(name, &why);
    };
    match cpu_for_kernel(k.id()) {
        Ok(cpu) => check(k, kernel_set(cpu).unwrap()),
        Err(why) => skip_notice(name, &why),
    }
}

/// The base ISA a kernel name ends with (`f32_gemm_14x32_avx512` -> avx512).
pub fn isa_of_name(name: &str) -> Option<Isa> {
    name.rsplit('_').next()?.parse().ok()
}

/// That `tested` (the names [`kernel_tests!`] generated tests for) holds every kernel
/// of `table`, and no name of this build's architecture that the table lacks.
pub fn assert_every_kernel_tested<K: Kernel>(table: &'static [K], tested: &[&str], file: &str) {
    for k in table {
        let name = k.id().name;
        assert!(
            tested.contains(&name),
            "{name} has no test: add it to the kernel_tests! list in {file}"
        );
    }
    for &name in tested {
        let isa = isa_of_name(name).unwrap_or_else(|| panic!("{name}: no ISA at its end"));
        let here = isa.row().arch.is_none_or(|a| a == std::env::consts::ARCH);
        assert!(
            !here || table.iter().any(|k| k.id().name == name),
            "{file} tests {name}, which its table lacks: remove it from kernel_tests!"
        );
    }
}

/// One `#[test]` per kernel of an op's table, named after the kernel (`cargo test
/// f32_gemm_14x32_avx512` runs one), calling `check` on that kernel and the kernel set it
/// runs in (see [`run_kernel_test`]); plus `KERNEL_TESTS`, the names, and a test that
/// they cover the table, so a table entry cannot go untested.
#[allow(unused_macros)] // only the kernel suites generate tests
macro_rules! kernel_tests {
    ($table:expr, $check:expr, [$($name:ident),+ $(,)?]) => {
        $(
            #[test]
            fn $name() {
                $crate::common::run_kernel_test($table, stringify!($name), $check);
            }
        )+

        /// The kernels of this file's table that have a generated test.
        pub const KERNEL_TESTS: &[&str] = &[$(stringify!($name)),+];

        #[test]
        fn every_kernel_of_the_table_has_a_test() {
            $crate::common::assert_every_kernel_tested($table, KERNEL_TESTS, file!());
        }
    };
}
#[allow(unused_imports)]
pub(crate) use kernel_tests;

/// Proptest case count: `PROPTEST_CASES` if set (CI lowers it under qemu), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A proptest runner of [`cases`]`(default)` cases that saves failures beside `file`
/// (`file!()`: `tests/<suite>.proptest-regressions`, replayed first in later runs), for
/// the proptest runs inside generated kernel tests. Every runner of a process draws from
/// one random seed, so the kernel tests of a table draw the same cases and share their
/// references through [`reference`].
pub fn runner(default: u32, file: &'static str) -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    static SEED: OnceLock<[u8; 32]> = OnceLock::new();
    let seed = SEED.get_or_init(rand::random);
    let config = Config {
        cases: cases(default),
        source_file: Some(file),
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, seed))
}

/// The value `key` names (a reference call: its parameters and data seed), computed
/// once for `users` calls: each kernel test of a table checks the same cases, and the
/// naive reference costs more than the kernels. Dropped after its last use.
pub fn cached<T: Send + Sync + 'static>(
    key: String,
    users: usize,
    compute: impl FnOnce() -> T,
) -> Arc<T> {
    // A test that asks while another computes the value waits for it (the kernel tests
    // of a table walk the same cases at once, one per thread).
    type Slot = Arc<OnceLock<Arc<dyn Any + Send + Sync>>>;
    static CACHE: OnceLock<Mutex<HashMap<String, (Slot, usize)>>> = OnceLock::new();
    let slot = {
        let mut map = CACHE
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (slot, left) = map
            .entry(key.clone())
            .or_insert_with(|| (Slot::default(), users.max(1)));
        let slot = slot.clone();
        *left -= 1;
        if *left == 0 {
            map.remove(&key);
        }
        slot
    };
    let v = slot.get_or_init(|| Arc::new(compute())).clone();
    v.downcast().expect("one type of value per key")
}

/// The kernels of `table` this run tests (see [`cpu_for_kernel`]), with their sets.
pub fn kernels_under_test<K: Kernel>(table: &'static [K]) -> Vec<(&'static K, &'static KernelSet)> {
    table
        .iter()
        .filter_map(|k| Some((k, kernel_set(cpu_for_kernel(k.id()).ok()?).unwrap())))
        .collect()
}

/// One call of a direct convolution (depthwise, conv0): its parameters, and random data
/// with its reference.
pub struct Case<P> {
    pub p: P,
    /// The reference and the data it was computed from (`Expected::operands`), once per
    /// process for a (shape, seed, scale) (see [`cached`]).
    pub exp: Arc<Expected>,
}

/// Computes the reference of a call: `oracle::depthwise` or `oracle::conv0`.
pub type Reference<P> = fn(&P, &[f32], &[f32], &[f32]) -> sepconv::Result<Expected>;

impl<P: std::fmt::Debug> Case<P> {
    /// The data of [`random_operands`]`(sizes, seed, scale)` and its reference, for
    /// `users` tests (see [`cached`]).
    pub fn new(
        p: P,
        sizes: [usize; 3],
        (seed, scale): (u64, f32),
        users: usize,
        reference: Reference<P>,
    ) -> Self {
        let key = format!("{p:?} {seed} {scale}");
        let exp = cached(key, users, || {
            let (input, weights, bias) = random_operands(sizes, seed, scale);
            reference(&p, &input, &weights, &bias).unwrap()
        });
        Case { p, exp }
    }

    pub fn input(&self) -> &[f32] {
        self.exp.operands().0
    }

    pub fn weights(&self) -> &[f32] {
        self.exp.operands().1
    }

    pub fn bias(&self) -> &[f32] {
        self.exp.operands().2
    }
}

/// `sizes[0]` input values in +-4 `scale`, `sizes[1]` weights in +-1, `sizes[2]` bias
/// values in +-2, from `seed`.
pub fn random_operands(sizes: [usize; 3], seed: u64, scale: f32) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut gen =
        |n: usize, r: f32| -> Vec<f32> { (0..n).map(|_| rng.random_range(-r..r)).collect() };
    (
        gen(sizes[0], 4.0 * scale),
        gen(sizes[1], 1.0),
        gen(sizes[2], 2.0),
    )
}

/// Splits output rows `0..rows` (of `row` floats) at `cuts` (empty ranges included) and
/// has `rows_of` compute each range into a guarded buffer: each must match the reference
/// and, exactly, `full` (the whole call), and leave the guards.
pub fn check_row_ranges(
    (rows, row): (usize, usize),
    cuts: &[usize],
    full: &[f32],
    want: &Expected,
    what: &str,
    mut rows_of: impl FnMut(std::ops::Range<usize>, &mut [f32]),
) -> Result<(), String> {
    let mut bounds: Vec<usize> = cuts.iter().map(|&x| x.min(rows)).collect();
    bounds.push(0);
    bounds.push(rows);
    bounds.sort_unstable();
    for r in bounds.windows(2) {
        let n = (r[1] - r[0]) * row;
        let mut buf = guarded(n);
        rows_of(r[0]..r[1], &mut buf[GUARD_LEN..GUARD_LEN + n]);
        let what = format!("{what} rows {}..{}", r[0], r[1]);
        assert_guards(&buf, &what);
        let got = &buf[GUARD_LEN..GUARD_LEN + n];
        let span = r[0] * row..r[1] * row;
        want.check_from(span.start, got, &what)?;
        // A row's value does not depend on which range computed it.
        if got != &full[span] {
            return Err(format!("{what}: differs from the whole call"));
        }
    }
    Ok(())
}

/// A command running one of this crate's binaries, through `SEPCONV_TEST_RUNNER` when set
/// (CI sets it to the qemu command line when the tests themselves run under qemu).
pub fn bin_command(path: &str) -> std::process::Command {
    match std::env::var("SEPCONV_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut cmd = std::process::Command::new(words.next().unwrap());
            cmd.args(words).arg(path);
            cmd
        }
        _ => std::process::Command::new(path),
    }
}

/// Written around every output slice; a kernel writing out of bounds changes it.
pub const GUARD: f32 = -7.654321e27;
pub const GUARD_LEN: usize = 37;

/// A buffer of `len` floats with `GUARD_LEN` guard values on each side.
pub fn guarded(len: usize) -> Vec<f32> {
    vec![GUARD; len + 2 * GUARD_LEN]
}

/// Panics if anything was written into the guards of a [`guarded`] buffer.
pub fn assert_guards(buf: &[f32], what: &str) {
    let n = buf.len();
    assert!(
        buf[..GUARD_LEN].iter().all(|&v| v == GUARD),
        "{what}: wrote before the output"
    );
    assert!(
        buf[n - GUARD_LEN..].iter().all(|&v| v == GUARD),
        "{what}: wrote past the output"
    );
}

/// Panics unless `r` is a shape error whose message contains `needle`.
pub fn shape_error(r: sepconv::Result<()>, needle: &str) {
    match r {
        Err(Error::Shape(msg)) => assert!(msg.contains(needle), "{msg:?} lacks {needle:?}"),
        other => panic!("expected a shape error about {needle:?}, got {other:?}"),
    }
}

/// A small deterministic generator for the int8 suites: 32-bit values spread over the
/// whole type (`as u8` / `as i8` take every byte value).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32
    }
}
