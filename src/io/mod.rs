//! Model import and export: ONNX ([`onnx`]), TFLite ([`tflite`]) and safetensors
//! ([`safetensors`]) files into
//! [`MobileNetConfig`] + [`MobileNetWeights`], and f32 `.npy` arrays ([`npy`]).
//!
//! Every malformed file gives a [`crate::Error`] naming the node, tensor or byte offset at
//! fault; nothing here panics on bad input or allocates more than the file's size suggests.

pub mod graph;
pub mod npy;
pub mod onnx;
pub mod safetensors;
pub mod tflite;

use self::graph::{Imported, Layout};
use crate::net::{MobileNetConfig, MobileNetWeights, Network, NetworkWeights};
use crate::{Error, Result};
use std::path::Path;

pub use self::npy::{
    read_npy, read_npy_file, read_npy_tensor, read_npy_tensor_file, write_npy, write_npy_file,
    NpyArray, NpyData, NpyTensor,
};
pub use self::onnx::{import_onnx, load_onnx, load_onnx_file, InputLayout, OnnxModel};
pub use self::safetensors::{
    load_safetensors, load_safetensors_file, save_safetensors, save_safetensors_file,
};
pub use self::tflite::{import_tflite, load_tflite, lower_tflite};

/// Model file formats sepconv reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    Onnx,
    Safetensors,
    /// A float32 `.tflite` flatbuffer (identifier "TFL3").
    Tflite,
}

pub(crate) fn read_path(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

/// Loads a model file, choosing the format by extension (`.onnx`, `.tflite` or
/// `.safetensors`).
pub fn load_model(path: impl AsRef<Path>) -> Result<(MobileNetConfig, MobileNetWeights)> {
    let path = path.as_ref();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match ext.as_deref() {
        Some("onnx") => ModelFormat::Onnx,
        Some("safetensors") => ModelFormat::Safetensors,
        Some("tflite") => ModelFormat::Tflite,
        _ => {
            return Err(Error::Model(format!(
                "{}: unknown model extension (expected .onnx, .tflite or .safetensors)",
                path.display()
            )))
        }
    };
    let bytes = read_path(path)?;
    let loaded = match format {
        ModelFormat::Onnx => load_onnx(&bytes),
        ModelFormat::Safetensors => load_safetensors(&bytes),
        ModelFormat::Tflite => load_tflite(&bytes),
    };
    loaded.map_err(|e| match e {
        Error::Model(m) => Error::Model(format!("{}: {m}", path.display())),
        e => e,
    })
}

/// Loads any supported model file as a network (see [`load_network_bytes`]); the error
/// names the file.
pub fn load_network(path: impl AsRef<Path>) -> Result<Imported> {
    let path = path.as_ref();
    let bytes = read_path(path)?;
    load_network_bytes(&bytes).map_err(|e| match e {
        Error::Model(m) => Error::Model(format!("{}: {m}", path.display())),
        e => e,
    })
}

/// Loads a model from bytes as a network, sniffing the format with [`sniff_format`]:
/// ONNX and TFLite through the graph passes, safetensors as the MobileNet V1 it holds.
pub fn load_network_bytes(bytes: &[u8]) -> Result<Imported> {
    match sniff_format(bytes)? {
        ModelFormat::Onnx => import_onnx(bytes),
        ModelFormat::Tflite => import_tflite(bytes),
        ModelFormat::Safetensors => {
            let (config, weights) = load_safetensors(bytes)?;
            Ok(Imported {
                network: Network::mobilenet(&config)?,
                weights: NetworkWeights::from_mobilenet(&weights),
                input_layout: Layout::Nhwc,
                input_name: "input".into(),
                output_name: "output".into(),
                quant: None,
            })
        }
    }
}

/// Guesses the format of a model file from its first bytes: TFLite has the flatbuffer
/// identifier "TFL3" at bytes 4..8, safetensors starts with a little-endian u64 header
/// length followed by `{`; anything else is tried as ONNX.
pub fn sniff_format(bytes: &[u8]) -> Result<ModelFormat> {
    if bytes.starts_with(b"\x93NUMPY") {
        return Err(Error::Model(
            "this is a .npy array, not a model file".to_string(),
        ));
    }
    if bytes.get(4..8) == Some(tflite::schema::FILE_IDENTIFIER.as_bytes()) {
        return Ok(ModelFormat::Tflite);
    }
    match bytes.get(8) {
        Some(b'{') => Ok(ModelFormat::Safetensors),
        _ => Ok(ModelFormat::Onnx),
    }
}

/// Loads a model from bytes, sniffing the format with [`sniff_format`].
pub fn load_model_bytes(bytes: &[u8]) -> Result<(MobileNetConfig, MobileNetWeights)> {
    match sniff_format(bytes)? {
        ModelFormat::Onnx => load_onnx(bytes),
        ModelFormat::Safetensors => load_safetensors(bytes),
        ModelFormat::Tflite => load_tflite(bytes),
    }
}
