//! The element types at a model's edges.

/// What a file states at one edge of a model: floats (quantized or dequantized inside),
/// or raw int8 / uint8 codes with the edge tensor's scale and zero point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EdgeType {
    /// f32 (TFLite QUANTIZE / DEQUANTIZE, ONNX QuantizeLinear / DequantizeLinear at the
    /// edge, or an f32 model).
    #[default]
    F32,
    /// Raw s8 codes.
    I8,
    /// Raw u8 codes.
    U8,
}
