//! The safetensors loader on arbitrary bytes: errors are fine, panics are not. Also checks
//! that whatever loads saves and loads back to the same model.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((config, weights)) = sepconv::io::load_safetensors(data) {
        let bytes = sepconv::io::save_safetensors(&config, &weights).expect("saves");
        let again = sepconv::io::load_safetensors(&bytes).expect("loads back");
        assert_eq!(again, (config, weights));
    }
});
