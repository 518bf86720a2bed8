#!/usr/bin/env python3
"""Writes the ONNX fixtures of tests/onnx.rs: small MobileNet V1 graphs with seeded random
weights, in the node patterns PyTorch's exporter and tf2onnx produce, plus an input .npy and
ONNX Runtime's output .npy for each. The outputs are committed (CI has no Python).

Needs Python 3 with packages from PyPI:
    pip install onnx onnxruntime numpy
Run from anywhere (rewrites tests/fixtures/):
    python3 scripts/gen_fixtures.py

Each fixture NAME gives tests/fixtures/NAME.onnx, NAME_input.npy (in the model's own input
layout: NCHW, or NHWC for the TensorFlow-style ones) and NAME_output.npy (ONNX Runtime's
first graph output).
"""

import os

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")

# MobileNet V1 (Howard et al. 2017, Table 1) at alpha 1: (pointwise channels, dw stride).
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
          (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]


def channels(base, alpha):
    # Keras' int(filters * alpha), as MobileNetConfig::channels.
    return max(1, int(base * alpha))


def tf_same(size, stride, k=3):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


class Builder:
    """Accumulates nodes and initializers of one graph."""

    def __init__(self, seed, opset):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits = [], []
        self.opset = opset
        self.n = 0

    def name(self, stem):
        self.n += 1
        return f"{stem}_{self.n}"

    def init(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const_node(self, name, array):
        # A Constant node instead of an initializer (tf2onnx and newer exporters use both).
        self.nodes.append(helper.make_node("Constant", [], [name], name=name + "_const",
                                           value=numpy_helper.from_array(np.asarray(array))))
        return name

    def node(self, op, inputs, name=None, **attrs):
        name = name or self.name(op)
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(self, x, prefix, cin, cout, k, stride, group, pads, bias=True, auto_pad=None):
        fan_in = (cin // group) * k * k
        w = self.rng.uniform(-1, 1, (cout, cin // group, k, k)) * np.sqrt(6.0 / fan_in)
        inputs = [x, self.init(prefix + ".weight", w.astype(np.float32))]
        if bias:
            b = self.rng.uniform(-0.1, 0.1, cout).astype(np.float32)
            inputs.append(self.init(prefix + ".bias", b))
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], group=group,
                     dilations=[1, 1])
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            attrs["pads"] = list(pads)
        return self.node("Conv", inputs, name=prefix + "/Conv", **attrs)

    def batch_norm(self, x, prefix, c, eps):
        r = self.rng
        gamma = r.uniform(0.5, 1.5, c).astype(np.float32)
        beta = r.uniform(-0.2, 0.2, c).astype(np.float32)
        mean = r.uniform(-0.2, 0.2, c).astype(np.float32)
        var = r.uniform(0.5, 2.0, c).astype(np.float32)
        ins = [x] + [self.init(f"{prefix}.bn.{n}", v)
                     for n, v in (("weight", gamma), ("bias", beta), ("running_mean", mean),
                                  ("running_var", var))]
        return self.node("BatchNormalization", ins, name=prefix + "/BatchNormalization",
                         epsilon=eps, momentum=0.9)

    def relu6(self, x, prefix, how):
        if how == "attrs":  # opset < 11
            return self.node("Clip", [x], name=prefix + "/Clip", min=0.0, max=6.0)
        lo, hi = np.array(0.0, np.float32), np.array(6.0, np.float32)
        if how == "constants":
            ins = [self.const_node(prefix + "/min", lo), self.const_node(prefix + "/max", hi)]
        else:
            ins = [self.init(prefix + ".min", lo), self.init(prefix + ".max", hi)]
        return self.node("Clip", [x] + ins, name=prefix + "/Clip")

    def model(self, inp, out, producer, keep_inits_as_inputs=False):
        inputs = [inp]
        if keep_inits_as_inputs:
            inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                       for t in self.inits]
        graph = helper.make_graph(self.nodes, "mobilenet_v1", inputs, [out],
                                  initializer=self.inits)
        m = helper.make_model(graph, producer_name=producer,
                              opset_imports=[helper.make_opsetid("", self.opset)])
        m.ir_version = 7
        onnx.checker.check_model(m, full_check=True)
        return m


def mobilenet(name, *, alpha, res, classes, seed, opset=13, padding="symmetric",
              bn=None, act="relu", nhwc=False, head="gemm", softmax=False, batch=1,
              auto_pad_layers=(), dropout=False, keep_inits_as_inputs=False, keras_pad=False,
              avg_pool=False):
    """Builds one MobileNet V1 graph.

    padding: "symmetric" (PyTorch) or "tf_same" (TensorFlow: stride 2 on even sizes pads
    only bottom/right); bn: None (folded into conv bias) or an epsilon (unfolded
    BatchNormalization, conv without bias); act: "relu", "clip_attrs", "clip_inits",
    "clip_constants"; avg_pool: AveragePool over the whole last feature map instead of
    GlobalAveragePool; keras_pad: stride-2 depthwise convs as Pad + VALID Conv (Keras'
    ZeroPadding2D); head: "gemm" (GlobalAveragePool, Flatten, Gemm transB=1), "gemm_reshape"
    (GlobalAveragePool, Reshape by a computed shape, Gemm transB=0), "keras" (GlobalAveragePool, 1x1 Conv,
    Transpose, Reshape), "tf" (Transpose to NHWC, ReduceMean over
    [1, 2], MatMul + Add), "conv" (GlobalAveragePool, 1x1 Conv, Squeeze).
    """
    b = Builder(seed, opset)
    batch_dim = batch if batch == 1 else "N"
    if nhwc:
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                            [batch_dim, res, res, 3])
        x = b.node("Transpose", ["input"], name="input_to_nchw", perm=[0, 3, 1, 2])
    else:
        inp = helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                            [batch_dim, 3, res, res])
        x = "input"

    def activation(x, prefix):
        if act == "relu":
            return b.node("Relu", [x], name=prefix + "/Relu")
        mode = act.split("_", 1)[1]
        # Mix Constant nodes (even layers) and initializers (odd) in the "constants" fixture.
        if mode == "constants" and int(prefix.split(".")[1]) % 2 == 1:
            mode = "inits"
        return b.relu6(x, prefix, mode)

    def layer(x, prefix, cin, cout, k, stride, group, size):
        if k == 1:
            pads = (0, 0, 0, 0)
        elif padding == "symmetric":
            pads = (1, 1, 1, 1)
        else:
            before, after = tf_same(size, stride)
            pads = (before, before, after, after)
        auto = "SAME_UPPER" if (prefix in auto_pad_layers and k == 3) else None
        if keras_pad and k == 3 and stride == 2 and prefix != "features.0":
            # Keras: ZeroPadding2D(((0, 1), (0, 1))) then a VALID depthwise convolution.
            zero_pads = b.init(prefix + ".pads", np.array([0, 0, 0, 0, 0, 0, 1, 1], np.int64))
            x = b.node("Pad", [x, zero_pads], name=prefix + "/Pad", mode="constant")
            size += 1
            pads = (0, 0, 0, 0)
        x = b.conv(x, prefix, cin, cout, k, stride, group, pads, bias=bn is None,
                   auto_pad=auto)
        if bn is not None:
            x = b.batch_norm(x, prefix, cout, bn)
        size = (size + sum(pads[::2]) - k) // stride + 1
        return activation(x, prefix), size

    c = channels(32, alpha)
    x, size = layer(x, "features.0", 3, c, 3, 2, 1, res)
    for i, (base, stride) in enumerate(BLOCKS):
        x, size = layer(x, f"features.{i + 1}.dw", c, c, 3, stride, c, size)
        cout = channels(base, alpha)
        x, size = layer(x, f"features.{i + 1}.pw", c, cout, 1, 1, 1, size)
        c = cout

    if head == "tf":
        x = b.node("Transpose", [x], name="to_nhwc", perm=[0, 2, 3, 1])
        if opset >= 18:
            axes = b.const_node("pool_axes", np.array([1, 2], np.int64))
            x = b.node("ReduceMean", [x, axes], name="pool", keepdims=0)
        else:
            x = b.node("ReduceMean", [x], name="pool", axes=[1, 2], keepdims=0)
    elif avg_pool:
        # TF-slim: AvgPool with the last feature map's size as kernel, VALID.
        x = b.node("AveragePool", [x], name="pool", kernel_shape=[size, size],
                   strides=[2, 2], pads=[0, 0, 0, 0])
    else:
        x = b.node("GlobalAveragePool", [x], name="pool")
    if dropout:
        x = b.node("Dropout", [x], name="dropout")
    w = (b.rng.uniform(-1, 1, (classes, c)) * 3 * np.sqrt(6.0 / c)).astype(np.float32)
    bias = b.rng.uniform(-0.1, 0.1, classes).astype(np.float32)
    if head == "gemm":
        x = b.node("Flatten", [x], name="flatten", axis=1)
        x = b.node("Gemm", [x, b.init("fc.weight", w), b.init("fc.bias", bias)],
                   name="fc", alpha=1.0, beta=1.0, transB=1)
    elif head == "gemm_reshape":
        # PyTorch's x.view(x.size(0), -1) with a dynamic batch: the shape is computed.
        dims = b.node("Shape", [x], name="view/Shape")
        zero = b.const_node("view/zero", np.array(0, np.int64))
        n = b.node("Gather", [dims, zero], name="view/Gather", axis=0)
        n = b.node("Unsqueeze", [n, b.init("view/axes", np.array([0], np.int64))],
                   name="view/Unsqueeze")
        rest = b.const_node("view/minus_one", np.array([-1], np.int64))
        shape = b.node("Concat", [n, rest], name="view/Concat", axis=0)
        x = b.node("Reshape", [x, shape], name="reshape")
        x = b.node("Gemm", [x, b.init("fc.weight", w.T.copy()), b.init("fc.bias", bias)],
                   name="fc")
    elif head == "tf":
        x = b.node("MatMul", [x, b.init("fc.kernel", w.T.copy())], name="fc/MatMul")
        x = b.node("Add", [x, b.init("fc.bias", bias)], name="fc/BiasAdd")
    elif head == "keras":
        # Keras' conv_preds: 1x1 Conv, then tf2onnx's Transpose to NHWC and a Reshape.
        x = b.node("Conv", [x, b.init("conv_preds.kernel", w.reshape(classes, c, 1, 1)),
                            b.init("conv_preds.bias", bias)], name="conv_preds",
                   kernel_shape=[1, 1], pads=[0, 0, 0, 0])
        x = b.node("Transpose", [x], name="conv_preds/to_nhwc", perm=[0, 2, 3, 1])
        shape = b.init("reshape_shape", np.array([-1, classes], np.int64))
        x = b.node("Reshape", [x, shape], name="reshape_2")
    elif head == "conv":
        x = b.node("Conv", [x, b.init("fc.weight", w.reshape(classes, c, 1, 1)),
                            b.init("fc.bias", bias)], name="classifier", kernel_shape=[1, 1])
        if opset >= 13:
            x = b.node("Squeeze", [x, b.init("squeeze_axes", np.array([2, 3], np.int64))],
                       name="squeeze")
        else:
            x = b.node("Squeeze", [x], name="squeeze", axes=[2, 3])
    if softmax:
        x = b.node("Softmax", [x], name="softmax", axis=1 if opset < 13 else -1)
    # Name the output tensor by renaming the last node's output.
    b.nodes[-1].output[0] = "output"
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch_dim, classes])
    model = b.model(inp, out, "sepconv gen_fixtures.py", keep_inits_as_inputs)

    path = os.path.join(OUT, name + ".onnx")
    onnx.save(model, path)
    shape = [batch, res, res, 3] if nhwc else [batch, 3, res, res]
    x_in = np.random.default_rng(seed + 1000).uniform(-1, 1, shape).astype(np.float32)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    y = sess.run(None, {"input": x_in})[0].astype(np.float32)
    np.save(os.path.join(OUT, name + "_input.npy"), x_in)
    np.save(os.path.join(OUT, name + "_output.npy"), y)
    print(f"{name}: output {y.shape}, |y| max {np.abs(y).max():.3g}, "
          f"{os.path.getsize(path)} bytes")


def main():
    ort.set_default_logger_severity(3)  # the opset 9 fixture's initializer inputs warn
    os.makedirs(OUT, exist_ok=True)
    # (a) PyTorch style: symmetric pads, BN folded, ReLU, Flatten + Gemm(transB=1).
    mobilenet("pytorch_a025_r128", alpha=0.25, res=128, classes=100, seed=1)
    # (b) Unfolded BatchNormalization, batch 2 with a symbolic batch dim, Dropout,
    # x.view(x.size(0), -1) (Shape, Gather, Unsqueeze, Concat, Reshape), Gemm (transB=0),
    # Softmax.
    mobilenet("batchnorm_a025_r64", alpha=0.25, res=64, classes=10, seed=2, bn=1e-5,
              head="gemm_reshape", dropout=True, softmax=True, batch=2)
    # (c) ReLU6 as Clip with min/max inputs (initializers and Constant nodes), unfolded BN,
    # alpha 0.35 (channels 11, 22, 44, ..., 358: alpha is not conv0 / 32).
    mobilenet("relu6_a035_r96", alpha=0.35, res=96, classes=20, seed=3, bn=1e-3,
              act="clip_constants")
    # (d) TensorFlow style (tf2onnx): NHWC input + Transpose, TF-SAME pads (res 100 has odd
    # sizes too), two layers with auto_pad SAME_UPPER, ReLU6, ReduceMean over H, W after a
    # Transpose back to NHWC, MatMul + Add, Softmax.
    mobilenet("tf_same_a025_r100", alpha=0.25, res=100, classes=50, seed=4,
              padding="tf_same", act="clip_inits", nhwc=True, head="tf", softmax=True,
              auto_pad_layers=("features.0", "features.4.dw"))
    # (d2) Keras MobileNet through tf2onnx: NHWC input, TF-SAME conv0, Pad + VALID stride-2
    # depthwise convs, unfolded BN (eps 1e-3), ReLU6, Dropout, conv_preds 1x1 Conv classifier,
    # Transpose, Reshape, Softmax.
    mobilenet("keras_pad_a0125_r64", alpha=0.125, res=64, classes=10, seed=7,
              padding="tf_same", bn=1e-3, act="clip_inits", nhwc=True, head="keras",
              dropout=True, softmax=True, keras_pad=True)
    # (d3) TF-slim's MobileNet V1 (the original release): NHWC input, TF-SAME pads, unfolded
    # BN, ReLU6, AvgPool over the last 2x2 map, 1x1 Conv logits, Squeeze, Softmax.
    mobilenet("slim_avgpool_a0125_r64", alpha=0.125, res=64, classes=10, seed=8,
              padding="tf_same", bn=1e-3, act="clip_inits", nhwc=True, avg_pool=True,
              head="conv", dropout=True, softmax=True)
    # (e) Old exporter: opset 9, Clip bounds as attributes, initializers listed as graph
    # inputs, 1x1 Conv classifier + Squeeze.
    mobilenet("opset9_a0125_r32", alpha=0.125, res=32, classes=16, seed=5, opset=9,
              act="clip_attrs", head="conv", keep_inits_as_inputs=True)
    # (f) opset 18: ReduceMean axes as an input.
    mobilenet("opset18_a025_r32", alpha=0.25, res=32, classes=12, seed=6, opset=18,
              padding="tf_same", nhwc=True, head="tf", bn=1e-3)


if __name__ == "__main__":
    main()
