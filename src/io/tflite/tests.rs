//! The schema constants against TFLite's schema.fbs, and the checks before the verifier.
//! Whole models are tested in tests/tflite.rs.

use super::schema::{builtin, options, tensor_type, verifier_options};
use super::*;

#[test]
fn builtin_names_follow_the_schema_enum() {
    for (code, name) in [
        (builtin::ADD, "ADD"),
        (builtin::AVERAGE_POOL_2D, "AVERAGE_POOL_2D"),
        (builtin::CONV_2D, "CONV_2D"),
        (builtin::DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D"),
        (builtin::DEQUANTIZE, "DEQUANTIZE"),
        (builtin::FLOOR, "FLOOR"),
        (builtin::FULLY_CONNECTED, "FULLY_CONNECTED"),
        (builtin::MUL, "MUL"),
        (builtin::RELU, "RELU"),
        (builtin::RELU6, "RELU6"),
        (builtin::RESHAPE, "RESHAPE"),
        (builtin::SOFTMAX, "SOFTMAX"),
        (builtin::CUSTOM, "CUSTOM"),
        (builtin::PAD, "PAD"),
        (builtin::MEAN, "MEAN"),
        (builtin::SUB, "SUB"),
        (builtin::DIV, "DIV"),
        (builtin::SQUEEZE, "SQUEEZE"),
        (builtin::QUANTIZE, "QUANTIZE"),
        (builtin::HARD_SWISH, "HARD_SWISH"),
        (126, "BATCH_MATMUL"),
        (
            builtin::PLACEHOLDER_FOR_GREATER_OP_CODES,
            "PLACEHOLDER_FOR_GREATER_OP_CODES",
        ),
    ] {
        assert_eq!(builtin::name(code), name, "code {code}");
    }
    assert_eq!(builtin::name(150), "BUILTIN_OPERATOR_150");
    assert_eq!(builtin::name(-3), "BUILTIN_OPERATOR_-3");
}

#[test]
fn tensor_type_names() {
    assert_eq!(tensor_type::name(tensor_type::FLOAT32), "FLOAT32");
    assert_eq!(tensor_type::name(tensor_type::INT8), "INT8");
    assert_eq!(tensor_type::name(tensor_type::UINT8), "UINT8");
    assert_eq!(tensor_type::name(tensor_type::INT32), "INT32");
    assert_eq!(tensor_type::name(tensor_type::INT64), "INT64");
    assert_eq!(tensor_type::name(17), "INT4");
    assert_eq!(tensor_type::name(-1), "type -1");
}

#[test]
fn option_tags_are_one_based_union_positions() {
    // union BuiltinOptions { Conv2DOptions, DepthwiseConv2DOptions, ConcatEmbeddingsOptions,
    // LSHProjectionOptions, Pool2DOptions, SVDFOptions, RNNOptions, FullyConnectedOptions,
    // SoftmaxOptions, ConcatenationOptions, AddOptions, ... }
    assert_eq!(
        [
            options::CONV_2D,
            options::DEPTHWISE_CONV_2D,
            options::POOL_2D,
            options::FULLY_CONNECTED,
            options::SOFTMAX,
            options::ADD,
            options::RESHAPE,
            options::MUL,
            options::PAD,
            options::REDUCER,
            options::SUB,
            options::DIV,
            options::SQUEEZE,
        ],
        [1, 2, 5, 8, 9, 11, 17, 21, 22, 27, 28, 29, 30]
    );
}

#[test]
fn verifier_limits_scale_with_the_file() {
    let small = verifier_options(100);
    assert_eq!(small.max_depth, 16);
    assert_eq!(small.max_tables, 26);
    assert!(small.max_apparent_size >= 200);
    assert!(verifier_options(usize::MAX).max_apparent_size == usize::MAX);
}

#[test]
fn short_and_foreign_files_are_refused_before_the_verifier() {
    for bytes in [&b""[..], b"TFL3", b"\x10\0\0\0TFL"] {
        let e = lower_tflite(bytes).unwrap_err().to_string();
        assert!(e.contains("too short"), "{e}");
    }
    let e = lower_tflite(b"\x10\0\0\0ONNXabcdefgh")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a TFLite model"), "{e}");
    let e = lower_tflite(b"\x10\0\0\0TFL3abcdefgh")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a valid TFLite flatbuffer"), "{e}");
}
