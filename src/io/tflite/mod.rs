//! TFLite import: a float32 `.tflite` flatbuffer lowered into the import IR
//! ([`crate::io::graph::Graph`]), then run through the graph passes.
//!
//! The file is checked whole before anything is read: the "TFL3" identifier, then the
//! flatbuffers verifier over every table the lowering reads ([`schema`]), so a malformed
//! file gives an error, never a panic or a read out of bounds. Subgraph 0 must be one chain
//! from its single data input to its first output (a Softmax of that output feeding a
//! second output, as Keras exports, is ignored); branches, cycles, dangling inputs and
//! operators off the chain are refused with an error naming the operator (index and
//! opcode) or the tensor.
//!
//! Operators map onto the IR as follows (layout NHWC throughout): CONV_2D and
//! DEPTHWISE_CONV_2D to `Conv` (OHWI weights, fused activation as the clamp, SAME padding
//! as `Pads::SameUpper`), FULLY_CONNECTED to `Dense`, AVERAGE_POOL_2D, MEAN, RESHAPE,
//! SQUEEZE, SOFTMAX (beta 1), PAD (constant paddings), ADD/SUB/MUL/DIV with a constant
//! operand, RELU/RELU6/RELU_N1_TO_1. Everything else (QUANTIZE, DEQUANTIZE, a depth
//! multiplier above 1, ...) becomes `Op::Unsupported`, which the passes report. Tensors
//! other than float32 on the data path or as weights are refused here: quantized models
//! come later.
//!
//! Submodules: `schema` the flatbuffer accessors, `tensors` tensor data and names,
//! `lower` the chain, `ops` each operator.

mod lower;
mod ops;
pub mod schema;
mod tensors;

use self::tensors::err;
use crate::io::graph::{passes, Graph, Imported};
use crate::net::{MobileNetConfig, MobileNetWeights};
use crate::{Error, Result};

/// Lowers a TFLite model's subgraph 0 into the import IR, without running the passes.
pub fn lower_tflite(bytes: &[u8]) -> Result<Graph> {
    if bytes.len() < 8 {
        return Err(err(format!(
            "the file is {} bytes, too short for a flatbuffer",
            bytes.len()
        )));
    }
    if &bytes[4..8] != schema::FILE_IDENTIFIER.as_bytes() {
        return Err(err(format!(
            "not a TFLite model: bytes 4..8 are {:?}, expected the identifier \"{}\"",
            String::from_utf8_lossy(&bytes[4..8]),
            schema::FILE_IDENTIFIER
        )));
    }
    let model = schema::root(bytes).map_err(|e| {
        err(format!(
            "not a valid TFLite flatbuffer ({} bytes): {e}",
            bytes.len()
        ))
    })?;
    lower::lower(bytes, model)
}

/// Imports a TFLite model: [`lower_tflite`], then the graph passes into a network. Every
/// model error starts with "TFLite: ".
pub fn import_tflite(bytes: &[u8]) -> Result<Imported> {
    passes::import(lower_tflite(bytes)?).map_err(|e| match e {
        Error::Model(m) if !m.starts_with("TFLite") => Error::Model(format!("TFLite: {m}")),
        e => e,
    })
}

/// Loads a TFLite MobileNet V1 from its bytes; any other network is an error (see
/// [`import_tflite`]).
pub fn load_tflite(bytes: &[u8]) -> Result<(MobileNetConfig, MobileNetWeights)> {
    import_tflite(bytes)?.into_mobilenet()
}

#[cfg(test)]
mod tests;
