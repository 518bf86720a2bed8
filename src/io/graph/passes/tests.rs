//! Each pass on a small hand-made chain: what it folds, and what it leaves for the build
//! to refuse.

use super::super::{
    BinOp, Conv, Dense, Dim, EdgeType, Graph, Layout, Node, Op, Pads, QParams, QuantWeights,
};
use super::*;
use crate::activation::{Activation, Clamp};
use crate::geometry::Padding;
use crate::net::q8::Q8PoolMode;
use crate::net::LayerKind;

const RELU: Clamp = Clamp {
    min: 0.0,
    max: f32::INFINITY,
};

fn node(name: &str, op: Op) -> Node {
    Node {
        name: name.into(),
        op_type: name.into(),
        op,
        out_q: None,
    }
}

/// A 3x3 conv of `in_c` -> `out_c` channels in `group` groups, weights 1..n, bias 0.5.
fn conv(in_c: usize, out_c: usize, group: usize, stride: usize) -> Op {
    let per = in_c / group;
    Op::Conv(Conv {
        weights: (0..out_c * 9 * per).map(|i| i as f32).collect(),
        out_c,
        kernel: (3, 3),
        in_c_per_group: per,
        bias: vec![0.5; out_c],
        stride: (stride, stride),
        dilation: (1, 1),
        pads: Pads::Explicit(Padding::symmetric(1)),
        group,
        clamp: Clamp::NONE,
        quant: None,
    })
}

fn graph(nodes: Vec<Node>) -> Graph {
    Graph {
        format: "ONNX",
        input_name: "x".into(),
        input_dims: vec![
            Dim::Symbolic("N".into()),
            Dim::Fixed(2),
            Dim::Fixed(8),
            Dim::Fixed(8),
        ],
        input_layout: Layout::Nchw,
        output_name: "y".into(),
        nodes,
        input_q: None,
        input_type: EdgeType::F32,
        output_type: EdgeType::F32,
    }
}

fn conv_of(g: &Graph, i: usize) -> &Conv {
    match &g.nodes[i].op {
        Op::Conv(c) => c,
        op => panic!("node {i} is {op:?}"),
    }
}

#[test]
fn batch_norm_and_per_channel_arithmetic_fold_into_the_conv() {
    let bn = Op::BatchNorm {
        scale: vec![2.0, 1.0, 1.0],
        bias: vec![1.0, 0.0, 0.0],
        mean: vec![0.5, 0.0, 0.0],
        var: vec![3.0, 1.0, 1.0],
        eps: 1.0,
    };
    let mul = Op::Binary {
        op: BinOp::Mul,
        value: vec![1.0, 3.0, 1.0],
        dims: vec![3, 1, 1],
        const_first: false,
    };
    let sub = Op::Binary {
        op: BinOp::Sub,
        value: vec![10.0],
        dims: vec![],
        const_first: true,
    };
    let mut g = graph(vec![
        node("c", conv(2, 3, 1, 1)),
        node("bn", bn),
        node("mul", mul),
        node("sub", sub),
    ]);
    fold_affine(&mut g).unwrap();
    assert_eq!(g.nodes.len(), 1);
    let c = conv_of(&g, 0);
    // Channel 0: BN scale 2 / sqrt(3 + 1) = 1, bias 1 - 0.5 = 0.5; then 10 - x.
    assert_eq!(c.weights[0], -0.0);
    assert_eq!(c.weights[1], -1.0);
    assert_eq!(c.bias[0], 10.0 - (0.5 + 0.5));
    // Channel 1: BN 1 / sqrt(1 + 1), x 3, then 10 - x.
    let k = 3.0 / 2f32.sqrt();
    assert!((c.weights[18] + 18.0 * k).abs() < 1e-4);
    assert!((c.bias[1] - (10.0 - 0.5 * k)).abs() < 1e-5);
}

#[test]
fn arithmetic_after_the_activation_or_not_per_channel_is_left_and_refused() {
    // Mul by a [1, 1, 8, 1] constant varies along H: not foldable.
    let mut g = graph(vec![
        node("c", conv(2, 3, 1, 1)),
        node(
            "mul",
            Op::Binary {
                op: BinOp::Mul,
                value: vec![2.0; 8],
                dims: vec![1, 1, 8, 1],
                const_first: false,
            },
        ),
    ]);
    let e = import(g.clone()).unwrap_err().to_string();
    assert!(e.contains("'mul'") && e.contains("[1, 1, 8, 1]"), "{e}");
    // An Add after the Relu does not fold across it.
    g.nodes[1] = node("relu", Op::Clamp(RELU));
    g.nodes.push(node(
        "add",
        Op::Binary {
            op: BinOp::Add,
            value: vec![1.0; 3],
            dims: vec![3, 1, 1],
            const_first: false,
        },
    ));
    let e = import(g).unwrap_err().to_string();
    assert!(
        e.contains("'add'") && e.contains("right after a convolution"),
        "{e}"
    );
}

#[test]
fn pad_folds_into_the_next_conv_and_relu6_fuses() {
    let mut c = conv(2, 2, 2, 2);
    if let Op::Conv(c) = &mut c {
        c.pads = Pads::Explicit(Padding::default());
    }
    let mut g = graph(vec![
        node(
            "pad",
            Op::Pad {
                begin: vec![0, 0, 0, 0],
                end: vec![0, 0, 1, 1],
                value: 0.0,
            },
        ),
        node("dw", c),
        node("clip", Op::Clamp(Clamp { min: 0.0, max: 6.0 })),
    ]);
    drop_identity(&mut g);
    fold_pad(&mut g).unwrap();
    fuse_clamp(&mut g).unwrap();
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(
        conv_of(&g, 0).pads,
        Pads::Explicit(Padding::new(0, 0, 1, 1))
    );
    let imported = build(&g).unwrap();
    let l = &imported.network.layers[0];
    assert_eq!(l.spec.kind, LayerKind::Depthwise);
    assert_eq!((l.spec.out_h, l.spec.stride), (4, 2));
    assert_eq!(l.activation, Activation::Relu6);
}

#[test]
fn clamps_that_are_no_activation_are_named() {
    let g = graph(vec![
        node("c", conv(2, 3, 1, 1)),
        node(
            "clip",
            Op::Clamp(Clamp {
                min: -1.0,
                max: 1.0,
            }),
        ),
    ]);
    let e = import(g).unwrap_err().to_string();
    assert!(e.contains("'clip'") && e.contains("[-1, 1]"), "{e}");
}

#[test]
fn nhwc_input_transpose_head_and_softmax() {
    let dense = Op::Dense(Dense {
        weights: vec![0.0; 5 * 4],
        inputs: 4,
        outputs: 5,
        bias: vec![0.0; 5],
        clamp: Clamp::NONE,
        quant: None,
    });
    let mut g = graph(vec![
        node(
            "to_nchw",
            Op::Transpose {
                perm: vec![0, 3, 1, 2],
            },
        ),
        node("c", conv(2, 4, 1, 2)),
        node("relu", Op::Clamp(RELU)),
        node(
            "to_nhwc",
            Op::Transpose {
                perm: vec![0, 2, 3, 1],
            },
        ),
        node(
            "mean",
            Op::ReduceMean {
                axes: vec![1, 2],
                keepdims: false,
            },
        ),
        node("flat", Op::Flatten { axis: 1 }),
        node("fc", dense),
        node("softmax", Op::Softmax { axis: -1 }),
    ]);
    g.input_layout = Layout::Nhwc;
    g.input_dims = vec![Dim::Fixed(1), Dim::Fixed(8), Dim::Fixed(6), Dim::Fixed(2)];
    let m = import(g.clone()).unwrap();
    let net = &m.network;
    assert_eq!((net.in_h, net.in_w, net.in_c), (8, 6, 2));
    assert_eq!(net.layers.len(), 1);
    assert_eq!(net.layers[0].activation, Activation::Relu);
    assert!(net.head.pool && net.head.softmax);
    assert_eq!(net.head.classes, Some(5));
    assert_eq!(m.input_layout, Layout::Nhwc);
    // A mean over the wrong axes (C and W of the NHWC activations) is named.
    g.nodes[4].op = Op::ReduceMean {
        axes: vec![2, 3],
        keepdims: false,
    };
    let e = import(g.clone()).unwrap_err().to_string();
    assert!(e.contains("'mean'") && e.contains("not over height"), "{e}");
    // A transpose that is no layout change.
    g.nodes[3].op = Op::Transpose {
        perm: vec![0, 1, 3, 2],
    };
    let e = import(g).unwrap_err().to_string();
    assert!(
        e.contains("'to_nhwc'") && e.contains("perm [0, 1, 3, 2]"),
        "{e}"
    );
}

#[test]
fn unsupported_ops_and_kernels_are_named() {
    let g = graph(vec![
        node("c", conv(2, 3, 1, 1)),
        node("lrn", Op::Unsupported("the op LRN is not supported".into())),
    ]);
    let e = import(g).unwrap_err().to_string();
    assert!(e.contains("'lrn'") && e.contains("LRN"), "{e}");
    let mut c5 = conv(2, 3, 1, 1);
    if let Op::Conv(c) = &mut c5 {
        c.kernel = (5, 5);
        c.weights = vec![0.0; 3 * 25 * 2];
    }
    let e = import(graph(vec![node("c5", c5)])).unwrap_err().to_string();
    assert!(e.contains("'c5'") && e.contains("5x5"), "{e}");
    let e = import(graph(vec![
        node("c", conv(2, 3, 1, 1)),
        node("fc_first", Op::Softmax { axis: 1 }),
    ]))
    .unwrap_err()
    .to_string();
    assert!(e.contains("'fc_first'"), "{e}");
}

/// `conv(in_c, out_c, 1, stride)` with integer weights (per channel scales 0.01 * (o + 1))
/// and output quantization `q`.
fn qconv(in_c: usize, out_c: usize, stride: usize, name: &str, q: QParams) -> Node {
    let Op::Conv(mut c) = conv(in_c, out_c, 1, stride) else {
        unreachable!()
    };
    let per = c.weights.len() / out_c;
    let weights: Vec<i8> = (0..c.weights.len()).map(|i| (i % 255) as i8).collect();
    let weight_scale: Vec<f32> = (0..out_c).map(|o| 0.01 * (o + 1) as f32).collect();
    c.weights = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| f32::from(w) * weight_scale[i / per])
        .collect();
    c.quant = Some(QuantWeights {
        weights,
        weight_scale,
        bias: (0..out_c as i32).collect(),
    });
    Node {
        out_q: Some(q),
        ..node(name, Op::Conv(c))
    }
}

fn qp(scale: f32, zp: i32) -> QParams {
    QParams::new(scale, zp, "t").unwrap()
}

#[test]
fn build_q8_reads_the_annotations_with_xnnpack_scales_and_bounds() {
    let (q_in, q1, q2, q_pool, q_fc) = (
        qp(0.02, 120),
        qp(0.05, 140),
        qp(0.0235, 0),
        qp(0.011, 3),
        qp(0.3, 131),
    );
    let mut relu6 = node("relu6", Op::Clamp(Activation::Relu6.clamp()));
    relu6.out_q = Some(q2);
    let mut pool = node("pool", Op::GlobalAvgPool { keepdims: false });
    pool.out_q = Some(q_pool);
    let mut fc = node(
        "fc",
        Op::Dense(Dense {
            weights: vec![0.5; 3 * 4],
            inputs: 4,
            outputs: 3,
            bias: vec![0.0; 3],
            clamp: Clamp::NONE,
            quant: Some(QuantWeights {
                weights: vec![50; 12],
                weight_scale: vec![0.01; 3],
                bias: vec![7, 8, 9],
            }),
        }),
    );
    fc.out_q = Some(q_fc);
    let mut g = graph(vec![
        qconv(2, 3, 2, "c0", q1),
        // The Relu6's quantization becomes the second conv's output quantization.
        qconv(3, 4, 1, "c1", qp(1.0, 9)),
        relu6,
        pool,
        fc,
    ]);
    g.input_q = Some(q_in);
    g.input_type = EdgeType::I8;
    let m = import(g.clone()).unwrap();
    let q = m.quant.expect("a quantized network");
    assert_eq!(q.input, q_in);
    assert_eq!((q.input_type, q.output_type), (EdgeType::I8, EdgeType::F32));
    assert_eq!(q.layers.len(), 2);
    let (l0, l1) = (&q.layers[0], &q.layers[1]);
    assert_eq!(
        (l0.input, l0.output, l1.input, l1.output),
        (q_in, q1, q1, q2)
    );
    assert_eq!(l0.scale[2], 0.02 * l0.weight_scale[2] / 0.05);
    assert_eq!(l1.scale[3], 0.05 * l1.weight_scale[3] / 0.0235);
    // No activation: the full range. ReLU6 on scale 0.0235, zp -128 (s8): 6 / 0.0235 =
    // 255.3 - 128 = 127.3 -> 127.
    assert_eq!((l0.out.lo, l0.out.hi), (0, 255));
    assert_eq!((l1.out.lo, l1.out.hi), (0, 255));
    let p = q.pool.as_ref().unwrap();
    assert_eq!(
        (p.input, p.output, p.mode),
        (q2, q_pool, Q8PoolMode::Requantize)
    );
    let f = q.fc.as_ref().unwrap();
    assert_eq!((f.input, f.output), (q_pool, Some(q_fc)));
    assert_eq!(f.scale[0], 0.011 * 0.01);
    assert_eq!(f.requant_scales().unwrap()[0], 0.011 * 0.01 / 0.3);

    // ReLU6 where the bound lands inside the range, computed as XNNPACK does.
    let mut g2 = g.clone();
    g2.nodes[2].out_q = Some(qp(0.05, 28));
    let q = import(g2).unwrap().quant.unwrap();
    let want_hi = ((6.0f32 / 0.05 + -100.0).round_ties_even() as i32 + 128) as u8;
    assert_eq!((q.layers[1].out.lo, q.layers[1].out.hi), (28, want_hi));
    assert_eq!(want_hi, 148);

    // A float convolution in the quantized chain is named.
    let mut mixed = g.clone();
    if let Op::Conv(c) = &mut mixed.nodes[1].op {
        c.quant = None;
    }
    let e = import(mixed).unwrap_err().to_string();
    assert!(e.contains("'c1'") && e.contains("mixed"), "{e}");
    // So is a quantized conv whose output is float.
    let mut float_out = g.clone();
    float_out.nodes[0].out_q = None;
    let e = import(float_out).unwrap_err().to_string();
    assert!(e.contains("'c0'") && e.contains("float output"), "{e}");
    // And a quantized chain without input quantization.
    let mut no_in = g.clone();
    no_in.input_q = None;
    let e = import(no_in).unwrap_err().to_string();
    assert!(e.contains("input 'x'"), "{e}");
    // A reshape that would requantize.
    let mut req = g.clone();
    let mut flat = node("flat", Op::Flatten { axis: 1 });
    flat.out_q = Some(qp(0.5, 1));
    req.nodes.insert(4, flat);
    let e = import(req).unwrap_err().to_string();
    assert!(e.contains("'flat'") && e.contains("requantizes"), "{e}");
    // A float model has none.
    let f32_model = graph(vec![node("c", conv(2, 3, 1, 1))]);
    assert!(import(f32_model).unwrap().quant.is_none());
}

#[test]
fn fold_affine_refuses_a_quantized_conv_and_identity_passes_quantization() {
    let mul = Op::Binary {
        op: BinOp::Mul,
        value: vec![2.0],
        dims: vec![],
        const_first: false,
    };
    let mut g = graph(vec![qconv(2, 3, 1, "c", qp(0.1, 5)), node("mul", mul)]);
    g.input_q = Some(qp(0.1, 5));
    let e = import(g).unwrap_err().to_string();
    assert!(
        e.contains("'mul'") && e.contains("quantized node 'c'"),
        "{e}"
    );

    let mut id = node("id", Op::Identity);
    id.out_q = Some(qp(0.25, 7));
    let mut c = qconv(2, 3, 1, "c", qp(0.25, 7));
    c.out_q = None;
    let mut g = graph(vec![c, id]);
    g.input_q = Some(qp(0.1, 5));
    drop_identity(&mut g);
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.nodes[0].out_q, Some(qp(0.25, 7)));
    // One that would requantize stays, and the q8 build names it.
    let mut id = node("id", Op::Identity);
    id.out_q = Some(qp(0.5, 7));
    g.nodes.push(id);
    drop_identity(&mut g);
    assert_eq!(g.nodes.len(), 2);
    let e = import(g).unwrap_err().to_string();
    assert!(e.contains("'id'") && e.contains("requantizes"), "{e}");
}
