//! The ONNX loader on arbitrary bytes: errors are fine, panics are not. Seed the corpus
//! with tests/fixtures/*.onnx.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((config, weights)) = sepconv::io::load_onnx(data) {
        // Whatever loads must be a consistent model.
        weights.validate(&config).expect("a loaded model validates");
    }
});
