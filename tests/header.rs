//! include/sepconv.h is what cbindgen generates from src/ffi/mod.rs and src/kernels/cpu/isa.rs today.
//! `SEPCONV_BLESS=1 cargo test --test header` rewrites it.

#[test]
fn header_is_current() {
    let root = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{root}/cbindgen.toml")).unwrap();
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(format!("{root}/src/ffi/mod.rs"))
        // The ISA and feature enums: their discriminants are the C values.
        .with_src(format!("{root}/src/kernels/cpu/isa.rs"))
        .generate()
        .expect("cbindgen parses src/ffi/mod.rs and src/kernels/cpu/isa.rs")
        .write(&mut generated);
    let path = format!("{root}/include/sepconv.h");
    if std::env::var_os("SEPCONV_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/sepconv.h is stale: run SEPCONV_BLESS=1 cargo test --test header"
    );
}
