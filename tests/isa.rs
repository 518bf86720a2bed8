//! Dispatch: detection, forcing (base ISA and features off), refusal of what the CPU
//! lacks, and that every kernel set holds only kernels its CPU runs.

mod common;

use sepconv::kernels::{
    all_kernels, f32_clamp, f32_conv0, f32_dwconv, f32_gemm, q8_conv0, q8_dwconv, q8_gemm, Kernel,
};
use sepconv::{kernel_set, selected_kernel_set, Cpu, Error, Feature, Features, Isa};

#[test]
fn detection_picks_the_expected_isa() {
    // CI sets SEPCONV_EXPECT_ISA where it knows the CPU: the host's best natively,
    // avx2 under `qemu-x86_64 -cpu Haswell`, neon under qemu-aarch64.
    if let Ok(expected) = std::env::var("SEPCONV_EXPECT_ISA") {
        let expected: Isa = expected.parse().unwrap();
        assert_eq!(Isa::detect(), expected);
    }
    let available = Isa::available();
    assert_eq!(*available.last().unwrap(), Isa::Scalar);
    assert_eq!(available[0], Isa::detect());
    assert_eq!(Cpu::detect().isa, Isa::detect());
    assert_eq!(Cpu::detect(), Cpu::available()[0]);
}

#[test]
fn selected_honours_the_environment() {
    let selected = Cpu::selected().unwrap();
    match std::env::var("SEPCONV_ISA") {
        Ok(spec) if !spec.is_empty() => assert_eq!(selected, spec.parse::<Cpu>().unwrap()),
        _ => assert_eq!(selected, Cpu::detect()),
    }
    assert_eq!(Isa::selected().unwrap(), selected.isa);
    assert_eq!(selected_kernel_set().unwrap().cpu, selected);
}

#[test]
fn every_available_cpu_has_its_kernel_set_of_kernels_it_runs() {
    for cpu in Cpu::available() {
        let ks = kernel_set(cpu).unwrap();
        assert_eq!(ks.cpu, cpu);
        assert_eq!(
            kernel_set(cpu.isa).unwrap().cpu,
            cpu,
            "an Isa means all its features"
        );
        assert_eq!(Isa::resolve(Some(cpu.isa)).unwrap(), cpu.isa);
        for (op, id) in ks.ids() {
            assert!(id.runs_on(cpu), "{cpu}: {op} {}", id.name);
        }
        // Every feature subset picks a set too, of kernels that need none switched off.
        for f in cpu.features.iter() {
            let less = cpu.without(Features::of(&[f]));
            let ks = kernel_set(less).unwrap();
            assert_eq!(ks.cpu, less);
            for (op, id) in ks.ids() {
                assert!(!id.features.has(f), "{less}: {op} {} needs {f}", id.name);
            }
        }
    }
}

#[test]
fn kernel_names_are_unique_and_name_their_isa() {
    let ids = all_kernels();
    for (i, a) in ids.iter().enumerate() {
        assert!(
            ids[i + 1..].iter().all(|b| b.name != a.name),
            "{} twice",
            a.name
        );
        assert!(a.name.ends_with(a.isa.name()), "{} for {}", a.name, a.isa);
        // Data type first; a feature it needs (vnni, avxvnni, dotprod) just before the ISA.
        assert!(
            a.name.starts_with("f32_") || a.name.starts_with("q8_"),
            "{}",
            a.name
        );
        for f in a.features.iter() {
            assert!(a.name.contains(f.name()), "{} needs {f}", a.name);
        }
    }
    // Each table's last entry runs anywhere, so every op has a kernel on every CPU.
    let ks = kernel_set(Isa::Scalar).unwrap();
    assert!(ks.ids().iter().all(|(_, id)| id.isa == Isa::Scalar));
    assert_eq!(ks.gemm.id().name, "f32_gemm_4x8_scalar");
}

/// Every kernel is an entry of one of the op tables whose suites generate a test per
/// entry (`common::kernel_tests!` in tests/{clamp,pointwise,depthwise,conv0}.rs, each
/// with a test that its list covers its table), or of an int8 table, whose suites
/// (tests/q8_*.rs) run every entry the CPU runs: a kernel of a new table fails here until
/// its suite does the same.
#[test]
fn every_kernel_is_in_a_table_with_generated_tests() {
    let tested: Vec<&str> = (f32_clamp::TABLE.iter().map(|k| k.id.name))
        .chain(f32_gemm::TABLE.iter().map(|k| k.id.name))
        .chain(f32_dwconv::TABLE.iter().map(|k| k.id.name))
        .chain(f32_conv0::TABLE.iter().map(|k| k.id.name))
        // The q8 suites (tests/q8_*.rs) check every entry of their tables in one proptest.
        .chain(q8_gemm::TABLE.iter().map(|k| k.id.name))
        .chain(q8_dwconv::TABLE.iter().map(|k| k.id.name))
        .chain(q8_conv0::TABLE.iter().map(|k| k.id.name))
        .collect();
    for id in all_kernels() {
        assert!(
            tested.contains(&id.name),
            "{} is in no table with generated tests (tests/common/mod.rs: kernel_tests!)",
            id.name
        );
    }
    assert_eq!(tested.len(), all_kernels().len());
}

#[test]
fn unavailable_isas_are_refused_with_a_reason() {
    let available = Isa::available();
    for isa in Isa::all().filter(|i| !available.contains(i)) {
        match kernel_set(isa) {
            Err(Error::IsaUnavailable { isa: name, why }) => {
                assert_eq!(name, isa.name());
                assert!(
                    why.contains("lacks") || why.contains("build is for"),
                    "{why}"
                );
            }
            other => panic!("{isa} should be refused, got {other:?}"),
        }
        assert!(Isa::resolve(Some(isa)).is_err());
    }
    // Neon and AVX are never both available.
    assert!(!(available.contains(&Isa::Neon) && available.contains(&Isa::Avx2)));
}

#[test]
fn features_the_cpu_lacks_are_refused() {
    for cpu in Cpu::available() {
        for f in Feature::all().filter(|f| !cpu.features.has(*f)) {
            let more = Cpu {
                features: cpu.features.with(f),
                ..cpu
            };
            match kernel_set(more) {
                Err(Error::IsaUnavailable { why, .. }) => assert!(why.contains(f.name()), "{why}"),
                other => panic!("{more} should be refused, got {other:?}"),
            }
        }
    }
}

#[test]
fn names_round_trip_and_unknown_names_fail() {
    for isa in Isa::all() {
        assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
        assert_eq!(Isa::from_c(isa.c_value()), Some(isa));
    }
    for f in Feature::all() {
        assert_eq!(f.name().parse::<Feature>().unwrap(), f);
    }
    match "sse9".parse::<Isa>() {
        Err(e @ Error::UnknownIsa(_)) => {
            let msg = e.to_string();
            assert!(Isa::all().all(|i| msg.contains(i.name())), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        "scalar,-warp".parse::<Cpu>(),
        Err(Error::UnknownFeature(_))
    ));
}

#[test]
fn forcing_through_the_environment_is_refused_when_unavailable() {
    // Run the CLI binary itself with a forced ISA this CPU lacks: it must exit with a
    // clear error, not crash on an illegal instruction.
    let unavailable = Isa::all()
        .find(|i| !Isa::available().contains(i))
        .expect("no CPU runs both NEON and AVX");
    let run = |spec: &str| {
        let out = common::bin_command(env!("CARGO_BIN_EXE_sepconv"))
            .arg("info")
            .env("SEPCONV_ISA", spec)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, stderr) = run(unavailable.name());
    assert!(!ok);
    assert!(stderr.contains("is not available"), "{stderr}");
    let (ok, _, stderr) = run("bogus");
    assert!(!ok && stderr.contains("unknown ISA"), "{stderr}");
    let (ok, _, stderr) = run("scalar,-bogus");
    assert!(!ok && stderr.contains("unknown CPU feature"), "{stderr}");
    // A feature switched off is off in the set `info` reports.
    let best = Cpu::detect();
    if let Some(f) = best.features.iter().next() {
        let (ok, stdout, stderr) = run(&format!("{},-{f}", best.isa));
        assert!(ok, "{stderr}");
        let line = stdout.lines().find(|l| l.starts_with("features:")).unwrap();
        assert!(!line.split_whitespace().any(|w| w == f.name()), "{line}");
    }
}
