//! The C ABI from C: examples/c/main.c is compiled against the static and the shared
//! library, run on a fixture model, f32 and quantized to int8, and (where valgrind exists)
//! checked for leaks and invalid accesses. The int8 runs must give the bits of the Rust
//! run, which this file computes and hands over as .npy files.

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

/// Calibration of the int8 runs: seeded images and seed, as the C program passes them.
const CALIBRATION_IMAGES: usize = 1;
const CALIBRATION_SEED: u64 = 7;

/// The PyTorch ONNX fixture (NCHW logits).
fn fixture_args() -> Vec<String> {
    let f = format!(
        "{}/tests/fixtures/pytorch_a025_r128",
        env!("CARGO_MANIFEST_DIR")
    );
    with_int8(vec![
        format!("{f}.onnx"),
        format!("{f}_input.npy"),
        format!("{f}_output.npy"),
        "nchw".into(),
    ])
}

/// `args` and what the int8 run of its model must give, as the Rust API runs it: the
/// model quantized on seeded calibration images, its input's u8 codes (NHWC, as floats)
/// and its f32 output, written to the temporary directory.
fn with_int8(mut args: Vec<String>) -> Vec<String> {
    use sepconv::io::{load_network, read_npy_file, write_npy_file};
    use sepconv::net::q8::quantize::{calibrate, quantize, seeded_images};
    use sepconv::net::q8::Q8Model;
    let m = load_network(&args[0]).unwrap();
    let net = &m.network;
    let images = seeded_images(net, CALIBRATION_IMAGES, CALIBRATION_SEED);
    let cal = calibrate(net, &m.weights, &images).unwrap();
    let q = quantize(net, &m.weights, &cal).unwrap();
    let model = Q8Model::build(q, sepconv::net::Options::default()).unwrap();
    let x = read_npy_file(&args[1]).unwrap().data;
    let mut out = vec![0.0; model.output_len()];
    let mut ws = model.workspace(1).unwrap();
    let (c, hw) = (net.in_c, net.in_h * net.in_w);
    let nhwc: Vec<f32> = if args[3] == "nchw" {
        model.run_nchw(&mut ws, &x, 1, &mut out).unwrap();
        (0..hw * c).map(|i| x[(i % c) * hw + i / c]).collect()
    } else {
        model.run(&mut ws, &x, 1, &mut out).unwrap();
        x
    };
    let codes: Vec<f32> = nhwc
        .iter()
        .map(|&v| f32::from(model.input_quant().quantize(v)))
        .collect();
    let stem = std::path::Path::new(&args[0])
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // The two tests run in parallel on the same fixtures: one file pair per call, or one
    // test rewrites the files while the other's C program reads them.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tag = format!("{stem}_{}_{call}", std::process::id());
    let dir = std::env::temp_dir();
    let codes_path = dir.join(format!("sepconv_c_{tag}_codes.npy"));
    let out_path = dir.join(format!("sepconv_c_{tag}_int8.npy"));
    write_npy_file(&codes_path, &[1, net.in_h, net.in_w, c], &codes).unwrap();
    write_npy_file(&out_path, &[1, out.len()], &out).unwrap();
    args.push(codes_path.display().to_string());
    args.push(out_path.display().to_string());
    args
}

/// A TFLite model without its top (Keras include_top=False): NHWC in, 256 features out.
fn tflite_embedding_args() -> Vec<String> {
    let f = format!(
        "{}/tests/fixtures/exporters/keras_notop_tflite_a025_r128",
        env!("CARGO_MANIFEST_DIR")
    );
    with_int8(vec![
        format!("{f}.tflite"),
        format!("{f}_input.npy"),
        format!("{f}_output.npy"),
        "nhwc".into(),
    ])
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
        .args(&args)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    // The int8 files were written for this run.
    for file in args.iter().skip(4) {
        let _ = std::fs::remove_file(file);
    }
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
