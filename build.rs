//! Assembles the hand-written microkernels in `kernels/<target arch>/*.S` for the target
//! being built (not the host), so cross builds pick the right sources and compiler.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(sepconv_asm)");
    println!("cargo::rerun-if-changed=kernels");

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // The kernels follow the SysV (x86-64) and AAPCS64 calling conventions; Windows x64
    // uses another one, so it gets the Rust kernels only.
    if os == "windows" || !matches!(arch.as_str(), "x86_64" | "aarch64") {
        return;
    }

    let dir = Path::new("kernels").join(&arch);
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "S"))
        .collect();
    sources.sort();
    if sources.is_empty() {
        return;
    }

    cc::Build::new()
        .files(&sources)
        .include("kernels/common")
        .warnings(true)
        .compile("sepconv_kernels");
    println!("cargo::rustc-cfg=sepconv_asm");
}
