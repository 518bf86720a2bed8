//! The TFLite importer on arbitrary bytes: errors are fine, panics are not. Seed the corpus
//! with tests/fixtures/tflite/*.tflite.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(imported) = sepconv::io::import_tflite(data) {
        // Whatever imports must be a consistent network.
        if let Ok((config, weights)) = imported.into_mobilenet() {
            weights.validate(&config).expect("an imported MobileNet validates");
        }
    }
});
