//! The ONNX loader (lowering, graph passes, network build) on arbitrary bytes: errors are
//! fine, panics are not. Seed the corpus with tests/fixtures/*.onnx.
//!
//! Random bytes rarely parse as a quantized model, so an input whose first byte is 128 or
//! more instead patches one of the small quantized fixtures built in (QDQ and QOperator,
//! u8 and s8 activations): the rest of the input is (offset, byte) triples overwriting
//! the file, which reaches scales, zero points, axes, dims and types. Whatever loads as
//! an int8 network must validate, build and run.
#![no_main]

use libfuzzer_sys::fuzz_target;

const SEEDS: [&[u8]; 6] = [
    include_bytes!("../../tests/fixtures/q8_onnx/op_pw_gap_gemm_s8.onnx"),
    include_bytes!("../../tests/fixtures/q8_onnx/qop_pw_gap_matmul.onnx"),
    include_bytes!("../../tests/fixtures/q8_onnx/op_dw_s1_relu6.onnx"),
    include_bytes!("../../tests/fixtures/q8_onnx/qop_dw_s2.onnx"),
    include_bytes!("../../tests/fixtures/q8_onnx/op_conv0_s2.onnx"),
    include_bytes!("../../tests/fixtures/q8_onnx/op_pw_gap.onnx"),
];

fn check(data: &[u8]) {
    let Ok(m) = sepconv::io::import_onnx(data) else {
        return;
    };
    // Whatever loads must be a consistent network.
    m.network.validate().expect("an imported network validates");
    m.weights
        .validate(&m.network)
        .expect("an imported network's weights validate");
    let Some(q) = m.quant else { return };
    q.validate().expect("an imported int8 network validates");
    let net = &q.network;
    // Small inputs only: a patched dim may ask for a huge map.
    if net.in_h * net.in_w * net.in_c > 1 << 14 {
        return;
    }
    let Ok(model) = sepconv::net::q8::Q8Model::build(q, Default::default()) else {
        return;
    };
    let mut ws = model.workspace(1).expect("a workspace for one image");
    let input: Vec<f32> = (0..model.input_len())
        .map(|i| (i % 17) as f32 * 0.25 - 2.0)
        .collect();
    let mut out = vec![0.0; model.output_len()];
    model
        .run(&mut ws, &input, 1, &mut out)
        .expect("an int8 model runs");
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((&b, patches)) if b >= 128 => {
            let mut file = SEEDS[usize::from(b) % SEEDS.len()].to_vec();
            for p in patches.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([p[0], p[1]])) % file.len();
                file[at] = p[2];
            }
            check(&file);
        }
        _ => check(data),
    }
});
