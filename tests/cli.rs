//! The `sepconv` command line: `info` and `bench` (text and JSON schema).

mod common;

fn sepconv(args: &[&str]) -> (bool, String, String) {
    let out = common::bin_command(env!("CARGO_BIN_EXE_sepconv"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn info_names_features_isa_and_kernels() {
    let (ok, out, err) = sepconv(&["info"]);
    assert!(ok, "{err}");
    for key in [
        "cpu features:",
        "isa in use:",
        "kernels:",
        "fma peak:",
        "int8 peak:",
    ] {
        assert!(out.contains(key), "{key} missing in\n{out}");
    }
}

/// `sepconv bench` on a tiny model (0.25-32, 2 timed runs) with `extra` arguments.
fn small_bench(extra: &[&str]) -> (bool, String, String) {
    let base = ["bench", "--alpha", "0.25", "--res", "32", "--runs", "2"];
    sepconv(&[&base[..], extra].concat())
}

#[test]
fn bench_json_has_the_documented_schema() {
    let (ok, out, err) = small_bench(&["--json", "--layers"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["latency_ms"]["median"].as_f64().unwrap() > 0.0);
    assert!(
        v["latency_ms"]["min"].as_f64().unwrap() <= v["latency_ms"]["median"].as_f64().unwrap()
    );
    assert!(v["gflops"].as_f64().unwrap() > 0.0);
    assert!(v["peak_gflops"].as_f64().unwrap() > 0.0);
    assert_eq!(v["threads"], 1);
    assert!(v["isa"].is_string());
    let layers = v["layers"].as_array().unwrap();
    // conv0 + 13 x (dw, pw) + pool + fc
    assert_eq!(layers.len(), 29);
    assert_eq!(layers[0]["kind"], "conv0");
    assert_eq!(layers[1]["name"], "dw1");
    assert_eq!(layers[2]["kind"], "pw");
    for l in layers {
        assert!(l["ms"].as_f64().unwrap() >= 0.0);
        assert!(l["gflops"].is_number());
    }
    assert!(v["against"].is_null());

    // A second model timed in alternation: its own fusion setting and latency.
    let (ok, out, err) = small_bench(&["--json", "--threads", "2", "--against", "never"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let against = &v["against"];
    assert_eq!(against["fuse"], "never");
    assert_eq!(against["depth_first_blocks"], 0);
    let (median, min) = (
        against["latency_ms"]["median"].as_f64().unwrap(),
        against["latency_ms"]["min"].as_f64().unwrap(),
    );
    assert!(min > 0.0 && min <= median, "{against}");
}

#[test]
fn bench_int8_json_has_the_documented_schema() {
    let (ok, out, err) = small_bench(&["--dtype", "int8", "--json", "--layers"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["dtype"], "int8");
    assert!(v["latency_ms"]["median"].as_f64().unwrap() > 0.0);
    assert!(v["gops"].as_f64().unwrap() > 0.0);
    assert!(v["peak_gops"].as_f64().unwrap() > 0.0);
    assert!(v["peak_gflops"].as_f64().unwrap() > 0.0);
    assert!(v["f32"]["latency_ms"]["median"].as_f64().unwrap() > 0.0);
    assert!(v["kernels"]
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["op"] == "q8 gemm"));
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 29);
    assert_eq!(layers[1]["kind"], "dw");
    assert!(layers.iter().all(|l| l["gops"].is_number()));
    assert!(v["kinds"]["pw"]["int8_ms"].as_f64().unwrap() > 0.0);
    assert!(v["kinds"]["pw"]["f32_ms"].as_f64().unwrap() > 0.0);
    let (ok, out, err) = small_bench(&["--dtype", "int8", "--threads", "2", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["threads"], 2);
    let (ok, _, err) = small_bench(&["--dtype", "int4"]);
    assert!(!ok && err.contains("dtype"), "{err}");
}

#[test]
fn bench_text_with_layers_and_bad_arguments() {
    let (ok, out, err) = small_bench(&["--layers", "--threads", "2"]);
    assert!(ok, "{err}");
    assert!(out.contains("latency: median"), "{out}");
    assert!(out.contains("pw13"), "{out}");
    let (ok, out, err) = small_bench(&["--against", "always"]);
    assert!(ok, "{err}");
    assert!(out.contains("against fusion always"), "{out}");
    let (ok, _, err) = sepconv(&["bench", "--res", "32", "--against", "sometimes"]);
    assert!(!ok);
    assert!(err.contains("against"), "{err}");
    let (ok, _, err) = sepconv(&["bench", "--alpha=-1"]);
    assert!(!ok);
    assert!(err.contains("alpha"), "{err}");
    let (ok, _, err) = sepconv(&["bench", "--threads", "0", "--res", "32"]);
    assert!(!ok);
    assert!(err.contains("threads"), "{err}");
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn run_npy_writes_onnx_runtimes_output() {
    let out = std::env::temp_dir().join(format!("sepconv-cli-{}.npy", std::process::id()));
    let (ok, stdout, err) = sepconv(&[
        "run",
        "--model",
        &fixture("pytorch_a025_r128.onnx"),
        "--input",
        &fixture("pytorch_a025_r128_input.npy"),
        "--output",
        out.to_str().unwrap(),
        "--top",
        "3",
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("top 3"), "{stdout}");
    let got = sepconv::io::read_npy_file(&out).unwrap();
    let want = sepconv::io::read_npy_file(fixture("pytorch_a025_r128_output.npy")).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(got.shape, vec![1, 100]);
    let scale = want.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (g, w) in got.data.iter().zip(&want.data) {
        assert!((g - w).abs() <= 1e-4 * scale, "{g} vs {w}");
    }
}

#[test]
fn run_image_and_errors() {
    let (ok, stdout, err) = sepconv(&[
        "run",
        "--model",
        &fixture("pytorch_a025_r128.onnx"),
        "--input",
        &fixture("gradient_40x30.png"),
        "--top",
        "2",
    ]);
    assert!(ok, "{err}");
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    // A tensor of the wrong resolution is refused naming both shapes.
    let (ok, _, err) = sepconv(&[
        "run",
        "--model",
        &fixture("pytorch_a025_r128.onnx"),
        "--input",
        &fixture("opset18_a025_r32_input.npy"),
    ]);
    assert!(!ok);
    assert!(err.contains("128, 128") && err.contains("32, 32"), "{err}");
    let (ok, _, err) = sepconv(&["run", "--model", "/nonexistent.onnx", "--input", "x.npy"]);
    assert!(!ok);
    assert!(err.contains("/nonexistent.onnx"), "{err}");
}

/// An int8 TFLite file on its own int8 (`|i1`) inputs, 20 images in one batch: each layer's
/// quantization printed, XNNPACK's top-1 class per image; codes into a float model refused.
#[test]
fn run_int8_codes_through_a_quantized_file() {
    let out = std::env::temp_dir().join(format!("sepconv-cli-q8-{}.npy", std::process::id()));
    let model = fixture("q8_tflite/mobilenet_a025_r128_int8io.tflite");
    let input = fixture("q8_tflite/mobilenet_a025_r128_input.npy");
    let (ok, stdout, err) = sepconv(&[
        "run",
        "--model",
        &model,
        "--input",
        &input,
        "--output",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("int8 (a quantized model)"), "{stdout}");
    assert!(stdout.contains("pool:   TfliteMean"), "{stdout}");
    let got = sepconv::io::read_npy_file(&out).unwrap();
    std::fs::remove_file(&out).ok();
    let want = sepconv::io::read_npy_tensor_file(fixture(
        "q8_tflite/mobilenet_a025_r128_int8io_xnnpack.npy",
    ))
    .unwrap();
    let sepconv::io::NpyData::I8(want) = want.data else {
        panic!("XNNPACK's logits are int8 codes");
    };
    let classes = got.shape[1];
    assert_eq!((got.shape[0], want.len()), (20, 20 * classes));
    let argmax = |row: &[f32]| (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
    for (i, (g, w)) in got
        .data
        .chunks(classes)
        .zip(want.chunks(classes))
        .enumerate()
    {
        let w: Vec<f32> = w.iter().map(|&v| f32::from(v)).collect();
        assert_eq!(argmax(g), argmax(&w), "image {i}");
    }
    // int8 codes into a float model: refused, naming the file.
    let (ok, _, err) = sepconv(&[
        "run",
        "--model",
        &fixture("pytorch_a025_r128.onnx"),
        "--input",
        &input,
    ]);
    assert!(
        !ok && err.contains("int8 codes") && err.contains("input.npy"),
        "{err}"
    );
}

#[test]
fn info_model_prints_the_imported_layers() {
    let (ok, out, err) = sepconv(&["info", "--model", &fixture("keras_pad_a0125_r64.onnx")]);
    assert!(ok, "{err}");
    assert!(
        out.contains("MobileNet V1, alpha 0.125, resolution 64"),
        "{out}"
    );
    // conv0 at stride 2 with TF-SAME pads (bottom/right), ReLU6, its MACs.
    let conv0 = out.lines().find(|l| l.contains("features.0/Conv")).unwrap();
    for part in ["conv3x3", "64x64x3", "32x32x4", "0011", "Relu6", "110592"] {
        assert!(conv0.contains(part), "{conv0}");
    }
    assert_eq!(out.lines().filter(|l| l.contains("dw3x3")).count(), 13);
    assert!(out.contains("classifier 128 -> 10"), "{out}");
    let (ok, _, err) = sepconv(&["info", "--model", &fixture("no_such.onnx")]);
    assert!(!ok && err.contains("no_such.onnx"), "{err}");
}

#[test]
fn info_model_prints_each_layers_quantization() {
    let f = fixture("q8_tflite/mobilenet_a025_r128_int8io.tflite");
    let (ok, out, err) = sepconv(&["info", "--model", &f]);
    assert!(ok, "{err}");
    // The file's int8 input: s8 zero point -1 (u8 127), XNNPACK's reciprocal rounding.
    let input = out.lines().find(|l| l.starts_with("int8:")).unwrap();
    for part in [
        "input I8",
        "scale 7.843",
        "zero point -1",
        "Reciprocal",
        "output I8",
    ] {
        assert!(input.contains(part), "{input}");
    }
    let rows: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("int8:"))
        .skip(2)
        .take_while(|l| !l.starts_with("pool:"))
        .collect();
    assert_eq!(rows.len(), 27, "{out}");
    // conv0: the input's u8 zero point, ReLU6 clamps on its output grid.
    assert!(rows[0].contains("7.8431e-3  127"), "{}", rows[0]);
    assert!(out.contains("pool:   TfliteMean"), "{out}");
    assert!(out.contains("fc:") && out.contains("int8 logits"), "{out}");
    // A float model has no quantization section.
    let (ok, out, _) = sepconv(&["info", "--model", &fixture("keras_pad_a0125_r64.onnx")]);
    assert!(ok && !out.contains("int8:"), "{out}");
}

#[test]
fn bench_plot_draws_each_layer_against_its_roofline() {
    let dir = std::env::temp_dir().join(format!("sepconv-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("roofline.svg");
    let path = svg.to_str().unwrap();
    let (ok, out, err) = small_bench(&["--dtype", "int8", "--plot", path]);
    assert!(ok, "{err}");
    assert!(out.contains("roofline of each layer"), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
    // Both panels, the compute roofs and both memory roofs, and one dot per layer and
    // head step of each: 27 convolutions, the pool and the classifier.
    for s in [
        "f32, ",
        "int8, ",
        "FMA peak",
        "int8 peak",
        "L2 (512 KiB)",
        "memory (256 MiB)",
    ] {
        assert!(text.contains(s), "no {s:?} in the plot");
    }
    let dots = text.matches("<circle").count();
    assert!(dots >= 2 * 29, "{dots} dots");
    // An unwritable path is an error naming it.
    let bad = dir.join("missing/dir/x.svg");
    let (ok, _, err) = small_bench(&["--plot", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("missing/dir"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_int8_against() {
    let (ok, out, err) = small_bench(&["--dtype", "int8", "--against", "f32"]);
    assert!(ok, "{err}");
    assert!(out.contains("f32, runs alternating"), "{out}");
    let (ok, out, err) = small_bench(&["--dtype", "int8", "--against", "none", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["f32"].is_null(), "{v}");
    assert!(v["latency_ms"]["median"].as_f64().unwrap() > 0.0);
    let (ok, _, err) = small_bench(&["--dtype", "int8", "--against", "never"]);
    assert!(!ok && err.contains("f32 or none"), "{err}");
    let (ok, _, err) = small_bench(&["--against", "f32"]);
    assert!(!ok && err.contains("--dtype int8"), "{err}");
}

/// tests/quantize.rs's seeded calibration images (seed 1), in the model's layout.
fn hashed_images(n: usize, dims: [usize; 3]) -> Vec<f32> {
    (0..n * dims.iter().product::<usize>())
        .map(|i| {
            let mut x = (i as u32).wrapping_add(1 << 24);
            x = x.wrapping_mul(0x9E37_79B1);
            x ^= x >> 16;
            x = x.wrapping_mul(0x045D_9F3B);
            x ^= x >> 16;
            (x >> 24) as f32 / 128.0 - 1.0
        })
        .collect()
}

#[test]
fn quantize_writes_the_fixture_and_names_bad_inputs() {
    let dir = std::env::temp_dir().join(format!("sepconv-quantize-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).display().to_string();
    // NHWC calibration images of the Keras fixture: the committed quantized file.
    let calib = path("calib.npy");
    sepconv::io::write_npy_file(&calib, &[8, 128, 128, 3], &hashed_images(8, [128, 128, 3]))
        .unwrap();
    let model = fixture("exporters/keras_tf2onnx_a025_r128.onnx");
    let out = path("q.onnx");
    let args = [
        "quantize",
        "--model",
        &model,
        "--calib",
        &calib,
        "--out",
        &out,
        "--method",
        "percentile=99.99",
        "-v",
    ];
    let (ok, stdout, err) = sepconv(&args);
    assert!(ok, "{err}");
    assert!(
        stdout.contains("wrote") && stdout.contains("conv_pw_13"),
        "{stdout}"
    );
    let want = std::fs::read(fixture("quantize/keras_p9999_a025_r128.onnx")).unwrap();
    assert!(
        std::fs::read(&out).unwrap() == want,
        "the CLI's file differs"
    );

    // A directory of images and .npy files, limited by --calib-count.
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::copy(fixture("gradient_40x30.png"), images.join("a.png")).unwrap();
    std::fs::copy(&calib, images.join("b.npy")).unwrap();
    std::fs::write(images.join("notes.txt"), "not an image").unwrap();
    let images_s = images.display().to_string();
    let (ok, stdout, err) = sepconv(&[
        "quantize",
        "--model",
        &model,
        "--calib",
        &images_s,
        "--out",
        &out,
        "--calib-count",
        "3",
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("3 image(s)"), "{stdout}");

    let fails = |calib: &str, out: &str, extra: &[&str]| {
        let mut a = vec![
            "quantize", "--model", &model, "--calib", calib, "--out", out,
        ];
        a.extend_from_slice(extra);
        let (ok, _, err) = sepconv(&a);
        assert!(!ok, "{a:?} succeeded");
        err
    };
    let empty = path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = fails(&empty, &out, &[]);
    assert!(e.contains("empty") && e.contains("no .npy"), "{e}");
    let small = path("small.npy");
    sepconv::io::write_npy_file(&small, &[2, 3, 64, 64], &vec![0.0; 2 * 3 * 64 * 64]).unwrap();
    let e = fails(&small, &out, &[]);
    assert!(
        e.contains("small.npy") && e.contains("[2, 3, 64, 64]"),
        "{e}"
    );
    let nan = path("nan.npy");
    let mut data = hashed_images(1, [128, 128, 3]);
    data[7] = f32::NAN;
    sepconv::io::write_npy_file(&nan, &[1, 128, 128, 3], &data).unwrap();
    let e = fails(&nan, &out, &[]);
    assert!(e.contains("nan.npy") && e.contains("not finite"), "{e}");
    let e = fails(&calib, &path("missing/dir/q.onnx"), &[]);
    assert!(e.contains("missing/dir/q.onnx"), "{e}");
    let e = fails(&calib, &out, &["--method", "median"]);
    assert!(e.contains("minmax"), "{e}");
    let e = fails(&path("nothing.npy"), &out, &[]);
    assert!(e.contains("nothing.npy"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_model_files_alternately() {
    let q8 = format!(
        "{}/tests/fixtures/q8_onnx/keras_a025_r128_qdq_u8.onnx",
        env!("CARGO_MANIFEST_DIR")
    );
    let f32 = fixture("pytorch_a025_r128.onnx");
    let (ok, out, err) = sepconv(&[
        "bench",
        "--model",
        &q8,
        "--against-model",
        &f32,
        "--runs",
        "2",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["dtype"], "int8");
    assert_eq!(models[1]["dtype"], "f32");
    for m in models {
        assert!(m["median_ms"].as_f64().unwrap() > 0.0, "{m}");
        assert!(m["gops"].as_f64().unwrap() > 0.0, "{m}");
    }
    // A float file quantized on seeded images with --dtype int8, in text.
    let (ok, out, err) = sepconv(&["bench", "--model", &f32, "--dtype", "int8", "--runs", "2"]);
    assert!(ok, "{err}");
    assert!(out.contains("int8 ") && out.contains("median"), "{out}");
    // Per-layer output is the built-in network's.
    let (ok, _, err) = sepconv(&["bench", "--model", &f32, "--layers"]);
    assert!(!ok && err.contains("--layers"), "{err}");
    let (ok, _, err) = sepconv(&["bench", "--model", "/nonexistent.onnx"]);
    assert!(!ok && err.contains("/nonexistent.onnx"), "{err}");
}
