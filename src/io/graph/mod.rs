//! The import IR: a model file's data path as a chain of nodes, each with its constants
//! resolved, which the passes (`passes`) rewrite into a [`Network`].
//!
//! A format's lowering (ONNX in `io::onnx`, TFLite in `io::tflite`) finds the path from the
//! data input to the output (refusing branches, cycles and dangling inputs), resolves
//! every constant input (initializers, Constant nodes, shape arithmetic) and maps each
//! node onto an [`Op`], keeping the file's node name and op type for errors. What the
//! lowering does not know becomes [`Op::Unsupported`], so the error comes from the pass
//! that could not place it, naming the node and why.
//!
//! Conventions, whatever the format:
//! - convolution weights are OHWI (sepconv's layout) with I the input channels per
//!   group; depthwise is `group == in_c` with weights [c][kh][kw][1];
//! - dense weights are [out][in];
//! - an activation's axes are in the order shape inference (`shape`) finds at that node
//!   (ONNX NCHW unless a Transpose changed it, TFLite NHWC), so a per-channel constant of
//!   dims [1, C, 1, 1] (NCHW) or [C] (NHWC) broadcasts over channels.
//!
//! Quantized models, whatever the format, annotate the same chain: a Conv or Dense with
//! integer weights carries them in `quant` ([`QuantWeights`]: s8 weights in the layout of
//! the f32 field, per output channel scales, i32 bias) while its f32 `weights` and `bias`
//! hold the dequantized values, so shape inference and the f32 passes read them as
//! before; every node whose output tensor is quantized has `out_q` in sepconv's u8 grid
//! (an s8 zero point plus 128, see [`crate::quant`]); the graph has `input_q` and the
//! element types of its edges. [`passes::build_q8`] assembles the [`Q8Network`].

pub mod passes;
pub mod shape;

use crate::activation::Clamp;
use crate::geometry::Padding;
pub use crate::net::q8::EdgeType;
use crate::net::q8::Q8Network;
use crate::net::{Network, NetworkWeights};
pub use crate::quant::QParams;
use crate::{Error, Result};

/// The integer weights of a quantized Conv or Dense.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantWeights {
    /// s8 weights in the order of the f32 `weights` field (OHWI, or [out][in]).
    pub weights: Vec<i8>,
    /// Per output channel (a per-tensor scale repeated); `weights[i] * weight_scale[o]`
    /// is the real weight.
    pub weight_scale: Vec<f32>,
    /// Per output channel, in units of `input_scale * weight_scale[o]`.
    pub bias: Vec<i32>,
}

/// The axis order of a 4-D activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Nchw,
    Nhwc,
}

impl Layout {
    /// Axis of the channels.
    pub fn channel_axis(self) -> usize {
        match self {
            Layout::Nchw => 1,
            Layout::Nhwc => 3,
        }
    }

    /// Axes of height and width.
    pub fn spatial_axes(self) -> [usize; 2] {
        match self {
            Layout::Nchw => [2, 3],
            Layout::Nhwc => [1, 2],
        }
    }
}

/// One dimension of the input: a number, or a name the file gives a free dimension
/// (`N`, `batch`, `unk__123`), which must be the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Fixed(usize),
    Symbolic(String),
}

/// How a convolution is padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pads {
    /// Explicit pixels per side.
    Explicit(Padding),
    /// TensorFlow SAME (ONNX SAME_UPPER): the odd pixel at the bottom/right.
    SameUpper,
    /// ONNX SAME_LOWER: the odd pixel at the top/left.
    SameLower,
}

impl Pads {
    /// The explicit padding of a `kernel` x `kernel` window at `stride` over `in_h` x `in_w`.
    pub fn resolve(self, in_h: usize, in_w: usize, kernel: usize, stride: usize) -> Padding {
        match self {
            Pads::Explicit(p) => p,
            Pads::SameUpper => Padding::tf_same(in_h, in_w, kernel, stride),
            Pads::SameLower => {
                let p = Padding::tf_same(in_h, in_w, kernel, stride);
                Padding::new(p.bottom, p.right, p.top, p.left)
            }
        }
    }
}

/// A 2-D convolution with its weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// OHWI weights: `out_c` x `kernel.0` x `kernel.1` x (in_c / group).
    pub weights: Vec<f32>,
    pub out_c: usize,
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Input channels per group (the I of OHWI).
    pub in_c_per_group: usize,
    /// One per output channel (zeros if the file has none).
    pub bias: Vec<f32>,
    /// Stride along height and width.
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    pub pads: Pads,
    pub group: usize,
    /// Fused activation (TFLite's fused_activation_function; the passes fuse Relu/Clip).
    pub clamp: Clamp,
    /// The integer weights of a quantized convolution (`weights`/`bias` then hold their
    /// dequantized values).
    pub quant: Option<QuantWeights>,
}

/// A fully connected layer y = W x + b with its weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense {
    /// [out][in] weights.
    pub weights: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
    pub bias: Vec<f32>,
    pub clamp: Clamp,
    /// The integer weights of a quantized layer (as [`Conv::quant`]).
    pub quant: Option<QuantWeights>,
}

/// Element-wise arithmetic with a constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// What a node does, with its constant operands.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Conv(Conv),
    Dense(Dense),
    /// Inference BatchNormalization over the channel axis.
    BatchNorm {
        scale: Vec<f32>,
        bias: Vec<f32>,
        mean: Vec<f32>,
        var: Vec<f32>,
        eps: f32,
    },
    /// `x op c` (or `c op x` when `const_first`), `c` of dims `dims` broadcast NumPy-style.
    Binary {
        op: BinOp,
        value: Vec<f32>,
        dims: Vec<usize>,
        const_first: bool,
    },
    /// Relu, Relu6, Clip, or Max/Min with a scalar: y = min(max(x, min), max).
    Clamp(Clamp),
    /// Constant padding: `begin[a]` and `end[a]` elements of axis a.
    Pad {
        begin: Vec<usize>,
        end: Vec<usize>,
        value: f32,
    },
    Transpose {
        perm: Vec<usize>,
    },
    /// The mean over H and W (GlobalAveragePool).
    GlobalAvgPool {
        keepdims: bool,
    },
    /// The mean over `axes` (negative counts from the end, as in both formats).
    ReduceMean {
        axes: Vec<i64>,
        keepdims: bool,
    },
    AveragePool {
        kernel: (usize, usize),
        stride: (usize, usize),
        pads: Pads,
        count_include_pad: bool,
    },
    /// To a constant shape (`0` copies an input dim, `-1` infers one), or `None` when the
    /// file computes it at run time (from `Shape` of the activations).
    Reshape {
        shape: Option<Vec<i64>>,
    },
    Flatten {
        axis: i64,
    },
    /// Drops size-1 `axes` (all size-1 axes but the batch if `None`).
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Vec<i64>,
    },
    Softmax {
        axis: i64,
    },
    /// Identity, Dropout at inference, Cast to f32.
    Identity,
    /// An op the lowering does not map, with why.
    Unsupported(String),
}

/// One node of the chain: what the file called it and what it does.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    /// The file's op type (ONNX op_type, TFLite builtin operator name), for errors.
    pub op_type: String,
    pub op: Op,
    /// The quantization of the node's output tensor (u8 grid), if it is quantized.
    pub out_q: Option<QParams>,
}

impl Node {
    /// "node 'NAME' (OP)", the prefix of every error about it.
    pub fn label(&self) -> String {
        format!("node '{}' ({})", self.name, self.op_type)
    }
}

/// A model's data path.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    /// "ONNX" or "TFLite", for messages.
    pub format: &'static str,
    pub input_name: String,
    /// The input's dims as the file gives them (4-D).
    pub input_dims: Vec<Dim>,
    /// The input's layout as the file's first node sees it.
    pub input_layout: Layout,
    pub output_name: String,
    /// The data path from the input to the output, in order.
    pub nodes: Vec<Node>,
    /// The quantization of the data entering the first node (u8 grid), if quantized.
    pub input_q: Option<QParams>,
    /// The element type the file takes: F32 also when it quantizes inside (TFLite
    /// QUANTIZE, ONNX QuantizeLinear at the input).
    pub input_type: EdgeType,
    /// The element type the file gives: F32 also when it dequantizes inside.
    pub output_type: EdgeType,
}

/// What the passes make of a graph: the network, its weights, and what the file called
/// its input and output.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub network: Network,
    pub weights: NetworkWeights,
    /// The input layout of the file: NHWC if the model takes NHWC images.
    pub input_layout: Layout,
    pub input_name: String,
    pub output_name: String,
    /// The quantized network of a quantized model (`None` for float models).
    pub quant: Option<Q8Network>,
}

/// An import error naming the node.
pub(crate) fn node_err(node: &Node, why: impl std::fmt::Display) -> Error {
    Error::Model(format!("{}: {why}", node.label()))
}

impl Graph {
    /// The input's fixed (batch-free) dims in the input's own layout: (h, w, c). The batch
    /// may be symbolic or 1; every other dim must be fixed.
    pub fn input_hwc(&self) -> Result<(usize, usize, usize)> {
        let name = &self.input_name;
        let bad = |why: String| Error::Model(format!("{} input '{name}': {why}", self.format));
        if self.input_dims.len() != 4 {
            return Err(bad(format!(
                "expected 4 dims (an image batch), got {:?}",
                self.input_dims
            )));
        }
        if let Dim::Fixed(n) = self.input_dims[0] {
            if n == 0 {
                return Err(bad("batch dim is 0".into()));
            }
        }
        let fixed = |i: usize| match &self.input_dims[i] {
            Dim::Fixed(v) if *v > 0 => Ok(*v),
            d => Err(bad(format!(
                "dim {i} must be a positive number, got {d:?} (only the batch may be free)"
            ))),
        };
        let [h, w] = self.input_layout.spatial_axes().map(fixed);
        Ok((h?, w?, fixed(self.input_layout.channel_axis())?))
    }
}

impl Imported {
    /// The MobileNet V1 configuration and weights, if the network is one (see
    /// [`Network::as_mobilenet`]); otherwise an error saying what it is instead.
    pub fn into_mobilenet(
        self,
    ) -> Result<(crate::net::MobileNetConfig, crate::net::MobileNetWeights)> {
        let not = |why: &str| {
            Error::Model(format!(
                "the model is a network of {} layers but not a MobileNet V1 ({why}); load it \
                 as a network",
                self.network.layers.len()
            ))
        };
        let config = self
            .network
            .as_mobilenet()
            .ok_or_else(|| not("its layers match no alpha and resolution"))?;
        let weights = self
            .weights
            .clone()
            .into_mobilenet()
            .ok_or_else(|| not("its weights do not split into MobileNet's"))?;
        Ok((config, weights))
    }
}
