//! The C ABI from C: examples/c/main.c is compiled against the static and the shared
//! library, run on a fixture model, and (where valgrind exists) checked for leaks and
//! invalid accesses.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `cargo test` left libsepconv.a and libsepconv.so: its deps/ folder, which every
/// `cargo test` rebuilds (the copies beside the binary are only refreshed by `cargo build`
/// and may be stale), else beside the sepconv binary.
fn target_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_sepconv")).parent().unwrap();
    [dir.join("deps"), dir.to_path_buf()]
        .into_iter()
        .find(|d| d.join("libsepconv.a").exists() && d.join("libsepconv.so").exists())
        .expect("cargo builds libsepconv.a and libsepconv.so with the tests")
}

/// The C compiler: `SEPCONV_TEST_CC` (CI sets the cross compiler under qemu), else `cc`.
fn compiler() -> String {
    std::env::var("SEPCONV_TEST_CC").unwrap_or_else(|_| "cc".into())
}

fn compile(out: &Path, link: &[String]) {
    let root = env!("CARGO_MANIFEST_DIR");
    let status = Command::new(compiler())
        .args(["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-g"])
        .arg(format!("-I{root}/include"))
        .arg(format!("{root}/examples/c/main.c"))
        .arg("-o")
        .arg(out)
        .args(link)
        .status()
        .expect("a C compiler (cc) is installed");
    assert!(status.success(), "compiling examples/c/main.c failed");
}

/// The PyTorch ONNX fixture (NCHW logits).
fn fixture_args() -> Vec<String> {
    let f = format!(
        "{}/tests/fixtures/pytorch_a025_r128",
        env!("CARGO_MANIFEST_DIR")
    );
    vec![
        format!("{f}.onnx"),
        format!("{f}_input.npy"),
        format!("{f}_output.npy"),
        "nchw".into(),
    ]
}

/// A TFLite model without its top (Keras include_top=False): NHWC in, 256 features out.
fn tflite_embedding_args() -> Vec<String> {
    let f = format!(
        "{}/tests/fixtures/exporters/keras_notop_tflite_a025_r128",
        env!("CARGO_MANIFEST_DIR")
    );
    vec![
        format!("{f}.tflite"),
        format!("{f}_input.npy"),
        format!("{f}_output.npy"),
        "nhwc".into(),
    ]
}

fn run(exe: &Path, valgrind: bool) {
    run_with(exe, valgrind, fixture_args());
}

fn run_with(exe: &Path, valgrind: bool, args: Vec<String>) {
    let mut cmd = if valgrind {
        let mut c = Command::new("valgrind");
        c.args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            "-q",
        ])
        .arg(exe);
        c
    } else {
        common::bin_command(exe.to_str().unwrap())
    };
    // cargo puts target/<profile> on LD_LIBRARY_PATH, which outranks the program's runpath
    // and may hold a stale libsepconv.so from an earlier `cargo build`.
    let out = cmd
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({:?}):\n{stdout}\n{stderr}",
        exe.display(),
        out.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

fn valgrind_usable() -> bool {
    // Not under an emulator (the binary may be for another architecture), and not in the
    // forced-ISA runs: valgrind does not emulate AVX-512, and one valgrind run suffices.
    std::env::var("SEPCONV_TEST_RUNNER").is_err()
        && std::env::var("SEPCONV_ISA").is_err()
        && Command::new("valgrind").arg("--version").output().is_ok()
}

#[test]
fn c_program_against_the_static_library() {
    let dir = target_dir();
    let exe = std::env::temp_dir().join(format!("sepconv_c_static_{}", std::process::id()));
    let libs = "-lm -lrt -lpthread -lgcc_s -lutil -ldl -lc";
    let mut link = vec![dir.join("libsepconv.a").display().to_string()];
    link.extend(libs.split(' ').map(String::from));
    compile(&exe, &link);
    run(&exe, false);
    if valgrind_usable() {
        run(&exe, true);
    }
}

#[test]
fn c_program_against_the_shared_library() {
    let dir = target_dir();
    let exe = std::env::temp_dir().join(format!("sepconv_c_shared_{}", std::process::id()));
    compile(
        &exe,
        &[
            format!("-L{}", dir.display()),
            "-lsepconv".into(),
            format!("-Wl,-rpath,{}", dir.display()),
            "-lm".into(),
        ],
    );
    run(&exe, false);
    run_with(&exe, false, tflite_embedding_args());
}
