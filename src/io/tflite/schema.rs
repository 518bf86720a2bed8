//! Read-only accessors for the part of TFLite's `schema.fbs` (namespace `tflite`, file
//! identifier "TFL3") that the lowering reads, on the `flatbuffers` runtime without flatc.
//!
//! Field ids, enum values and union tags are those of tensorflow/lite/schema/schema.fbs
//! (fields are numbered in declaration order from 0; a union field takes two ids, its
//! `_type` tag first); checked against schema version 3c (buffers with offset/size).
//! Every table here verifies the fields it declares, so
//! [`root`] (which runs the crate's [`Verifier`] over the whole file first) hands out
//! tables whose every accessor reads only bytes the verifier checked: that is what makes
//! the `unsafe` below sound, and all of it is in this file.

use flatbuffers::{
    field_index_to_field_offset as slot, Follow, ForwardsUOffset, InvalidFlatbuffer, Table,
    TableVerifier, Vector, Verifiable, Verifier, VerifierOptions,
};

/// The file identifier at bytes 4..8 of every TFLite model.
pub const FILE_IDENTIFIER: &str = "TFL3";

/// `TensorType` values.
pub mod tensor_type {
    pub const FLOAT32: i8 = 0;
    pub const FLOAT16: i8 = 1;
    pub const INT32: i8 = 2;
    pub const UINT8: i8 = 3;
    pub const INT64: i8 = 4;
    pub const STRING: i8 = 5;
    pub const BOOL: i8 = 6;
    pub const INT16: i8 = 7;
    pub const COMPLEX64: i8 = 8;
    pub const INT8: i8 = 9;
    pub const FLOAT64: i8 = 10;

    /// The schema's name of a tensor type.
    pub fn name(t: i8) -> String {
        const NAMES: [&str; 18] = [
            "FLOAT32",
            "FLOAT16",
            "INT32",
            "UINT8",
            "INT64",
            "STRING",
            "BOOL",
            "INT16",
            "COMPLEX64",
            "INT8",
            "FLOAT64",
            "COMPLEX128",
            "UINT64",
            "RESOURCE",
            "VARIANT",
            "UINT32",
            "UINT16",
            "INT4",
        ];
        usize::try_from(t)
            .ok()
            .and_then(|i| NAMES.get(i))
            .map_or_else(|| format!("type {t}"), |n| n.to_string())
    }
}

/// `Padding` values.
pub mod padding {
    pub const SAME: i8 = 0;
    pub const VALID: i8 = 1;
}

/// `ActivationFunctionType` values.
pub mod activation {
    pub const NONE: i8 = 0;
    pub const RELU: i8 = 1;
    pub const RELU_N1_TO_1: i8 = 2;
    pub const RELU6: i8 = 3;
    pub const TANH: i8 = 4;
    pub const SIGN_BIT: i8 = 5;
}

/// `BuiltinOperator` codes (those the lowering maps, plus a few it names in errors).
pub mod builtin {
    pub const ADD: i32 = 0;
    pub const AVERAGE_POOL_2D: i32 = 1;
    pub const CONCATENATION: i32 = 2;
    pub const CONV_2D: i32 = 3;
    pub const DEPTHWISE_CONV_2D: i32 = 4;
    pub const DEQUANTIZE: i32 = 6;
    pub const FLOOR: i32 = 8;
    pub const FULLY_CONNECTED: i32 = 9;
    pub const LOGISTIC: i32 = 14;
    pub const MAX_POOL_2D: i32 = 17;
    pub const MUL: i32 = 18;
    pub const RELU: i32 = 19;
    pub const RELU_N1_TO_1: i32 = 20;
    pub const RELU6: i32 = 21;
    pub const RESHAPE: i32 = 22;
    pub const SOFTMAX: i32 = 25;
    pub const CUSTOM: i32 = 32;
    pub const PAD: i32 = 34;
    pub const TRANSPOSE: i32 = 39;
    pub const MEAN: i32 = 40;
    pub const SUB: i32 = 41;
    pub const DIV: i32 = 42;
    pub const SQUEEZE: i32 = 43;
    pub const STRIDED_SLICE: i32 = 45;
    pub const GATHER: i32 = 36;
    pub const CAST: i32 = 53;
    pub const SLICE: i32 = 65;
    pub const SHAPE: i32 = 77;
    pub const PACK: i32 = 83;
    pub const HARD_SWISH: i32 = 117;
    pub const QUANTIZE: i32 = 114;
    /// Codes at or above this are only in `OperatorCode.builtin_code`.
    pub const PLACEHOLDER_FOR_GREATER_OP_CODES: i32 = 127;

    /// The schema's name of the first 128 builtin operators (index = code).
    const NAMES: [&str; 128] = [
        "ADD",
        "AVERAGE_POOL_2D",
        "CONCATENATION",
        "CONV_2D",
        "DEPTHWISE_CONV_2D",
        "DEPTH_TO_SPACE",
        "DEQUANTIZE",
        "EMBEDDING_LOOKUP",
        "FLOOR",
        "FULLY_CONNECTED",
        "HASHTABLE_LOOKUP",
        "L2_NORMALIZATION",
        "L2_POOL_2D",
        "LOCAL_RESPONSE_NORMALIZATION",
        "LOGISTIC",
        "LSH_PROJECTION",
        "LSTM",
        "MAX_POOL_2D",
        "MUL",
        "RELU",
        "RELU_N1_TO_1",
        "RELU6",
        "RESHAPE",
        "RESIZE_BILINEAR",
        "RNN",
        "SOFTMAX",
        "SPACE_TO_DEPTH",
        "SVDF",
        "TANH",
        "CONCAT_EMBEDDINGS",
        "SKIP_GRAM",
        "CALL",
        "CUSTOM",
        "EMBEDDING_LOOKUP_SPARSE",
        "PAD",
        "UNIDIRECTIONAL_SEQUENCE_RNN",
        "GATHER",
        "BATCH_TO_SPACE_ND",
        "SPACE_TO_BATCH_ND",
        "TRANSPOSE",
        "MEAN",
        "SUB",
        "DIV",
        "SQUEEZE",
        "UNIDIRECTIONAL_SEQUENCE_LSTM",
        "STRIDED_SLICE",
        "BIDIRECTIONAL_SEQUENCE_RNN",
        "EXP",
        "TOPK_V2",
        "SPLIT",
        "LOG_SOFTMAX",
        "DELEGATE",
        "BIDIRECTIONAL_SEQUENCE_LSTM",
        "CAST",
        "PRELU",
        "MAXIMUM",
        "ARG_MAX",
        "MINIMUM",
        "LESS",
        "NEG",
        "PADV2",
        "GREATER",
        "GREATER_EQUAL",
        "LESS_EQUAL",
        "SELECT",
        "SLICE",
        "SIN",
        "TRANSPOSE_CONV",
        "SPARSE_TO_DENSE",
        "TILE",
        "EXPAND_DIMS",
        "EQUAL",
        "NOT_EQUAL",
        "LOG",
        "SUM",
        "SQRT",
        "RSQRT",
        "SHAPE",
        "POW",
        "ARG_MIN",
        "FAKE_QUANT",
        "REDUCE_PROD",
        "REDUCE_MAX",
        "PACK",
        "LOGICAL_OR",
        "ONE_HOT",
        "LOGICAL_AND",
        "LOGICAL_NOT",
        "UNPACK",
        "REDUCE_MIN",
        "FLOOR_DIV",
        "REDUCE_ANY",
        "SQUARE",
        "ZEROS_LIKE",
        "FILL",
        "FLOOR_MOD",
        "RANGE",
        "RESIZE_NEAREST_NEIGHBOR",
        "LEAKY_RELU",
        "SQUARED_DIFFERENCE",
        "MIRROR_PAD",
        "ABS",
        "SPLIT_V",
        "UNIQUE",
        "CEIL",
        "REVERSE_V2",
        "ADD_N",
        "GATHER_ND",
        "COS",
        "WHERE",
        "RANK",
        "ELU",
        "REVERSE_SEQUENCE",
        "MATRIX_DIAG",
        "QUANTIZE",
        "MATRIX_SET_DIAG",
        "ROUND",
        "HARD_SWISH",
        "IF",
        "WHILE",
        "NON_MAX_SUPPRESSION_V4",
        "NON_MAX_SUPPRESSION_V5",
        "SCATTER_ND",
        "SELECT_V2",
        "DENSIFY",
        "SEGMENT_SUM",
        "BATCH_MATMUL",
        "PLACEHOLDER_FOR_GREATER_OP_CODES",
    ];

    /// The schema's name of a builtin operator code ("BUILTIN_OPERATOR_200" past the
    /// names this file knows).
    pub fn name(code: i32) -> String {
        usize::try_from(code)
            .ok()
            .and_then(|i| NAMES.get(i))
            .map_or_else(|| format!("BUILTIN_OPERATOR_{code}"), |n| n.to_string())
    }
}

/// `BuiltinOptions` union tags (NONE = 0, then the union's members in order from 1).
pub mod options {
    pub const NONE: u8 = 0;
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const ADD: u8 = 11;
    pub const RESHAPE: u8 = 17;
    pub const MUL: u8 = 21;
    pub const PAD: u8 = 22;
    pub const REDUCER: u8 = 27;
    pub const SUB: u8 = 28;
    pub const DIV: u8 = 29;
    pub const SQUEEZE: u8 = 30;
}

/// Verifier limits for a file of `len` bytes: no legitimate model nests tables deeper than
/// a handful of levels (Model > SubGraph > Tensor > QuantizationParameters), has more
/// tables than 4-byte words, or (DAG sharing aside, which the TFLite converter only does
/// for vtables) an apparent size much beyond its length.
pub fn verifier_options(len: usize) -> VerifierOptions {
    VerifierOptions {
        max_depth: 16,
        max_tables: len / 4 + 1,
        max_apparent_size: len.saturating_mul(2).saturating_add(1 << 16),
        // Names are only shown, never handed to C.
        ignore_missing_null_terminator: true,
    }
}

/// The verified root table of a TFLite flatbuffer (the caller checks the identifier).
pub fn root(bytes: &[u8]) -> Result<Model<'_>, InvalidFlatbuffer> {
    flatbuffers::root_with_opts::<Model>(&verifier_options(bytes.len()), bytes)
}

/// Declares table types: the struct, its `Follow` and `Verifiable` impls and one accessor
/// per field, all from one list, so that every accessor reads its slot as exactly the
/// type the verifier checked there. A field is `name: id => Type = default` (a scalar,
/// read with the schema's default) or `name: id => Type` (an offset, `None` if absent).
/// An optional `extra` function runs after the fields, for union values.
macro_rules! tables {
    ($(
        $(#[$meta:meta])*
        $name:ident $(extra $extra:ident)? {
            $( $(#[$fmeta:meta])* $field:ident : $id:literal => $ty:ty $(= $default:expr)? ; )*
        }
    )*) => {$(
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq)]
        pub struct $name<'a> {
            tab: Table<'a>,
        }

        impl std::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}@{}", stringify!($name), self.tab.loc())
            }
        }

        impl<'a> Follow<'a> for $name<'a> {
            type Inner = $name<'a>;
            unsafe fn follow(buf: &'a [u8], loc: usize) -> Self::Inner {
                // SAFETY: the caller guarantees (as `Follow` requires) that `loc` holds a
                // table of this type, i.e. that `run_verifier` below passed there.
                $name { tab: unsafe { Table::new(buf, loc) } }
            }
        }

        impl<'a> Verifiable for $name<'a> {
            fn run_verifier(v: &mut Verifier, pos: usize) -> Result<(), InvalidFlatbuffer> {
                let tv = v.visit_table(pos)?;
                $( let tv = tv.visit_field::<$ty>(stringify!($field), slot($id), false)?; )*
                $( let tv = $extra(tv)?; )?
                tv.finish();
                Ok(())
            }
        }

        impl<'a> $name<'a> {
            $(
                $(#[$fmeta])*
                pub fn $field(&self) -> tables!(@ret $ty $(, $default)?) {
                    // SAFETY: `run_verifier` checked slot `$id` of this table as `$ty`
                    // (the same type, from the same macro arm), and this table was
                    // reached from a verified root.
                    let v = unsafe { self.tab.get::<$ty>(slot($id), None) };
                    tables!(@val v $(, $default)?)
                }
            )*
        }
    )*};
    (@ret $ty:ty, $default:expr) => { <$ty as Follow<'a>>::Inner };
    (@ret $ty:ty) => { Option<<$ty as Follow<'a>>::Inner> };
    (@val $v:ident, $default:expr) => { $v.unwrap_or($default) };
    (@val $v:ident) => { $v };
}

type Offsets<'a, T> = ForwardsUOffset<Vector<'a, ForwardsUOffset<T>>>;
type Scalars<'a, T> = ForwardsUOffset<Vector<'a, T>>;
type Str<'a> = ForwardsUOffset<&'a str>;

tables! {
    /// The root: `table Model`.
    Model {
        version: 0 => u32 = 0;
        operator_codes: 1 => Offsets<'a, OperatorCode<'a>>;
        subgraphs: 2 => Offsets<'a, SubGraph<'a>>;
        description: 3 => Str<'a>;
        buffers: 4 => Offsets<'a, Buffer<'a>>;
    }

    /// `table OperatorCode`.
    OperatorCode {
        /// The code as a byte (files before schema 3a; saturates at 127 after).
        deprecated_builtin_code: 0 => i8 = 0;
        custom_code: 1 => Str<'a>;
        version: 2 => i32 = 1;
        /// The code as an int32 (schema 3a on; 0 in older files).
        builtin_code: 3 => i32 = 0;
    }

    /// `table SubGraph`.
    SubGraph {
        tensors: 0 => Offsets<'a, Tensor<'a>>;
        inputs: 1 => Scalars<'a, i32>;
        outputs: 2 => Scalars<'a, i32>;
        operators: 3 => Offsets<'a, Operator<'a>>;
        name: 4 => Str<'a>;
    }

    /// `table Tensor`.
    Tensor {
        shape: 0 => Scalars<'a, i32>;
        /// A `TensorType` value.
        tensor_type: 1 => i8 = 0;
        /// Index into `Model.buffers`; 0 (the empty sentinel) for activations.
        buffer: 2 => u32 = 0;
        name: 3 => Str<'a>;
        quantization: 4 => ForwardsUOffset<QuantizationParameters<'a>>;
        /// `shape` with -1 for free dims.
        shape_signature: 7 => Scalars<'a, i32>;
    }

    /// `table QuantizationParameters`.
    QuantizationParameters {
        min: 0 => Scalars<'a, f32>;
        max: 1 => Scalars<'a, f32>;
        scale: 2 => Scalars<'a, f32>;
        zero_point: 3 => Scalars<'a, i64>;
        /// The axis of per-channel scales.
        quantized_dimension: 6 => i32 = 0;
    }

    /// `table Buffer`.
    Buffer {
        data: 0 => Scalars<'a, u8>;
        /// Models over 2 GB keep data outside the flatbuffer: from this byte of the file
        /// (valid when > 1).
        offset: 1 => u64 = 0;
        size: 2 => u64 = 0;
    }

    /// `table Operator`.
    Operator extra verify_builtin_options {
        opcode_index: 0 => u32 = 0;
        /// Tensor indices; -1 for an absent optional input.
        inputs: 1 => Scalars<'a, i32>;
        outputs: 2 => Scalars<'a, i32>;
        /// The `BuiltinOptions` union tag ([`options`]); the value is slot 4.
        builtin_options_type: 3 => u8 = 0;
    }

    /// `table Conv2DOptions`.
    Conv2DOptions {
        padding: 0 => i8 = 0;
        stride_w: 1 => i32 = 0;
        stride_h: 2 => i32 = 0;
        fused_activation_function: 3 => i8 = 0;
        dilation_w_factor: 4 => i32 = 1;
        dilation_h_factor: 5 => i32 = 1;
    }

    /// `table DepthwiseConv2DOptions`.
    DepthwiseConv2DOptions {
        padding: 0 => i8 = 0;
        stride_w: 1 => i32 = 0;
        stride_h: 2 => i32 = 0;
        depth_multiplier: 3 => i32 = 0;
        fused_activation_function: 4 => i8 = 0;
        dilation_w_factor: 5 => i32 = 1;
        dilation_h_factor: 6 => i32 = 1;
    }

    /// `table Pool2DOptions`.
    Pool2DOptions {
        padding: 0 => i8 = 0;
        stride_w: 1 => i32 = 0;
        stride_h: 2 => i32 = 0;
        filter_width: 3 => i32 = 0;
        filter_height: 4 => i32 = 0;
        fused_activation_function: 5 => i8 = 0;
    }

    /// `table FullyConnectedOptions`.
    FullyConnectedOptions {
        fused_activation_function: 0 => i8 = 0;
        /// 0 DEFAULT, 1 SHUFFLED4x16INT8.
        weights_format: 1 => i8 = 0;
        keep_num_dims: 2 => bool = false;
    }

    /// `table SoftmaxOptions`.
    SoftmaxOptions {
        beta: 0 => f32 = 0.0;
    }

    /// `table AddOptions`, `SubOptions`, `MulOptions` and `DivOptions`: the field the
    /// lowering reads is the first of each.
    ArithmeticOptions {
        fused_activation_function: 0 => i8 = 0;
    }

    /// `table ReshapeOptions`.
    ReshapeOptions {
        new_shape: 0 => Scalars<'a, i32>;
    }

    /// `table ReducerOptions`.
    ReducerOptions {
        keep_dims: 0 => bool = false;
    }

    /// `table SqueezeOptions`.
    SqueezeOptions {
        squeeze_dims: 0 => Scalars<'a, i32>;
    }
}

/// Slot of `Operator.builtin_options` (the union value after its tag at id 3).
const BUILTIN_OPTIONS: u16 = 4;

/// Verifies `Operator.builtin_options` as the table its tag names, for the tags that
/// [`Operator::builtin_options`] reads; any other tag's value is never read.
fn verify_builtin_options<'v, 'o, 'b>(
    tv: TableVerifier<'v, 'o, 'b>,
) -> Result<TableVerifier<'v, 'o, 'b>, InvalidFlatbuffer> {
    tv.visit_union::<u8, _>(
        "builtin_options_type",
        slot(3),
        "builtin_options",
        slot(BUILTIN_OPTIONS),
        false,
        |tag, v, pos| match tag {
            options::CONV_2D => {
                v.verify_union_variant::<ForwardsUOffset<Conv2DOptions>>("Conv2DOptions", pos)
            }
            options::DEPTHWISE_CONV_2D => v
                .verify_union_variant::<ForwardsUOffset<DepthwiseConv2DOptions>>(
                    "DepthwiseConv2DOptions",
                    pos,
                ),
            options::POOL_2D => {
                v.verify_union_variant::<ForwardsUOffset<Pool2DOptions>>("Pool2DOptions", pos)
            }
            options::FULLY_CONNECTED => v
                .verify_union_variant::<ForwardsUOffset<FullyConnectedOptions>>(
                    "FullyConnectedOptions",
                    pos,
                ),
            options::SOFTMAX => {
                v.verify_union_variant::<ForwardsUOffset<SoftmaxOptions>>("SoftmaxOptions", pos)
            }
            options::ADD | options::SUB | options::MUL | options::DIV => v
                .verify_union_variant::<ForwardsUOffset<ArithmeticOptions>>(
                    "ArithmeticOptions",
                    pos,
                ),
            options::RESHAPE => {
                v.verify_union_variant::<ForwardsUOffset<ReshapeOptions>>("ReshapeOptions", pos)
            }
            options::REDUCER => {
                v.verify_union_variant::<ForwardsUOffset<ReducerOptions>>("ReducerOptions", pos)
            }
            options::SQUEEZE => {
                v.verify_union_variant::<ForwardsUOffset<SqueezeOptions>>("SqueezeOptions", pos)
            }
            _ => Ok(()),
        },
    )
}

/// An operator's `builtin_options`, as the table its tag names.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BuiltinOptions<'a> {
    None,
    Conv2D(Conv2DOptions<'a>),
    DepthwiseConv2D(DepthwiseConv2DOptions<'a>),
    Pool2D(Pool2DOptions<'a>),
    FullyConnected(FullyConnectedOptions<'a>),
    Softmax(SoftmaxOptions<'a>),
    /// Add, Sub, Mul or Div options (the tag tells which).
    Arithmetic(ArithmeticOptions<'a>),
    Reshape(ReshapeOptions<'a>),
    Reducer(ReducerOptions<'a>),
    Squeeze(SqueezeOptions<'a>),
    /// A tag this file does not read.
    Other(u8),
}

impl<'a> Operator<'a> {
    /// The value of slot 4 as a `T`.
    ///
    /// # Safety
    /// `verify_builtin_options` must have verified the value as a `T`, i.e. the tag must
    /// be one it maps to `T`.
    unsafe fn union_value<T: Follow<'a, Inner = T> + 'a>(&self) -> Option<T> {
        // SAFETY: the caller guarantees slot 4 was verified as a `ForwardsUOffset<T>`.
        unsafe {
            self.tab
                .get::<ForwardsUOffset<T>>(slot(BUILTIN_OPTIONS), None)
        }
    }

    /// `builtin_options` as the table `builtin_options_type` names; `None` both when the
    /// tag is NONE and when the tag is set but the value is absent (the verifier refuses
    /// a tag without a value, so that means no options).
    pub fn builtin_options(&self) -> BuiltinOptions<'a> {
        let tag = self.builtin_options_type();
        // SAFETY: (every arm) `verify_builtin_options` ran the verifier of exactly the
        // type read here for this tag (the same match, arm for arm).
        let opts = unsafe {
            match tag {
                options::NONE => None,
                options::CONV_2D => self.union_value().map(BuiltinOptions::Conv2D),
                options::DEPTHWISE_CONV_2D => {
                    self.union_value().map(BuiltinOptions::DepthwiseConv2D)
                }
                options::POOL_2D => self.union_value().map(BuiltinOptions::Pool2D),
                options::FULLY_CONNECTED => self.union_value().map(BuiltinOptions::FullyConnected),
                options::SOFTMAX => self.union_value().map(BuiltinOptions::Softmax),
                options::ADD | options::SUB | options::MUL | options::DIV => {
                    self.union_value().map(BuiltinOptions::Arithmetic)
                }
                options::RESHAPE => self.union_value().map(BuiltinOptions::Reshape),
                options::REDUCER => self.union_value().map(BuiltinOptions::Reducer),
                options::SQUEEZE => self.union_value().map(BuiltinOptions::Squeeze),
                other => Some(BuiltinOptions::Other(other)),
            }
        };
        opts.unwrap_or(BuiltinOptions::None)
    }
}

impl OperatorCode<'_> {
    /// The operator's code: the larger of the byte and the int32 field (a file writes
    /// the one its schema version has; newer writers fill both, the byte saturated).
    pub fn code(&self) -> i32 {
        i32::from(self.deprecated_builtin_code()).max(self.builtin_code())
    }
}
