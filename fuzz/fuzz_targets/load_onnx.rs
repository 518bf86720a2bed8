//! The ONNX loader (lowering, graph passes, network build) on arbitrary bytes: errors are
//! fine, panics are not. Seed the corpus with tests/fixtures/*.onnx.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = sepconv::io::import_onnx(data) {
        // Whatever loads must be a consistent network.
        m.network.validate().expect("an imported network validates");
        m.weights
            .validate(&m.network)
            .expect("an imported network's weights validate");
    }
});
