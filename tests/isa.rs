//! Dispatch: detection, forcing, refusal of ISAs the CPU lacks.

mod common;

use sepconv::{kernel_set, selected_kernel_set, Error, Isa};

#[test]
fn detection_picks_the_expected_isa() {
    // CI sets SEPCONV_EXPECT_ISA where it knows the CPU: avx512 natively on the Zen 5 host,
    // avx2 under `qemu-x86_64 -cpu Haswell`, neon under qemu-aarch64.
    if let Ok(expected) = std::env::var("SEPCONV_EXPECT_ISA") {
        let expected: Isa = expected.parse().unwrap();
        assert_eq!(Isa::detect(), expected);
    }
    let available = Isa::available();
    assert_eq!(*available.last().unwrap(), Isa::Scalar);
    assert_eq!(available[0], Isa::detect());
}

#[test]
fn selected_honours_the_environment() {
    let selected = Isa::selected().unwrap();
    match std::env::var("SEPCONV_ISA") {
        Ok(name) if !name.is_empty() => assert_eq!(selected, name.parse::<Isa>().unwrap()),
        _ => assert_eq!(selected, Isa::detect()),
    }
    assert_eq!(selected_kernel_set().unwrap().isa, selected);
}

#[test]
fn every_available_isa_has_its_kernel_set() {
    for isa in Isa::available() {
        assert_eq!(kernel_set(isa).unwrap().isa, isa);
        assert_eq!(Isa::resolve(Some(isa)).unwrap(), isa);
    }
}

#[test]
fn unavailable_isas_are_refused_with_a_reason() {
    let available = Isa::available();
    for isa in Isa::ALL.into_iter().filter(|i| !available.contains(i)) {
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
fn isa_names_round_trip_and_unknown_names_fail() {
    for isa in Isa::ALL {
        assert_eq!(isa.name().parse::<Isa>().unwrap(), isa);
    }
    assert!(matches!("sse9".parse::<Isa>(), Err(Error::UnknownIsa(_))));
}

#[test]
fn forcing_through_the_environment_is_refused_when_unavailable() {
    // Run the CLI binary itself with a forced ISA this CPU lacks: it must exit with a
    // clear error, not crash on an illegal instruction.
    let unavailable = Isa::ALL
        .into_iter()
        .find(|i| !Isa::available().contains(i))
        .expect("no CPU runs both NEON and AVX");
    let out = common::bin_command(env!("CARGO_BIN_EXE_sepconv"))
        .arg("info")
        .env("SEPCONV_ISA", unavailable.name())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not available"), "{stderr}");
    let out = common::bin_command(env!("CARGO_BIN_EXE_sepconv"))
        .arg("info")
        .env("SEPCONV_ISA", "bogus")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown ISA"));
}
