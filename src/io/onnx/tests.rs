//! Every kind of malformed ONNX file gives an error naming what is at fault. Each test
//! starts from a fixture of scripts/gen_fixtures.py, breaks one thing, and checks the message.

use super::*;
use pb::{AttributeProto, NodeProto, TensorProto};

fn fixture(name: &str) -> pb::ModelProto {
    let path = format!("{}/tests/fixtures/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
    pb::ModelProto::decode(std::fs::read(path).unwrap().as_slice()).unwrap()
}

fn pytorch() -> pb::ModelProto {
    fixture("pytorch_a025_r128")
}

/// The error message of loading `m`; panics if it loads.
fn error(m: &pb::ModelProto) -> String {
    match import_onnx(&m.encode_to_vec()) {
        Ok(_) => panic!("a broken model loaded"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "{msg:?} does not name {p:?}");
    }
}

fn node<'m>(m: &'m mut pb::ModelProto, name: &str) -> &'m mut NodeProto {
    let g = m.graph.as_mut().unwrap();
    g.node.iter_mut().find(|n| n.name() == name).unwrap()
}

fn init<'m>(m: &'m mut pb::ModelProto, name: &str) -> &'m mut TensorProto {
    let g = m.graph.as_mut().unwrap();
    g.initializer.iter_mut().find(|t| t.name() == name).unwrap()
}

fn ints_attr(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(7),
        ints: v.to_vec(),
        ..Default::default()
    }
}

#[test]
fn fixture_loads_unchanged() {
    // The baseline every test below breaks.
    let (config, _) = load_onnx(&pytorch().encode_to_vec()).unwrap();
    assert_eq!((config.resolution, config.classes), (128, 100));
}

#[test]
fn truncated_file() {
    let bytes = pytorch().encode_to_vec();
    for cut in [1, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = load_onnx(&bytes[..cut]).unwrap_err().to_string();
        assert!(e.contains("ONNX"), "{e}");
    }
    assert!(load_onnx(b"").is_err());
}

#[test]
fn raw_data_shorter_than_dims() {
    let mut m = pytorch();
    init(&mut m, "features.3.dw.weight")
        .raw_data
        .as_mut()
        .unwrap()
        .truncate(12);
    assert_names(
        &error(&m),
        &["features.3.dw.weight", "raw_data holds 12 bytes"],
    );
}

#[test]
fn lying_dims_are_refused_before_allocating() {
    let mut m = pytorch();
    init(&mut m, "features.3.dw.weight").dims = vec![1 << 40, 1 << 20];
    assert_names(&error(&m), &["features.3.dw.weight", "too large"]);
    let mut m = pytorch();
    init(&mut m, "features.3.dw.weight").dims = vec![-4, 1, 3, 3];
    assert_names(&error(&m), &["features.3.dw.weight", "-4"]);
}

#[test]
fn wrong_weight_dims_between_layers() {
    // pw2 gets one more input channel than dw2 gives.
    let mut m = pytorch();
    let t = init(&mut m, "features.2.pw.weight");
    let (o, i) = (t.dims[0] as usize, t.dims[1] as usize);
    t.dims[1] += 1;
    t.raw_data = Some(vec![0; o * (i + 1) * 4]);
    assert_names(
        &error(&m),
        &["features.2.pw/Conv", "17 input channels, the input has 16"],
    );
}

#[test]
fn channel_counts_no_alpha_explains() {
    // pw7 (base 512) has 100 outputs: a network, but dw8 after it takes 128 channels.
    let mut m = pytorch();
    let t = init(&mut m, "features.7.pw.weight");
    t.dims[0] = 100;
    let len = t.dims.iter().product::<i64>() as usize * 4;
    t.raw_data = Some(vec![0; len]);
    init(&mut m, "features.7.pw.bias").raw_data = Some(vec![0; 400]);
    init(&mut m, "features.7.pw.bias").dims = vec![100];
    assert_names(&error(&m), &["features.8.dw/Conv", "the input has 100"]);
}

#[test]
fn missing_initializer() {
    let mut m = pytorch();
    m.graph
        .as_mut()
        .unwrap()
        .initializer
        .retain(|t| t.name() != "features.5.pw.weight");
    assert_names(&error(&m), &["features.5.pw/Conv", "features.5.pw.weight"]);
}

#[test]
fn unsupported_op() {
    let mut m = pytorch();
    node(&mut m, "features.4.dw/Relu").op_type = Some("LeakyRelu".into());
    assert_names(&error(&m), &["features.4.dw/Relu", "LeakyRelu"]);
    let mut m = pytorch();
    node(&mut m, "pool").op_type = Some("GlobalMaxPool".into());
    assert_names(&error(&m), &["'pool'", "GlobalMaxPool"]);
}

#[test]
fn unsupported_attribute_and_values() {
    let mut m = pytorch();
    node(&mut m, "features.6.dw/Conv")
        .attribute
        .push(ints_attr("frobnicate", &[1]));
    assert_names(&error(&m), &["features.6.dw/Conv", "frobnicate"]);

    let mut m = pytorch();
    let n = node(&mut m, "features.6.dw/Conv");
    n.attribute.retain(|a| a.name() != "dilations");
    n.attribute.push(ints_attr("dilations", &[2, 2]));
    assert_names(&error(&m), &["features.6.dw/Conv", "dilation (2, 2)"]);

    let mut m = pytorch();
    let gemm = node(&mut m, "fc");
    gemm.attribute.push(AttributeProto {
        name: Some("transA".into()),
        r#type: Some(2),
        i: Some(1),
        ..Default::default()
    });
    assert_names(&error(&m), &["'fc'", "transA"]);
}

#[test]
fn pads_that_fit_no_style() {
    let mut m = pytorch();
    let n = node(&mut m, "features.8.dw/Conv");
    n.attribute.retain(|a| a.name() != "pads");
    n.attribute.push(ints_attr("pads", &[0, 0, 2, 2]));
    assert_names(
        &error(&m),
        &["features.8.dw/Conv", "padding must be 0 or 1"],
    );
}

#[test]
fn non_finite_weight() {
    let mut m = pytorch();
    let raw = init(&mut m, "features.9.pw.bias")
        .raw_data
        .as_mut()
        .unwrap();
    raw[8..12].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_names(&error(&m), &["features.9.pw.bias", "value 2 is not finite"]);
}

#[test]
fn branching_graph() {
    let mut m = pytorch();
    let g = m.graph.as_mut().unwrap();
    let relu = g
        .node
        .iter()
        .find(|n| n.name() == "features.2.dw/Relu")
        .unwrap();
    let mut extra = relu.clone();
    extra.name = Some("side_branch".into());
    extra.output = vec!["side".into()];
    g.node.push(extra);
    assert_names(&error(&m), &["feeds 2 nodes", "side_branch"]);
}

#[test]
fn clip_bounds_other_than_relu6() {
    let mut m = fixture("relu6_a035_r96");
    let t = init(&mut m, "features.1.dw.max");
    t.raw_data = Some(5.0f32.to_le_bytes().to_vec());
    assert_names(&error(&m), &["features.1.dw/Clip", "clamp [0, 5]"]);
}

#[test]
fn mixed_activations_make_a_network_but_no_mobilenet() {
    let mut m = pytorch();
    node(&mut m, "features.10.pw/Relu").op_type = Some("Identity".into());
    let bytes = m.encode_to_vec();
    let net = import_onnx(&bytes).unwrap().network;
    let acts: Vec<_> = net.layers.iter().map(|l| l.activation).collect();
    assert_eq!(acts[20], crate::Activation::None);
    assert!(
        acts.iter()
            .filter(|&&a| a == crate::Activation::Relu)
            .count()
            == 26
    );
    let e = load_onnx(&bytes).unwrap_err().to_string();
    assert_names(&e, &["not a MobileNet V1", "load it as a network"]);
}

#[test]
fn external_data_and_unknown_dtype() {
    let mut m = pytorch();
    init(&mut m, "fc.bias").data_location = Some(1);
    assert_names(&error(&m), &["fc.bias", "external"]);
    let mut m = pytorch();
    init(&mut m, "fc.bias").data_type = Some(10);
    assert_names(&error(&m), &["fc.bias", "data type 10"]);
}

#[test]
fn input_shape_problems() {
    use pb::tensor_shape_proto::dimension::Value;
    fn dims(m: &mut pb::ModelProto) -> &mut Vec<pb::tensor_shape_proto::Dimension> {
        let input = &mut m.graph.as_mut().unwrap().input[0];
        let Some(pb::type_proto::Value::TensorType(t)) =
            input.r#type.as_mut().unwrap().value.as_mut()
        else {
            unreachable!()
        };
        &mut t.shape.as_mut().unwrap().dim
    }
    // A non-square input is a network (no MobileNet, whose input is square).
    let mut m = pytorch();
    dims(&mut m)[3].value = Some(Value::DimValue(96));
    let net = import_onnx(&m.encode_to_vec()).unwrap().network;
    assert_eq!((net.in_h, net.in_w, net.as_mobilenet()), (128, 96, None));
    let mut m = pytorch();
    dims(&mut m)[2].value = Some(Value::DimParam("h".into()));
    assert_names(&error(&m), &["'input'", "only the batch may be free"]);
    // Another resolution than the weights' own is fine for the weights, but conv0's pads
    // (symmetric) still fit; check a resolution too small for 5 stride-2 layers is refused.
    let mut m = pytorch();
    dims(&mut m)[2].value = Some(Value::DimValue(0));
    dims(&mut m)[3].value = Some(Value::DimValue(0));
    assert_names(&error(&m), &["'input'"]);
}

#[test]
fn graph_that_stops_early_or_lacks_a_classifier_is_a_network() {
    let cut = |at: &str| {
        let mut m = pytorch();
        let g = m.graph.as_mut().unwrap();
        let pos = g.node.iter().position(|n| n.name() == at).unwrap();
        g.node.truncate(pos);
        g.node.last_mut().unwrap().output[0] = "output".into();
        import_onnx(&m.encode_to_vec()).unwrap().network
    };
    // The last feature map (4x4x256 at alpha 0.25 from 128 px).
    let net = cut("pool");
    assert_eq!(net.layers.len(), 27);
    assert!(!net.head.pool);
    assert_eq!(net.output_dims(), [4, 4, 256]);
    // The embedding.
    let net = cut("fc");
    assert!(net.head.pool && net.head.classes.is_none());
    assert_eq!(net.output_dims(), [256]);
    // Nine convolutions.
    let net = cut("features.5.dw/Conv");
    assert_eq!(net.layers.len(), 9);
    assert_eq!(net.layers[8].spec.name, "features.4.pw/Conv");
}

#[test]
fn no_graph_or_opset() {
    let mut m = pytorch();
    m.graph = None;
    assert_names(&error(&m), &["no graph"]);
    let mut m = pytorch();
    m.opset_import.clear();
    assert_names(&error(&m), &["opset"]);
}

#[test]
fn softmax_feeding_a_second_output_is_ignored_other_outputs_are_refused() {
    let mut m = pytorch();
    let g = m.graph.as_mut().unwrap();
    g.node.push(NodeProto {
        name: Some("probs_softmax".into()),
        op_type: Some("Softmax".into()),
        input: vec!["output".into()],
        output: vec!["probs".into()],
        ..Default::default()
    });
    let mut probs = g.output[0].clone();
    probs.name = Some("probs".into());
    g.output.push(probs);
    let model = import_onnx(&m.encode_to_vec()).unwrap();
    assert_eq!(model.output_name, "output");
    assert!(!model.network.head.softmax);

    // A QDQ export quantizes the probabilities: Softmax -> QuantizeLinear ->
    // DequantizeLinear -> the second output, with constant scale and zero point.
    let mut q = m.clone();
    let g = q.graph.as_mut().unwrap();
    g.node.last_mut().unwrap().output = vec!["probs_f".into()];
    g.initializer.push(TensorProto {
        name: Some("probs_scale".into()),
        data_type: Some(1),
        float_data: vec![1.0 / 256.0],
        ..Default::default()
    });
    g.initializer.push(TensorProto {
        name: Some("probs_zp".into()),
        data_type: Some(2),
        raw_data: Some(vec![0]),
        ..Default::default()
    });
    for (op, from, to) in [
        ("QuantizeLinear", "probs_f", "probs_q"),
        ("DequantizeLinear", "probs_q", "probs"),
    ] {
        g.node.push(NodeProto {
            name: Some(format!("{op}_probs")),
            op_type: Some(op.into()),
            input: vec![from.into(), "probs_scale".into(), "probs_zp".into()],
            output: vec![to.into()],
            ..Default::default()
        });
    }
    assert_eq!(
        import_onnx(&q.encode_to_vec()).unwrap().output_name,
        "output"
    );
    // The chain must end in a graph output or nowhere: a Relu after it is refused.
    let g = q.graph.as_mut().unwrap();
    g.node.last_mut().unwrap().output = vec!["probs_dq".into()];
    g.node.push(NodeProto {
        name: Some("after_probs".into()),
        op_type: Some("Relu".into()),
        input: vec!["probs_dq".into()],
        output: vec!["probs".into()],
        ..Default::default()
    });
    assert_names(&error(&q), &["Softmax", "not on the data path"]);

    // Extra outputs on the data path (features for a probe) are ignored too.
    let g = m.graph.as_mut().unwrap();
    g.output[1].name = Some("features.3.pw/Relu_out".into());
    g.node.pop();
    assert_eq!(
        load_onnx(&m.encode_to_vec()).unwrap(),
        model.clone().into_mobilenet().unwrap()
    );
    // An output nothing on the path produces is refused.
    m.graph.as_mut().unwrap().output[1].name = Some("ghost".into());
    assert_names(&error(&m), &["graph output 'ghost'"]);
}

#[test]
fn dropout_in_training_mode() {
    let mut m = fixture("batchnorm_a025_r64");
    let g = m.graph.as_mut().unwrap();
    g.initializer.push(TensorProto {
        name: Some("train".into()),
        data_type: Some(9),
        raw_data: Some(vec![1]),
        ..Default::default()
    });
    let d = g.node.iter_mut().find(|n| n.name() == "dropout").unwrap();
    d.input = vec![d.input[0].clone(), String::new(), "train".into()];
    assert_names(&error(&m), &["'dropout'", "training_mode"]);
}

#[test]
fn pads_other_than_zero_h_w_padding() {
    let mut m = fixture("keras_pad_a0125_r64");
    let pads: Vec<u8> = [0i64, 1, 0, 0, 0, 0, 1, 1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    init(&mut m, "features.2.dw.pads").raw_data = Some(pads);
    assert_names(&error(&m), &["features.2.dw/Pad", "only height and width"]);

    let mut m = fixture("keras_pad_a0125_r64");
    let pad = node(&mut m, "features.2.dw/Pad");
    pad.attribute.retain(|a| a.name() != "mode");
    pad.attribute.push(AttributeProto {
        name: Some("mode".into()),
        r#type: Some(3),
        s: Some(b"reflect".to_vec()),
        ..Default::default()
    });
    assert_names(&error(&m), &["features.2.dw/Pad", "reflect"]);
}

#[test]
fn computed_shapes_only_feed_a_reshape() {
    // A Shape-derived value used as a Clip bound is not a constant.
    let mut m = fixture("relu6_a035_r96");
    let g = m.graph.as_mut().unwrap();
    g.node.insert(
        0,
        NodeProto {
            name: Some("probe".into()),
            op_type: Some("Shape".into()),
            input: vec!["input".into()],
            output: vec!["probe_out".into()],
            ..Default::default()
        },
    );
    let clip = g
        .node
        .iter_mut()
        .find(|n| n.name() == "features.1.dw/Clip")
        .unwrap();
    clip.input[2] = "probe_out".into();
    assert_names(
        &error(&m),
        &[
            "features.1.dw/Clip",
            "'probe_out'",
            "neither the data path nor a constant",
        ],
    );
}

#[test]
fn average_pool_that_is_not_global() {
    let mut m = fixture("slim_avgpool_a0125_r64");
    let pool = node(&mut m, "pool");
    pool.attribute.retain(|a| a.name() != "kernel_shape");
    pool.attribute.push(ints_attr("kernel_shape", &[1, 1]));
    assert_names(
        &error(&m),
        &["'pool'", "over a 2x2 map", "only a pool of the whole map"],
    );
    let mut m = fixture("slim_avgpool_a0125_r64");
    let pool = node(&mut m, "pool");
    pool.attribute.retain(|a| a.name() != "pads");
    pool.attribute.push(ints_attr("pads", &[1, 1, 1, 1]));
    assert_names(&error(&m), &["'pool'", "pads"]);
}
