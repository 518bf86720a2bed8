//! The TFLite importer on arbitrary bytes, and on mutations of a small valid model
//! (tests/tflite/builder.rs), so that inputs reach the lowering past the verifier:
//! errors are fine, panics are not. Seed the corpus with tests/fixtures/tflite/*.tflite.
//!
//! An input starting with 0 is a list of mutations, 3 bytes each (a little-endian u16
//! offset into the model, modulo its length, and the byte to write there); any other input
//! is the file itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "../../tests/tflite/builder.rs"]
mod builder;

fn tiny() -> &'static [u8] {
    static TINY: OnceLock<Vec<u8>> = OnceLock::new();
    TINY.get_or_init(|| builder::tiny().build())
}

fn check(bytes: &[u8]) {
    let _ = sepconv::io::lower_tflite(bytes);
    if let Ok(imported) = sepconv::io::import_tflite(bytes) {
        // Whatever imports must be a consistent network.
        if let Ok((config, weights)) = imported.into_mobilenet() {
            weights
                .validate(&config)
                .expect("an imported MobileNet validates");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((0, edits)) => {
            let mut model = tiny().to_vec();
            for e in edits.chunks_exact(3) {
                let at = usize::from(u16::from_le_bytes([e[0], e[1]])) % model.len();
                model[at] = e[2];
            }
            check(&model);
        }
        _ => check(data),
    }
});
