//! Tiny TFLite models written with `flatbuffers::FlatBufferBuilder` for the tests and the
//! fuzz target: tensors, operators and options as plain values, serialised with the
//! field ids of TFLite's schema.fbs (table fields in declaration order from 0).
#![allow(dead_code)]

use flatbuffers::{field_index_to_field_offset as slot, FlatBufferBuilder, WIPOffset};

pub const FLOAT32: i8 = 0;
pub const INT32: i8 = 2;
pub const INT64: i8 = 4;
pub const INT8: i8 = 9;

pub const ADD: i32 = 0;
pub const AVERAGE_POOL_2D: i32 = 1;
pub const CONV_2D: i32 = 3;
pub const DEPTHWISE_CONV_2D: i32 = 4;
pub const FLOOR: i32 = 8;
pub const FULLY_CONNECTED: i32 = 9;
pub const MUL: i32 = 18;
pub const RELU: i32 = 19;
pub const RELU6: i32 = 21;
pub const RESHAPE: i32 = 22;
pub const SOFTMAX: i32 = 25;
pub const PAD: i32 = 34;
pub const MEAN: i32 = 40;
pub const SQUEEZE: i32 = 43;
pub const QUANTIZE: i32 = 114;

pub const SAME: i8 = 0;
pub const VALID: i8 = 1;
pub const NONE: i8 = 0;
pub const RELU_ACT: i8 = 1;
pub const RELU6_ACT: i8 = 3;

/// One tensor: constant when `data` is not empty.
#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<i32>,
    pub ty: i8,
    pub data: Vec<u8>,
    pub signature: Option<Vec<i32>>,
    /// Quantization scales (an empty QuantizationParameters table when `Some(vec![])`).
    pub scale: Option<Vec<f32>>,
}

impl Tensor {
    /// An activation.
    pub fn act(name: &str, shape: &[i32]) -> Tensor {
        Tensor {
            name: name.into(),
            shape: shape.to_vec(),
            ty: FLOAT32,
            data: Vec::new(),
            signature: None,
            scale: Some(vec![]),
        }
    }

    /// A float32 constant.
    pub fn f32(name: &str, shape: &[i32], values: &[f32]) -> Tensor {
        Tensor {
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Tensor::act(name, shape)
        }
    }

    /// An int32 constant.
    pub fn i32(name: &str, shape: &[i32], values: &[i32]) -> Tensor {
        Tensor {
            ty: INT32,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Tensor::act(name, shape)
        }
    }
}

/// `builtin_options` of an operator.
#[derive(Clone, Debug)]
pub enum Options {
    None,
    Conv {
        padding: i8,
        stride: (i32, i32),
        act: i8,
        dilation: (i32, i32),
    },
    Depthwise {
        padding: i8,
        stride: (i32, i32),
        multiplier: i32,
        act: i8,
    },
    Pool {
        padding: i8,
        stride: (i32, i32),
        filter: (i32, i32),
        act: i8,
    },
    FullyConnected {
        act: i8,
    },
    Softmax {
        beta: f32,
    },
    /// Add (tag 11), Sub (28), Mul (21) or Div (29) options.
    Arithmetic {
        tag: u8,
        act: i8,
    },
    Reshape {
        new_shape: Vec<i32>,
    },
    Reducer {
        keep_dims: bool,
    },
    Squeeze {
        dims: Vec<i32>,
    },
}

impl Options {
    /// SAME, stride (h, w), no dilation.
    pub fn conv(stride: i32, act: i8) -> Options {
        Options::Conv {
            padding: SAME,
            stride: (stride, stride),
            act,
            dilation: (1, 1),
        }
    }

    pub fn depthwise(stride: i32, act: i8) -> Options {
        Options::Depthwise {
            padding: SAME,
            stride: (stride, stride),
            multiplier: 1,
            act,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Operator {
    pub code: i32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Options,
}

impl Operator {
    pub fn new(code: i32, inputs: &[i32], outputs: &[i32], options: Options) -> Operator {
        Operator {
            code,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            options,
        }
    }
}

/// A one-subgraph model.
#[derive(Clone, Debug)]
pub struct Model {
    pub tensors: Vec<Tensor>,
    pub operators: Vec<Operator>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
}

impl Model {
    /// The index of the tensor named `name`.
    pub fn tensor(&self, name: &str) -> i32 {
        self.tensors
            .iter()
            .position(|t| t.name == name)
            .expect("a tensor") as i32
    }

    pub fn tensor_mut(&mut self, name: &str) -> &mut Tensor {
        let i = self.tensor(name) as usize;
        &mut self.tensors[i]
    }

    /// The flatbuffer, with the "TFL3" identifier.
    pub fn build(&self) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        // Operator codes: one per distinct code, in order of first use.
        let mut codes: Vec<i32> = Vec::new();
        for op in &self.operators {
            if !codes.contains(&op.code) {
                codes.push(op.code);
            }
        }
        let code_tables: Vec<_> = codes
            .iter()
            .map(|&c| {
                let t = b.start_table();
                b.push_slot::<i8>(slot(0), c.min(127) as i8, 0);
                b.push_slot::<i32>(slot(2), 1, 1);
                b.push_slot::<i32>(slot(3), c, 0);
                b.end_table(t)
            })
            .collect();
        let code_vec = b.create_vector(&code_tables);

        // Buffers: 0 is the empty sentinel, then one per tensor.
        let mut buffer_tables = Vec::new();
        let t = b.start_table();
        buffer_tables.push(b.end_table(t));
        for tensor in &self.tensors {
            let data = (!tensor.data.is_empty()).then(|| b.create_vector(&tensor.data));
            let t = b.start_table();
            if let Some(d) = data {
                b.push_slot_always::<WIPOffset<_>>(slot(0), d);
            }
            buffer_tables.push(b.end_table(t));
        }
        let buffer_vec = b.create_vector(&buffer_tables);

        let tensor_tables: Vec<_> = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, tensor)| {
                let shape = b.create_vector(&tensor.shape);
                let name = b.create_string(&tensor.name);
                let sig = tensor.signature.as_ref().map(|s| b.create_vector(s));
                let quant = tensor.scale.as_ref().map(|s| {
                    let scale = (!s.is_empty()).then(|| b.create_vector(s));
                    let zero = (!s.is_empty()).then(|| b.create_vector(&vec![0i64; s.len()]));
                    let t = b.start_table();
                    if let (Some(scale), Some(zero)) = (scale, zero) {
                        b.push_slot_always::<WIPOffset<_>>(slot(2), scale);
                        b.push_slot_always::<WIPOffset<_>>(slot(3), zero);
                    }
                    b.end_table(t)
                });
                let t = b.start_table();
                b.push_slot_always::<WIPOffset<_>>(slot(0), shape);
                b.push_slot::<i8>(slot(1), tensor.ty, 0);
                b.push_slot::<u32>(slot(2), i as u32 + 1, 0);
                b.push_slot_always::<WIPOffset<_>>(slot(3), name);
                if let Some(q) = quant {
                    b.push_slot_always::<WIPOffset<_>>(slot(4), q);
                }
                if let Some(s) = sig {
                    b.push_slot_always::<WIPOffset<_>>(slot(7), s);
                }
                b.end_table(t)
            })
            .collect();
        let tensor_vec = b.create_vector(&tensor_tables);

        let op_tables: Vec<_> = self
            .operators
            .iter()
            .map(|op| {
                let inputs = b.create_vector(&op.inputs);
                let outputs = b.create_vector(&op.outputs);
                let options = options(&mut b, &op.options);
                let index = codes.iter().position(|&c| c == op.code).expect("a code") as u32;
                let t = b.start_table();
                b.push_slot::<u32>(slot(0), index, 0);
                b.push_slot_always::<WIPOffset<_>>(slot(1), inputs);
                b.push_slot_always::<WIPOffset<_>>(slot(2), outputs);
                if let Some((tag, o)) = options {
                    b.push_slot::<u8>(slot(3), tag, 0);
                    b.push_slot_always::<WIPOffset<_>>(slot(4), o);
                }
                b.end_table(t)
            })
            .collect();
        let op_vec = b.create_vector(&op_tables);

        let inputs = b.create_vector(&self.inputs);
        let outputs = b.create_vector(&self.outputs);
        let sg_name = b.create_string("main");
        let t = b.start_table();
        b.push_slot_always::<WIPOffset<_>>(slot(0), tensor_vec);
        b.push_slot_always::<WIPOffset<_>>(slot(1), inputs);
        b.push_slot_always::<WIPOffset<_>>(slot(2), outputs);
        b.push_slot_always::<WIPOffset<_>>(slot(3), op_vec);
        b.push_slot_always::<WIPOffset<_>>(slot(4), sg_name);
        let sg = b.end_table(t);
        let sg_vec = b.create_vector(&[sg]);

        let description = b.create_string("sepconv test model");
        let t = b.start_table();
        b.push_slot::<u32>(slot(0), 3, 0);
        b.push_slot_always::<WIPOffset<_>>(slot(1), code_vec);
        b.push_slot_always::<WIPOffset<_>>(slot(2), sg_vec);
        b.push_slot_always::<WIPOffset<_>>(slot(3), description);
        b.push_slot_always::<WIPOffset<_>>(slot(4), buffer_vec);
        let root = b.end_table(t);
        b.finish(root, Some("TFL3"));
        b.finished_data().to_vec()
    }
}

/// The options table and its union tag.
fn options(
    b: &mut FlatBufferBuilder,
    o: &Options,
) -> Option<(u8, WIPOffset<flatbuffers::TableFinishedWIPOffset>)> {
    let (tag, t) = match o {
        Options::None => return None,
        Options::Conv {
            padding,
            stride,
            act,
            dilation,
        } => {
            let t = b.start_table();
            b.push_slot::<i8>(slot(0), *padding, 0);
            b.push_slot::<i32>(slot(1), stride.1, 0);
            b.push_slot::<i32>(slot(2), stride.0, 0);
            b.push_slot::<i8>(slot(3), *act, 0);
            b.push_slot::<i32>(slot(4), dilation.1, 1);
            b.push_slot::<i32>(slot(5), dilation.0, 1);
            (1, t)
        }
        Options::Depthwise {
            padding,
            stride,
            multiplier,
            act,
        } => {
            let t = b.start_table();
            b.push_slot::<i8>(slot(0), *padding, 0);
            b.push_slot::<i32>(slot(1), stride.1, 0);
            b.push_slot::<i32>(slot(2), stride.0, 0);
            b.push_slot::<i32>(slot(3), *multiplier, 0);
            b.push_slot::<i8>(slot(4), *act, 0);
            (2, t)
        }
        Options::Pool {
            padding,
            stride,
            filter,
            act,
        } => {
            let t = b.start_table();
            b.push_slot::<i8>(slot(0), *padding, 0);
            b.push_slot::<i32>(slot(1), stride.1, 0);
            b.push_slot::<i32>(slot(2), stride.0, 0);
            b.push_slot::<i32>(slot(3), filter.1, 0);
            b.push_slot::<i32>(slot(4), filter.0, 0);
            b.push_slot::<i8>(slot(5), *act, 0);
            (5, t)
        }
        Options::FullyConnected { act } => {
            let t = b.start_table();
            b.push_slot::<i8>(slot(0), *act, 0);
            (8, t)
        }
        Options::Softmax { beta } => {
            let t = b.start_table();
            b.push_slot::<f32>(slot(0), *beta, 0.0);
            (9, t)
        }
        Options::Arithmetic { tag, act } => {
            let t = b.start_table();
            b.push_slot::<i8>(slot(0), *act, 0);
            (*tag, t)
        }
        Options::Reshape { new_shape } => {
            let v = b.create_vector(new_shape);
            let t = b.start_table();
            b.push_slot_always::<WIPOffset<_>>(slot(0), v);
            (17, t)
        }
        Options::Reducer { keep_dims } => {
            let t = b.start_table();
            b.push_slot::<bool>(slot(0), *keep_dims, false);
            (27, t)
        }
        Options::Squeeze { dims } => {
            let v = b.create_vector(dims);
            let t = b.start_table();
            b.push_slot_always::<WIPOffset<_>>(slot(0), v);
            (30, t)
        }
    };
    Some((tag, b.end_table(t)))
}

/// Deterministic weights: `n` values in (-1, 1) from `seed`.
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| {
            let x = (i.wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) % 2001;
            x as f32 / 1000.0 - 1.0
        })
        .collect()
}

/// A small valid chain: input [1, 4, 4, 3] > CONV_2D 1x1 to 2 channels (RELU6) >
/// DEPTHWISE_CONV_2D 3x3 stride 2 (RELU) > MEAN over H, W > FULLY_CONNECTED to 3 > SOFTMAX
/// (a second output beside the logits).
pub fn tiny() -> Model {
    let tensors = vec![
        Tensor::act("input", &[1, 4, 4, 3]),
        Tensor::f32("conv/w", &[2, 1, 1, 3], &values(6, 1)),
        Tensor::f32("conv/b", &[2], &[0.5, -0.5]),
        Tensor::act("conv", &[1, 4, 4, 2]),
        Tensor::f32("dw/w", &[1, 3, 3, 2], &values(18, 2)),
        Tensor::f32("dw/b", &[2], &[0.25, 0.125]),
        Tensor::act("dw", &[1, 2, 2, 2]),
        Tensor::i32("mean/axes", &[2], &[1, 2]),
        Tensor::act("mean", &[1, 2]),
        Tensor::f32("fc/w", &[3, 2], &values(6, 3)),
        Tensor::f32("fc/b", &[3], &[1.0, 2.0, 3.0]),
        Tensor::act("logits", &[1, 3]),
        Tensor::act("probs", &[1, 3]),
    ];
    let operators = vec![
        Operator::new(CONV_2D, &[0, 1, 2], &[3], Options::conv(1, RELU6_ACT)),
        Operator::new(
            DEPTHWISE_CONV_2D,
            &[3, 4, 5],
            &[6],
            Options::depthwise(2, RELU_ACT),
        ),
        Operator::new(MEAN, &[6, 7], &[8], Options::Reducer { keep_dims: false }),
        Operator::new(
            FULLY_CONNECTED,
            &[8, 9, 10],
            &[11],
            Options::FullyConnected { act: NONE },
        ),
        Operator::new(SOFTMAX, &[11], &[12], Options::Softmax { beta: 1.0 }),
    ];
    Model {
        tensors,
        operators,
        inputs: vec![0],
        outputs: vec![11, 12],
    }
}
