#!/usr/bin/env python3
"""Writes tests/fixtures/q8_onnx/: quantized ONNX models as ONNX Runtime's quantizer writes
them, with ONNX Runtime's outputs, for tests/q8_onnx.rs (CI has no Python, so the outputs
are committed).

Two kinds of fixture:

- MobileNets: float MobileNet V1 models with seeded random weights (the exporter fixtures of
  tests/fixtures/exporters/, and a Keras 0.5-160 built the same way), their Softmax removed
  so that the graph ends in the logits, quantized by `onnxruntime.quantization.
  quantize_static` (MinMax calibration on 16 seeded inputs, per_channel=True, s8 symmetric
  weights) in the QDQ format with u8 or s8 activations and in the QOperator format.
- single ops: QDQ (and two QOperator) models of one layer each, written with onnx.helper,
  with hand-picked scales and zero points (per-channel weight scales, int32 biases).

Inputs are not stored: input `i` of a fixture is `lcg_floats(seed, ...)` below, which the
Rust test reproduces bit for bit (values k * 2^-23 - 1 for a 24-bit k, exact in f32; the
single ops scale them by a power of two). For each fixture NAME: NAME.onnx,
NAME_output.npy (f32 [n, ...]: ONNX Runtime's output with its default optimizations, i.e.
DQ -> Conv -> Q fused into QLinearConv and run by MLAS), NAME_output_q.npy (the same as the
raw codes of the last QuantizeLinear, as f32 in sepconv's u8 grid: s8 codes + 128) and
NAME_output_noopt.npy (ONNX Runtime with graph optimizations off, which runs the QDQ graph
literally: each DequantizeLinear, the float op, each QuantizeLinear). manifest.json has the
seeds, shapes, output quantization and versions; README.md is generated from it.

Two steps, in two venvs (Keras 2 for the float 0.5-160, a recent onnxruntime for the rest):

    /work/venvs/tf215/bin/python scripts/gen_q8_onnx_fixtures.py float
    /work/venvs/torch/bin/python scripts/gen_q8_onnx_fixtures.py quant

`float` writes target/q8_onnx_float/ (not committed); `quant` reads it and the exporter
fixtures and writes tests/fixtures/q8_onnx/.
"""

import importlib.metadata
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "q8_onnx")
EXPORTERS = os.path.join(ROOT, "tests", "fixtures", "exporters")
FLOAT = os.path.join(ROOT, "target", "q8_onnx_float")
MANIFEST = os.path.join(OUT, "manifest.json")

MASK = (1 << 64) - 1
# Inputs per MobileNet fixture, and per single-op fixture.
N_MOBILENET = 24
N_OP = 8
N_CALIB = 16


def lcg_floats(seed, count):
    """`count` values k * 2^-23 - 1, k the top 24 bits of each step of the suites' Lcg
    (tests/common::Lcg: x = x * 6364136223846793005 + 1442695040888963407, value x >> 32)."""
    s = seed & MASK
    out = np.empty(count, np.float64)
    for i in range(count):
        s = (s * 6364136223846793005 + 1442695040888963407) & MASK
        out[i] = ((s >> 32) >> 8) * 2.0**-23 - 1.0
    return out.astype(np.float32)


def versions(*pkgs):
    out = {}
    for p in pkgs:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------------------------------
# float step (Keras 2 + tf2onnx)

def float_step():
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import gen_exporter_fixtures as ex
    import tensorflow as tf
    import tf2onnx

    os.makedirs(FLOAT, exist_ok=True)
    keras = tf.keras
    model = ex.build_keras(keras, 0.5, 160, 160, True)
    spec = (tf.TensorSpec((None, 160, 160, 3), tf.float32, name="input_1"),)
    path = os.path.join(FLOAT, "keras_tf2onnx_a050_r160.onnx")
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=13, output_path=path)
    with open(os.path.join(FLOAT, "versions.json"), "w") as f:
        json.dump(versions("tensorflow-cpu", "tf2onnx", "onnx"), f)
    print("wrote", path)


# ---------------------------------------------------------------------------------------
# quant step (onnxruntime)

def strip_softmax(src, dst):
    """The model with its final Softmax removed: the graph output is the logits."""
    import onnx
    m = onnx.load(src)
    g = m.graph
    sm = [n for n in g.node if n.op_type == "Softmax"]
    for n in sm:
        assert n.output[0] == g.output[0].name
        g.node.remove(n)
        g.output[0].name = n.input[0]
    onnx.save(m, dst)


def input_shape(path):
    import onnx
    m = onnx.load(path)
    inits = {t.name for t in m.graph.initializer}
    inp = [i for i in m.graph.input if i.name not in inits][0]
    dims = [d.dim_value if d.HasField("dim_value") else None
            for d in inp.type.tensor_type.shape.dim]
    return inp.name, dims


def batch_of(dims, n, seed):
    shape = [n] + dims[1:]
    return lcg_floats(seed, int(np.prod(shape))).reshape(shape)


def session(path, optimize=True):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def optimized_ops(path):
    """The op types ONNX Runtime runs after its graph optimizations (for the README)."""
    import onnx
    import onnxruntime as ort
    import collections
    import tempfile
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    with tempfile.TemporaryDirectory() as d:
        so.optimized_model_filepath = os.path.join(d, "opt.onnx")
        ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        m = onnx.load(so.optimized_model_filepath)
    c = collections.Counter(
        (f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type
        for n in m.graph.node)
    return dict(sorted(c.items()))


def file_ops(path):
    import onnx
    import collections
    m = onnx.load(path)
    c = collections.Counter(
        (f"{n.domain}." if n.domain not in ("", "ai.onnx") else "") + n.op_type
        for n in m.graph.node)
    return dict(sorted(c.items()))


def output_q(path):
    """Scale and zero point (in the u8 grid) of the final DequantizeLinear, or None."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    last = [n for n in g.node if n.output[0] == g.output[0].name][0]
    if last.op_type != "DequantizeLinear":
        return None
    scale = float(inits[last.input[1]].reshape(-1)[0])
    zp_t = inits[last.input[2]]
    zp = int(zp_t.reshape(-1)[0]) + (128 if zp_t.dtype == np.int8 else 0)
    return scale, zp


def run_fixture(name, path, n, seed, layout, meta, manifest, amp=1.0):
    in_name, dims = input_shape(path)
    x = batch_of(dims, n, seed) * np.float32(amp)
    outs = {}
    for opt in (True, False):
        sess = session(path, opt)
        if dims[0] is None:
            y = sess.run(None, {in_name: x})[0]
        else:
            y = np.concatenate([sess.run(None, {in_name: x[i:i + 1]})[0] for i in range(n)])
        outs[opt] = y.astype(np.float32)
    np.save(os.path.join(OUT, f"{name}_output.npy"), outs[True])
    np.save(os.path.join(OUT, f"{name}_output_noopt.npy"), outs[False])
    q = output_q(path)
    entry = dict(meta, file=f"{name}.onnx", input=in_name, input_layout=layout,
                 input_dims=[n] + dims[1:], seed=seed, inputs=n,
                 output_shape=list(outs[True].shape), ops=file_ops(path),
                 ort_runs=optimized_ops(path))
    if q is not None:
        scale, zp = q
        codes = np.round(outs[True] / np.float32(scale)) + zp
        assert codes.min() >= 0 and codes.max() <= 255
        np.save(os.path.join(OUT, f"{name}_output_q.npy"), codes.astype(np.float32))
        entry.update(output_scale=scale, output_zero_point=zp)
        diff = np.abs(outs[True] - outs[False]) / scale
        entry["opt_vs_noopt_within_1"] = float(np.mean(diff <= 1.0001))
        entry["opt_vs_noopt_top1"] = float(np.mean(
            outs[True].reshape(n, -1).argmax(1) == outs[False].reshape(n, -1).argmax(1)))
    manifest[name] = entry
    print(name, entry.get("opt_vs_noopt_within_1"), entry["ort_runs"])


class Reader:
    def __init__(self, in_name, dims, seed):
        self.in_name, self.dims, self.seed, self.i = in_name, dims, seed, 0

    def get_next(self):
        if self.i >= N_CALIB:
            return None
        self.i += 1
        return {self.in_name: batch_of(self.dims, 1, self.seed + 7919 * self.i)}

    def rewind(self):
        self.i = 0


MOBILENETS = [
    # (name, float source, layout, format, activations, op_types excluded)
    ("keras_a025_r128_qdq_u8", "exporters/keras_tf2onnx_a025_r128", "NHWC", "QDQ", "u8", []),
    ("keras_a025_r128_qdq_s8", "exporters/keras_tf2onnx_a025_r128", "NHWC", "QDQ", "s8", []),
    # QOperator with the standard ops only: the pool stays a float GlobalAveragePool between
    # DequantizeLinear and QuantizeLinear.
    ("keras_a025_r128_qop_u8", "exporters/keras_tf2onnx_a025_r128", "NHWC", "QOperator", "u8",
     ["GlobalAveragePool"]),
    # What quantize_static writes by default in QOperator: com.microsoft's
    # QLinearGlobalAveragePool, which sepconv refuses by name.
    ("keras_a025_r128_qop_contrib", "exporters/keras_tf2onnx_a025_r128", "NHWC", "QOperator",
     "u8", None),
    ("torch_a025_r128_qdq_u8", "exporters/torch_ts_a025_r128", "NCHW", "QDQ", "u8", []),
    ("keras_a050_r160_qdq_u8", "float/keras_tf2onnx_a050_r160", "NHWC", "QDQ", "u8", []),
]


def mobilenet_fixtures(manifest, only):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.registry import QLinearOpsRegistry
    import tempfile

    for i, (name, src, layout, fmt, act, exclude) in enumerate(MOBILENETS):
        if only and name not in only:
            continue
        base, stem = src.split("/")
        src_path = os.path.join(EXPORTERS if base == "exporters" else FLOAT, stem + ".onnx")
        with tempfile.TemporaryDirectory() as d:
            fp = os.path.join(d, "float.onnx")
            strip_softmax(src_path, fp)
            in_name, dims = input_shape(fp)
            out = os.path.join(OUT, f"{name}.onnx")
            kw = {}
            if fmt == "QOperator" and exclude:
                kw["op_types_to_quantize"] = [o for o in QLinearOpsRegistry if o not in exclude]
            quantize_static(
                fp, out, Reader(in_name, dims, 1000 + i),
                quant_format=QuantFormat.QDQ if fmt == "QDQ" else QuantFormat.QOperator,
                per_channel=True,
                activation_type=QuantType.QUInt8 if act == "u8" else QuantType.QInt8,
                weight_type=QuantType.QInt8, **kw)
        meta = dict(kind="mobilenet", source=f"{src}.onnx (Softmax removed)", format=fmt,
                    activations=act,
                    quantize_static=dict(per_channel=True, activation_type=act,
                                         weight_type="s8", calibrate_method="MinMax",
                                         calibration_inputs=N_CALIB, **kw))
        if exclude is None:
            manifest[name] = dict(meta, file=f"{name}.onnx", ops=file_ops(out),
                                  refused="com.microsoft contrib op")
            print(name, manifest[name]["ops"])
            continue
        run_fixture(name, out, N_MOBILENET, 100 + 17 * i, layout, meta, manifest)


# --- single ops -------------------------------------------------------------------------

def single_op_model(spec, out_q=None):
    """A QDQ (or QOperator) model of one layer; `out_q` (scale, zp) quantizes the output
    (None: the float output, to choose it)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(spec["seed"])
    act_t = TensorProto.UINT8 if spec["act"] == "u8" else TensorProto.INT8
    act_np = np.uint8 if spec["act"] == "u8" else np.int8
    shift = 0 if spec["act"] == "u8" else 128
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def qdq(x, scale, zp, tag):
        s = init(f"{tag}_scale", np.array(scale, np.float32))
        z = init(f"{tag}_zero_point", np.array(zp - shift, act_np))
        nodes.append(helper.make_node("QuantizeLinear", [x, s, z], [f"{tag}_q"], name=f"{tag}_Q"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{tag}_q", s, z], [f"{tag}_dq"],
                                      name=f"{tag}_DQ"))
        return f"{tag}_dq"

    def weights(tag, shape, axis, s_in):
        out_c = shape[axis]
        w = rng.integers(-127, 128, shape).astype(np.int8)
        ws = rng.uniform(0.5, 2.0, out_c).astype(np.float32) * spec["w_scale"]
        b = rng.integers(-spec["bias"], spec["bias"] + 1, out_c).astype(np.int32)
        wn = init(f"{tag}_w", w)
        wsn = init(f"{tag}_w_scale", ws)
        wzn = init(f"{tag}_w_zero_point", np.zeros(out_c, np.int8))
        nodes.append(helper.make_node("DequantizeLinear", [wn, wsn, wzn], [f"{tag}_w_dq"],
                                      name=f"{tag}_w_DQ", axis=axis))
        bs = (np.float32(s_in) * ws).astype(np.float32)
        bn = init(f"{tag}_b", b)
        bsn = init(f"{tag}_b_scale", bs)
        bzn = init(f"{tag}_b_zero_point", np.zeros(out_c, np.int32))
        nodes.append(helper.make_node("DequantizeLinear", [bn, bsn, bzn], [f"{tag}_b_dq"],
                                      name=f"{tag}_b_DQ", axis=0))
        return f"{tag}_w_dq", f"{tag}_b_dq", (w, ws, b)

    in_dims = spec["input"]
    x = "input"
    s_in, zp_in = spec["in_q"]
    cur = qdq(x, s_in, zp_in, "input")
    for li, layer in enumerate(spec["layers"]):
        tag = f"l{li}"
        kind = layer["op"]
        if kind in ("conv", "dw", "pw"):
            c_in = layer["in_c"]
            out_c = c_in if kind == "dw" else layer["out_c"]
            k = 1 if kind == "pw" else 3
            wdq, bdq, _ = weights(tag, [out_c, 1 if kind == "dw" else c_in, k, k], 0, s_in)
            attrs = dict(kernel_shape=[k, k], strides=[layer.get("stride", 1)] * 2,
                         pads=layer.get("pads", [0, 0, 0, 0]))
            if kind == "dw":
                attrs["group"] = c_in
            nodes.append(helper.make_node("Conv", [cur, wdq, bdq], [f"{tag}_y"], name=f"{tag}_Conv",
                                          **attrs))
            y = f"{tag}_y"
            if layer.get("act") == "relu":
                nodes.append(helper.make_node("Relu", [y], [f"{tag}_act"], name=f"{tag}_Relu"))
                y = f"{tag}_act"
            elif layer.get("act") == "relu6":
                lo = init(f"{tag}_min", np.array(0.0, np.float32))
                hi = init(f"{tag}_max", np.array(6.0, np.float32))
                nodes.append(helper.make_node("Clip", [y, lo, hi], [f"{tag}_act"], name=f"{tag}_Clip"))
                y = f"{tag}_act"
        elif kind == "gap":
            nodes.append(helper.make_node("GlobalAveragePool", [cur], [f"{tag}_y"], name=f"{tag}_GAP"))
            y = f"{tag}_y"
        elif kind == "gemm":
            nodes.append(helper.make_node("Flatten", [cur], [f"{tag}_flat"], name=f"{tag}_Flatten"))
            wdq, bdq, _ = weights(tag, [layer["out_c"], layer["in_c"]], 0, s_in)
            nodes.append(helper.make_node("Gemm", [f"{tag}_flat", wdq, bdq], [f"{tag}_y"],
                                          name=f"{tag}_Gemm", transB=1))
            y = f"{tag}_y"
        else:
            raise ValueError(kind)
        last = li == len(spec["layers"]) - 1
        if last and out_q is None:
            final = y
            break
        q = out_q if last else layer["q"]
        cur = qdq(y, q[0], q[1], f"{tag}_out")
        s_in = q[0]
        final = cur
    # A probe (no output quantization, maybe fewer layers) leaves the output shape open.
    out_dims = ["N", "C", "H", "W"][:len(spec["output"]) + 1] if out_q is None else ["N"] + spec["output"]
    graph = helper.make_graph(
        nodes, spec["name"],
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N"] + in_dims)],
        [helper.make_tensor_value_info(final, TensorProto.FLOAT, out_dims)],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="gen_q8_onnx_fixtures.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def qoperator_model(spec, out_q=None):
    """QOperator: QuantizeLinear -> QLinearConv -> [DequantizeLinear -> GlobalAveragePool ->
    QuantizeLinear -> Flatten -> QLinearMatMul] -> DequantizeLinear."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(spec["seed"])
    nodes, inits = [], []

    def init(name, arr):
        inits.append(numpy_helper.from_array(arr, name))
        return name

    s_in, zp_in = spec["in_q"]
    xs = init("x_scale", np.array(s_in, np.float32))
    xz = init("x_zero_point", np.array(zp_in, np.uint8))
    nodes.append(helper.make_node("QuantizeLinear", ["input", xs, xz], ["x_q"], name="input_Q"))
    layer = spec["layers"][0]
    c_in, out_c, k = layer["in_c"], layer["out_c"], layer["k"]
    group = c_in if layer.get("dw") else 1
    w = rng.integers(-127, 128, [out_c, c_in // group, k, k]).astype(np.int8)
    ws = rng.uniform(0.5, 2.0, out_c).astype(np.float32) * spec["w_scale"]
    b = rng.integers(-spec["bias"], spec["bias"] + 1, out_c).astype(np.int32)
    y_q = layer["q"] if len(spec["layers"]) > 1 else out_q
    probe = y_q is None
    if probe:
        y_q = (1.0, 128)
    ys = init("y_scale", np.array(y_q[0], np.float32))
    yz = init("y_zero_point", np.array(y_q[1], np.uint8))
    nodes.append(helper.make_node(
        "QLinearConv",
        ["x_q", xs, xz, init("w", w), init("w_scale", ws), init("w_zero_point", np.zeros(out_c, np.int8)),
         ys, yz, init("b", b)],
        ["y_q"], name="conv_QLinearConv", kernel_shape=[k, k], strides=[layer.get("stride", 1)] * 2,
        pads=layer.get("pads", [0, 0, 0, 0]), group=group))
    cur = "y_q"
    cur_s, cur_z = ys, yz
    if len(spec["layers"]) > 1:
        nodes.append(helper.make_node("DequantizeLinear", [cur, cur_s, cur_z], ["y_dq"], name="y_DQ"))
        nodes.append(helper.make_node("GlobalAveragePool", ["y_dq"], ["pool"], name="pool_GAP"))
        pq = spec["layers"][1]["q"]
        ps = init("pool_scale", np.array(pq[0], np.float32))
        pz = init("pool_zero_point", np.array(pq[1], np.uint8))
        nodes.append(helper.make_node("QuantizeLinear", ["pool", ps, pz], ["pool_q"], name="pool_Q"))
        nodes.append(helper.make_node("Flatten", ["pool_q"], ["flat_q"], name="flat_Flatten"))
        classes = spec["layers"][2]["out_c"]
        mw = rng.integers(-127, 128, [out_c, classes]).astype(np.int8)
        mws = np.array(spec["w_scale"], np.float32)
        oq = out_q if out_q is not None else (1.0, 128)
        probe = out_q is None
        os_ = init("out_scale", np.array(oq[0], np.float32))
        oz = init("out_zero_point", np.array(oq[1], np.uint8))
        nodes.append(helper.make_node(
            "QLinearMatMul",
            ["flat_q", ps, pz, init("fc_w", mw), init("fc_w_scale", mws),
             init("fc_w_zero_point", np.array(0, np.int8)), os_, oz],
            ["out_q"], name="fc_QLinearMatMul"))
        cur, cur_s, cur_z = "out_q", os_, oz
    nodes.append(helper.make_node("DequantizeLinear", [cur, cur_s, cur_z], ["output"], name="output_DQ"))
    graph = helper.make_graph(
        nodes, spec["name"],
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N"] + spec["input"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N"] + spec["output"])],
        inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                          producer_name="gen_q8_onnx_fixtures.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m, probe


# Each op: the input range is `amp` (a power of two) times U(-1, 1); the input quantization is
# deliberately off centre (a few codes saturate); every output quantization is chosen from the
# float output's range (see choose_q) with `zp_bias` moving the zero point.
OPS = [
    dict(name="op_conv0_s2", input=[3, 17, 16], output=[8, 9, 8], amp=2.0, in_q=(1 / 60, 131),
         w_scale=0.004, bias=3000, act="u8",
         layers=[dict(op="conv", in_c=3, out_c=8, stride=2, pads=[1, 1, 1, 1])]),
    dict(name="op_dw_s1_relu6", input=[8, 12, 11], output=[8, 12, 11], amp=4.0,
         in_q=(1 / 30, 121), w_scale=0.01, bias=800, act="u8",
         layers=[dict(op="dw", in_c=8, stride=1, pads=[1, 1, 1, 1], act="relu6")]),
    dict(name="op_dw_s2_s8", input=[8, 12, 12], output=[8, 6, 6], amp=1.0, in_q=(1 / 120, 118),
         w_scale=0.02, bias=500, act="s8",
         layers=[dict(op="dw", in_c=8, stride=2, pads=[0, 0, 1, 1])]),
    dict(name="op_pw_relu", input=[16, 7, 6], output=[24, 7, 6], amp=1.0, in_q=(1 / 127, 127),
         w_scale=0.003, bias=4000, act="u8",
         layers=[dict(op="pw", in_c=16, out_c=24, act="relu")]),
    dict(name="op_pw_gap", input=[16, 6, 5], output=[12, 1, 1], amp=2.0, in_q=(1 / 50, 140),
         w_scale=0.005, bias=2000, act="u8",
         layers=[dict(op="pw", in_c=16, out_c=12, act="relu"), dict(op="gap")]),
    dict(name="op_pw_gap_gemm_s8", input=[16, 5, 5], output=[10], amp=1.0, in_q=(1 / 110, 125),
         w_scale=0.004, bias=3000, act="s8",
         layers=[dict(op="pw", in_c=16, out_c=12), dict(op="gap"), dict(op="gemm", in_c=12, out_c=10)]),
]

QOPS = [
    dict(name="qop_dw_s2", input=[8, 11, 11], output=[8, 6, 6], amp=2.0, in_q=(1 / 60, 128),
         w_scale=0.01, bias=1000, layers=[dict(in_c=8, out_c=8, k=3, stride=2, pads=[1, 1, 1, 1], dw=True)]),
    dict(name="qop_pw_gap_matmul", input=[16, 6, 6], output=[10], amp=1.0, in_q=(1 / 120, 124),
         w_scale=0.004, bias=2000,
         layers=[dict(in_c=16, out_c=12, k=1), dict(op="gap"), dict(out_c=10)]),
]


def choose_q(y, zp_bias=0):
    lo, hi = float(np.min(y)), float(np.max(y))
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 250.0 or 1.0
    zp = int(np.clip(np.round(-lo / scale) + 2 + zp_bias, 0, 255))
    return (float(np.float32(scale)), zp)


def op_input(spec, n, seed):
    shape = [n] + spec["input"]
    return (lcg_floats(seed, int(np.prod(shape))) * np.float32(spec["amp"])).reshape(shape)


def op_fixtures(manifest, only):
    import onnx
    import tempfile
    for i, spec in enumerate(OPS + QOPS):
        name = spec["name"]
        if only and name not in only:
            continue
        spec = dict(spec, seed=5000 + i)
        seed = 300 + 13 * i
        qop = name.startswith("qop_")
        x = op_input(spec, N_OP, seed)
        with tempfile.TemporaryDirectory() as d:
            # Intermediate layers: quantization from the float output of the prefix.
            layers = spec["layers"]
            for j in range(len(layers) - 1):
                if qop:
                    break
                sub = dict(spec, layers=layers[:j + 1])
                p = os.path.join(d, "probe.onnx")
                onnx.save(single_op_model(sub), p)
                y = session(p).run(None, {"input": x})[0]
                layers[j] = dict(layers[j], q=choose_q(y, 3 * j))
            if qop:
                # The conv's output quantization from a probe run at a wide scale.
                if len(layers) > 1:
                    m, _ = qoperator_model(dict(spec, layers=layers[:1]), (0.1, 128))
                    p = os.path.join(d, "probe.onnx")
                    onnx.save(m, p)
                    y = session(p).run(None, {"input": x})[0]
                    layers[0] = dict(layers[0], q=choose_q(y))
                    layers[1] = dict(layers[1], q=choose_q(y.mean(axis=(2, 3))))
                m, _ = qoperator_model(spec, (0.01, 128) if len(layers) > 1 else None)
                p = os.path.join(d, "probe.onnx")
                onnx.save(m, p)
                y = session(p).run(None, {"input": x})[0]
                out_q = choose_q(y)
                m, _ = qoperator_model(spec, out_q)
            else:
                p = os.path.join(d, "probe.onnx")
                onnx.save(single_op_model(spec), p)
                y = session(p).run(None, {"input": x})[0]
                out_q = choose_q(y, 5)
                m = single_op_model(spec, out_q)
        path = os.path.join(OUT, f"{name}.onnx")
        onnx.save(m, path)
        layout = "NCHW"
        meta = dict(kind="op", format="QOperator" if qop else "QDQ",
                    activations=spec.get("act", "u8"), amp=spec["amp"],
                    input_q=list(spec["in_q"]),
                    layers=[{k: v for k, v in l.items()} for l in spec["layers"]])
        run_fixture(name, path, N_OP, seed, layout, meta, manifest, spec["amp"])


def readme(manifest):
    lines = [
        "# Quantized ONNX fixtures",
        "",
        "Generated by `scripts/gen_q8_onnx_fixtures.py` (its docstring says how; this README",
        "is generated too). Used by `tests/q8_onnx.rs`.",
        "",
        "Inputs are not stored: input batch of a fixture is `lcg_floats(seed, n * h * w * c)`",
        "(times `amp` for the single ops) in the model's input layout, the suites' `Lcg`",
        "(tests/common) giving k = top 24 bits of each step, value k * 2^-23 - 1.",
        "",
        "For each NAME: `NAME.onnx`; `NAME_output.npy`, ONNX Runtime's f32 output (default",
        "graph optimizations: the QDQ groups fused into QLinearConv etc., MLAS kernels);",
        "`NAME_output_q.npy`, the same as codes of the final QuantizeLinear in the u8 grid;",
        "`NAME_output_noopt.npy`, ONNX Runtime with optimizations off (the QDQ graph run",
        "literally in float between QuantizeLinear/DequantizeLinear).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in manifest["_versions"].items()),
        "",
        "| fixture | format | act | inputs | output | opt vs noopt within 1 | top-1 | ONNX Runtime runs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in manifest.items():
        if name.startswith("_"):
            continue
        if "refused" in e:
            lines.append(f"| {name} | {e['format']} | {e['activations']} | - | refused "
                         f"({e['refused']}) | - | - | file ops: {e['ops']} |")
            continue
        runs = ", ".join(f"{k} {v}" for k, v in e["ort_runs"].items())
        lines.append(
            f"| {name} | {e['format']} | {e['activations']} | {e['inputs']} | "
            f"{e['output_shape']} s={e.get('output_scale', 0):.4g} zp={e.get('output_zero_point')} | "
            f"{100 * e.get('opt_vs_noopt_within_1', 0):.2f}% | "
            f"{100 * e.get('opt_vs_noopt_top1', 0):.0f}% | {runs} |")
    lines += ["", "Ops in each file:", ""]
    for name, e in manifest.items():
        if not name.startswith("_"):
            lines.append(f"- {name}: " + ", ".join(f"{k} {v}" for k, v in e["ops"].items()))
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def quant_step(only):
    os.makedirs(OUT, exist_ok=True)
    manifest = {}
    if os.path.exists(MANIFEST):
        with open(MANIFEST) as f:
            manifest = json.load(f)
    manifest["_versions"] = versions("onnxruntime", "onnx", "numpy")
    fv = os.path.join(FLOAT, "versions.json")
    if os.path.exists(fv):
        with open(fv) as f:
            manifest["_versions"].update({f"float: {k}": v for k, v in json.load(f).items()})
    op_fixtures(manifest, only)
    mobilenet_fixtures(manifest, only)
    manifest = {k: manifest[k] for k in sorted(manifest)}
    with open(MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    readme(manifest)


def main():
    step = sys.argv[1] if len(sys.argv) > 1 else "quant"
    if step == "float":
        float_step()
    elif step == "quant":
        quant_step(set(sys.argv[2:]))
    else:
        raise SystemExit(f"unknown step {step!r} (float or quant)")


if __name__ == "__main__":
    main()
