#!/usr/bin/env python3
"""Writes tests/fixtures/exporters/: MobileNet V1 models with seeded random weights, made by
the real exporters (tf2onnx, Keras 3's ONNX and LiteRT export, TFLiteConverter, PyTorch's
TorchScript and dynamo ONNX exporters), each with an input and the exporter's own runtime
output, so the Rust importer is tested on exactly what those tools emit. The outputs are
committed (CI has no Python).

For each fixture NAME it writes NAME.onnx or NAME.tflite, NAME_input.npy (f32, batch 1, in
the model's own input layout: NHWC for Keras/TF/TFLite, NCHW for PyTorch) and
NAME_output.npy (f32: onnxruntime's output for .onnx, ai_edge_litert's Interpreter's for
.tflite). manifest.json records each fixture's exporter, package versions and shapes, and
README.md (table + op inventory) is rendered from it and from the model files.

The exporters' versions conflict, so the fixtures come in groups, each run in its own venv
(pip packages, all from PyPI):

    keras2   tensorflow-cpu==2.15.1 tf2onnx==1.16.1 onnxruntime "numpy<2" ai-edge-litert
             (tf.keras is Keras 2.15; tf2onnx from_keras and --saved-model; TFLiteConverter)
    keras3   tensorflow keras tf2onnx onnx onnxruntime ai-edge-litert
             (Keras 3: model.export(format="onnx") and format="litert")
    torch    torch onnx onnxscript onnxruntime numpy
             (torch.onnx.export with dynamo=False and dynamo=True)
    readme   any venv with onnx, flatbuffers and ai-edge-litert (e.g. the keras2 one):
             rewrites README.md from manifest.json and the model files

Usage (see tests/fixtures/exporters/README.md for the venv commands):

    /work/venvs/tf215/bin/python scripts/gen_exporter_fixtures.py keras2
    /work/venvs/k3/bin/python    scripts/gen_exporter_fixtures.py keras3
    /work/venvs/torch/bin/python scripts/gen_exporter_fixtures.py torch
    /work/venvs/tf215/bin/python scripts/gen_exporter_fixtures.py readme

A group may be followed by fixture names to regenerate only those.
"""

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "tests", "fixtures", "exporters"))
MANIFEST = os.path.join(OUT, "manifest.json")

# MobileNet V1 (Howard et al. 2017, Table 1) at alpha 1: (pointwise channels, dw stride).
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
          (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]
CLASSES = 10


def versions(*pkgs):
    out = {}
    for p in pkgs:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def make_input(shape, seed):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


def model_seed(alpha, rows, cols, include_top):
    # The same Keras configuration gets the same weights (and input) in every exporter, so
    # e.g. keras_tf2onnx_a025_r128 and keras_tflite_a025_r128 have the same expected output.
    return int(alpha * 1000) * 7 + rows * 131 + cols * 17 + (1 if include_top else 0)


def bn_params(rng, c):
    """Seeded, far-from-identity BatchNorm parameters, so BN folding is really tested."""
    gamma = rng.uniform(0.5, 1.5, c)
    beta = rng.uniform(-0.2, 0.2, c)
    mean = rng.uniform(-0.2, 0.2, c)
    var = rng.uniform(0.5, 2.0, c)
    return [a.astype(np.float32) for a in (gamma, beta, mean, var)]


def he_uniform(rng, shape, fan_in, gain=1.0):
    limit = gain * np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, shape).astype(np.float32)


# The BN above divides by sqrt(var) ~ 1.1 on average and ReLU6 clips; a little gain keeps the
# activations of all 27 conv layers of order 1 (checked by print_spread).
GAIN = 1.15
# The PyTorch model has plain ReLU (no clip at 6): a smaller gain keeps it of order 1.
TORCH_GAIN = 1.07


# ---------------------------------------------------------------------------------------
# Keras (works with Keras 2 = tf.keras of TF 2.15 and with Keras 3)

def randomize_keras(keras, model, seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        kind = type(layer).__name__
        ws = layer.get_weights()
        if not ws:
            continue
        if kind == "BatchNormalization":
            layer.set_weights(bn_params(rng, ws[0].shape[0]))
        elif kind in ("Conv2D", "DepthwiseConv2D"):
            kh, kw, cin, _ = ws[0].shape
            fan_in = kh * kw * (1 if kind == "DepthwiseConv2D" else cin)
            new = [he_uniform(rng, ws[0].shape, fan_in, GAIN)]
            if len(ws) > 1:
                new.append(rng.uniform(-0.5, 0.5, ws[1].shape).astype(np.float32))
            layer.set_weights(new)
        else:
            raise RuntimeError(f"unexpected weighted layer {layer.name} ({kind})")


def build_keras(keras, alpha, rows, cols, include_top):
    kwargs = dict(weights=None, alpha=alpha, input_shape=(rows, cols, 3))
    if include_top:
        kwargs["classes"] = CLASSES
    else:
        kwargs.update(include_top=False, pooling="avg")
    keras.backend.clear_session()  # layer names (input_1, ...) independent of the order
    model = keras.applications.MobileNet(**kwargs)
    randomize_keras(keras, model, model_seed(alpha, rows, cols, include_top))
    return model


def print_spread(keras, model, x):
    """Every ReLU's output std, and the logits (pre-softmax) spread: neither ~0 nor huge."""
    relus = [l.output for l in model.layers if type(l).__name__ == "ReLU"]
    last = model.get_layer("conv_preds").output if "conv_preds" in [
        l.name for l in model.layers] else model.layers[-1].output
    outs = keras.Model(model.inputs, relus + [last])(x)
    outs = [np.asarray(o) for o in outs]
    stds = [float(o.std()) for o in outs[:-1]]
    sat = [float((o >= 6.0).mean()) for o in outs[:-1]]
    logits = outs[-1].ravel()
    print(f"  relu std min/max {min(stds):.3f}/{max(stds):.3f}, saturated at 6 max "
          f"{max(sat):.3f}; logits/features std {logits.std():.3f} "
          f"range [{logits.min():.3f}, {logits.max():.3f}]")
    assert 0.05 < logits.std() < 50, "logits collapsed or exploded"


def keras_fixture(keras, alpha, rows, cols, include_top):
    model = build_keras(keras, alpha, rows, cols, include_top)
    x = make_input((1, rows, cols, 3), model_seed(alpha, rows, cols, include_top) + 1)
    print_spread(keras, model, x)
    ref = np.asarray(model(x, training=False))
    return model, x, ref


def keras_meta(alpha, rows, cols, include_top, out_shape):
    return dict(alpha=alpha, input_layout="NHWC", input_shape=[1, rows, cols, 3],
                output_shape=list(out_shape),
                model=f"tf.keras.applications.MobileNet(alpha={alpha}, "
                f"input_shape=({rows},{cols},3), " +
                (f"classes={CLASSES})" if include_top else "include_top=False, pooling='avg')"))


# ---------------------------------------------------------------------------------------
# Runtimes

def run_onnx(path, x):
    import onnxruntime as ort
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0].astype(np.float32)


def run_tflite(path, x):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=path)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).astype(np.float32)


def onnx_opset(path):
    import onnx
    m = onnx.load(path)
    return max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))


def finish(name, path, x, ref, meta):
    """Runs the exporter's own runtime, writes the .npy files, returns the manifest entry."""
    out = run_onnx(path, x) if path.endswith(".onnx") else run_tflite(path, x)
    np.save(os.path.join(OUT, f"{name}_input.npy"), x)
    np.save(os.path.join(OUT, f"{name}_output.npy"), out)
    diff = float(np.abs(out - ref.reshape(out.shape)).max())
    entry = dict(file=os.path.basename(path), **meta)
    entry["output_shape"] = list(out.shape)
    entry["max_abs_output"] = float(np.abs(out).max())
    entry["framework_vs_runtime_max_abs_diff"] = diff
    if path.endswith(".onnx"):
        entry["opset"] = onnx_opset(path)
    print(f"  {name}: out {out.shape} max|out| {entry['max_abs_output']:.4g}, "
          f"|runtime - framework| {diff:.3g}, {os.path.getsize(path)} bytes")
    assert diff < 1e-3 * max(1.0, entry["max_abs_output"]), "exporter disagrees with framework"
    return entry


# ---------------------------------------------------------------------------------------
# Group keras2: TF 2.15 / Keras 2.15, tf2onnx 1.16, TFLiteConverter

def keras2_fixtures():
    import tensorflow as tf
    import tf2onnx
    keras = tf.keras
    pkgs = versions("tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "numpy")
    lite_pkgs = versions("tensorflow-cpu", "keras", "ai-edge-litert", "numpy")
    opset = 13

    def tf2onnx_keras(name, alpha, rows, cols, include_top, tests):
        model, x, ref = keras_fixture(keras, alpha, rows, cols, include_top)
        path = os.path.join(OUT, f"{name}.onnx")
        tf2onnx.convert.from_keras(model, opset=opset, output_path=path)
        meta = keras_meta(alpha, rows, cols, include_top, ref.shape)
        meta.update(exporter=f"tf2onnx.convert.from_keras(opset={opset})", packages=pkgs,
                    tests=tests)
        return finish(name, path, x, ref, meta)

    def saved_model(name, alpha, rows, cols, tests):
        model, x, ref = keras_fixture(keras, alpha, rows, cols, True)
        path = os.path.join(OUT, f"{name}.onnx")
        with tempfile.TemporaryDirectory() as d:
            tf.saved_model.save(model, d)
            subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", d,
                            "--output", path, "--opset", str(opset)], check=True)
        meta = keras_meta(alpha, rows, cols, True, ref.shape)
        meta.update(exporter=f"tf.saved_model.save + python -m tf2onnx.convert "
                    f"--saved-model DIR --opset {opset}", packages=pkgs, tests=tests)
        return finish(name, path, x, ref, meta)

    def tflite(name, alpha, rows, cols, include_top, tests):
        model, x, ref = keras_fixture(keras, alpha, rows, cols, include_top)
        path = os.path.join(OUT, f"{name}.tflite")
        with open(path, "wb") as f:
            f.write(tf.lite.TFLiteConverter.from_keras_model(model).convert())
        meta = keras_meta(alpha, rows, cols, include_top, ref.shape)
        meta.update(exporter="tf.lite.TFLiteConverter.from_keras_model (float32, no "
                    "optimizations); run by ai_edge_litert.interpreter.Interpreter",
                    packages=lite_pkgs, tests=tests)
        return finish(name, path, x, ref, meta)

    return {
        "keras_tf2onnx_a025_r128": lambda n: tf2onnx_keras(
            n, 0.25, 128, 128, True, "tf2onnx from_keras, alpha 0.25, classifier head "
            "(Dropout, 1x1 Conv, Reshape, Softmax)"),
        "keras_tf2onnx_a050_r128": lambda n: tf2onnx_keras(
            n, 0.5, 128, 128, True, "as a025, alpha 0.5"),
        "keras_tf2onnx_a100_r96": lambda n: tf2onnx_keras(
            n, 1.0, 96, 96, True, "as a025, alpha 1.0 (full width), 96x96"),
        "keras_tf2onnx_a025_r97x129": lambda n: tf2onnx_keras(
            n, 0.25, 97, 129, True, "odd, non-square input: TF SAME padding of the "
            "first conv (pads [1,1,1,1] here) and ZeroPadding2D (0,1) before stride-2 convs "
            "on odd sizes"),
        "keras_notop_tf2onnx_a025_r128": lambda n: tf2onnx_keras(
            n, 0.25, 128, 128, False, "include_top=False pooling=avg: feature vector output"),
        "keras_savedmodel_a025_r128": lambda n: saved_model(
            n, 0.25, 128, 128, "same model as keras_tf2onnx_a025_r128 (same weights, input "
            "and output) via the SavedModel path of tf2onnx"),
        "keras_tflite_a025_r128": lambda n: tflite(
            n, 0.25, 128, 128, True, "TFLite flatbuffer, same model as "
            "keras_tf2onnx_a025_r128"),
        "keras_tflite_a050_r128": lambda n: tflite(
            n, 0.5, 128, 128, True, "TFLite, same model as keras_tf2onnx_a050_r128"),
        "keras_notop_tflite_a025_r128": lambda n: tflite(
            n, 0.25, 128, 128, False, "TFLite, same model as keras_notop_tf2onnx_a025_r128"),
    }


# ---------------------------------------------------------------------------------------
# Group keras3: Keras 3's own model.export

def keras3_fixtures():
    import keras
    onnx_pkgs = versions("keras", "tensorflow", "tf2onnx", "onnx", "onnxruntime", "numpy")
    lite_pkgs = versions("keras", "tensorflow", "ai-edge-litert", "numpy")
    backend = keras.backend.backend()

    def export(name, fmt, ext, pkgs, tests):
        model, x, ref = keras_fixture(keras, 0.25, 128, 128, True)
        path = os.path.join(OUT, f"{name}.{ext}")
        model.export(path, format=fmt)
        meta = keras_meta(0.25, 128, 128, True, ref.shape)
        meta["model"] = meta["model"].replace("tf.keras", "keras")
        meta.update(exporter=f'keras Model.export(path, format="{fmt}") '
                    f"(backend {backend})", packages=pkgs, tests=tests)
        return finish(name, path, x, ref, meta)

    return {
        "keras3_onnx_a025_r128": lambda n: export(
            n, "onnx", "onnx", onnx_pkgs, "Keras 3 ONNX export: depthwise BN left as Mul, Add; "
            "same weights and input as keras_tf2onnx_a025_r128"),
        "keras3_litert_a025_r128": lambda n: export(
            n, "litert", "tflite", lite_pkgs, "Keras 3 LiteRT export (TF 2.21 converter): no PAD "
            "ops; same weights and input as keras_tflite_a025_r128"),
    }


# ---------------------------------------------------------------------------------------
# Group torch: a MobileNet V1 nn.Module, exported by TorchScript and by dynamo

def torch_fixtures():
    import torch
    from torch import nn

    class MobileNetV1(nn.Module):
        def __init__(self, alpha, classes):
            super().__init__()

            def ch(n):
                return max(1, int(n * alpha))

            def bn_relu(c):
                return [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]

            cin = ch(32)
            layers = [nn.Conv2d(3, cin, 3, stride=2, padding=1, bias=False), *bn_relu(cin)]
            for cout, stride in BLOCKS:
                cout = ch(cout)
                layers += [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin,
                                     bias=False), *bn_relu(cin),
                           nn.Conv2d(cin, cout, 1, bias=False), *bn_relu(cout)]
                cin = cout
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, classes)

        def forward(self, x):
            x = self.pool(self.features(x))
            x = x.view(x.size(0), -1)
            return self.fc(x)

    def build(alpha, seed):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = MobileNetV1(alpha, CLASSES)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.Conv2d):
                    fan_in = m.weight[0].numel()
                    m.weight.copy_(torch.from_numpy(he_uniform(rng, m.weight.shape, fan_in,
                                                               TORCH_GAIN)))
                elif isinstance(m, nn.BatchNorm2d):
                    g, b, mu, var = bn_params(rng, m.num_features)
                    for t, v in ((m.weight, g), (m.bias, b), (m.running_mean, mu),
                                 (m.running_var, var)):
                        t.copy_(torch.from_numpy(v))
                elif isinstance(m, nn.Linear):
                    m.weight.copy_(torch.from_numpy(he_uniform(rng, m.weight.shape,
                                                               m.in_features)))
                    m.bias.copy_(torch.from_numpy(
                        rng.uniform(-0.5, 0.5, m.bias.shape).astype(np.float32)))
        return model.eval()

    pkgs = versions("torch", "onnx", "onnxscript", "onnxruntime", "numpy")
    alpha, res, seed = 0.25, 128, 4242

    def export(name, dynamo, opset, tests):
        model = build(alpha, seed)
        x = make_input((1, 3, res, res), seed + 1)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
            feats = model.pool(model.features(torch.from_numpy(x))).numpy()
        logits = ref.ravel()
        print(f"  features std {feats.std():.3f}, logits std {logits.std():.3f} "
              f"range [{logits.min():.3f}, {logits.max():.3f}]")
        path = os.path.join(OUT, f"{name}.onnx")
        kwargs = dict(input_names=["input"], output_names=["output"], opset_version=opset,
                      dynamo=dynamo)
        if dynamo:
            kwargs.update(dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
                          external_data=False)
        else:
            kwargs.update(dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
        torch.onnx.export(model, (torch.from_numpy(x),), path, **kwargs)
        meta = dict(alpha=alpha, input_layout="NCHW", input_shape=[1, 3, res, res],
                    model=f"MobileNetV1 nn.Module of this script (alpha {alpha}, "
                    f"{CLASSES} classes, ReLU, view(N,-1), Linear), eval mode",
                    exporter=f"torch.onnx.export(dynamo={dynamo}, opset_version={opset}, "
                    "dynamic batch)", packages=pkgs, tests=tests)
        return finish(name, path, x, ref, meta)

    return {
        "torch_ts_a025_r128": lambda n: export(
            n, False, 17, "TorchScript exporter: Shape, Gather, Unsqueeze, Concat, "
            "Reshape from x.view(x.size(0), -1); Gemm; dynamic batch"),
        "torch_dynamo_a025_r128": lambda n: export(
            n, True, 18, "dynamo exporter, same model and input as torch_ts_a025_r128"),
    }


# ---------------------------------------------------------------------------------------
# README: table + op inventory

def compress(seq):
    """'A, B, B, B, C, D, C, D' -> 'A, B x3, (C, D) x2': greedy repeated-block folding."""
    out, i = [], 0
    while i < len(seq):
        best = (1, 1)
        for length in range(1, 9):
            reps = 1
            while seq[i + reps * length:i + (reps + 1) * length] == seq[i:i + length]:
                reps += 1
            if reps > 1 and length * reps > best[0] * best[1]:
                best = (length, reps)
        length, reps = best
        block = ", ".join(seq[i:i + length])
        out.append(block if reps == 1 else
                   (f"{block} x{reps}" if length == 1 else f"({block}) x{reps}"))
        i += length * reps
    return ", ".join(out)


def onnx_inventory(path):
    import onnx
    from onnx import numpy_helper
    m = onnx.load(path)
    g = m.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {}
    for n in g.node:
        for o in n.output:
            producer[o] = n
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = numpy_helper.to_array(a.t)

    def dims(vi):
        return "[" + ", ".join(d.dim_param if d.dim_param else str(d.dim_value)
                               for d in vi.type.tensor_type.shape.dim) + "]"

    def attr(a):
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v).tolist()
        return f"{a.name}={v}"

    def inp(name):
        if name == "":
            return "''"
        if name in consts:
            c = consts[name]
            kind = "init" if name in [t.name for t in g.initializer] else "Constant"
            if c.size <= 4 or (c.size <= 8 and c.dtype.kind in "iu"):
                return f"{kind}{list(c.shape)}={c.ravel().tolist()}"
            # Per-channel constants: the channel count as C, so the layers group together.
            return f"{kind}[{', '.join('C' if d > 4 else str(d) for d in c.shape)}] {c.dtype}"
        p = producer.get(name)
        return f"<{p.op_type}>" if p else f"input:{name}"

    def chain(name, depth=6):
        # e.g. Reshape's shape input: Concat <- Unsqueeze <- Gather <- Shape
        ops = []
        while name in producer and name not in consts and depth:
            p = producer[name]
            ops.append(p.op_type)
            name = next((i for i in p.input if i and i not in consts), "")
            depth -= 1
        return " <- ".join(ops)

    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import)
    lines = [f"- file opset: {opsets}; "
             f"producer {m.producer_name} {m.producer_version}; ir_version {m.ir_version}",
             "- inputs: " + "; ".join(f"`{i.name}` {dims(i)}" for i in g.input
                                      if i.name not in consts),
             "- outputs: " + "; ".join(f"`{o.name}` {dims(o)}" for o in g.output),
             "- ops (in graph order): " + compress([n.op_type for n in g.node])]
    sigs = {}
    for n in g.node:
        if n.op_type == "Constant":
            continue
        a = ", ".join(attr(x) for x in n.attribute)
        if n.op_type == "Conv":
            w = consts[n.input[1]]
            grp = next((x.i for x in n.attribute if x.name == "group"), 1)
            if grp > 1 and grp == w.shape[0]:
                a = a.replace(f"group={grp}", "group=C (depthwise)")
            a += f"; W [{'C' if grp > 1 else 'O'},{w.shape[1] if w.shape[1] < 4 else 'I'},"
            a += f"{w.shape[2]},{w.shape[3]}]"
        if n.op_type == "Conv":
            ins = "B" if len(n.input) > 2 and n.input[2] else ""
        else:
            ins = ", ".join(inp(i) for i in n.input)
            if n.op_type in ("Reshape", "Expand", "Tile") and n.input[1] not in consts:
                ins += f" (shape: {chain(n.input[1])})"
        if n.op_type == "Conv":
            key = f"Conv({a}) inputs: W, {'B' if 'B' in ins else 'no B'}"
        else:
            key = f"{n.op_type}({a}) inputs: {ins}"
        sigs[key] = sigs.get(key, 0) + 1
    lines.append("- node kinds (count x op(attributes) inputs):")
    lines += [f"  - {c} x `{k}`" for k, c in sigs.items()]
    return lines


def tflite_inventory(path):
    import flatbuffers  # noqa: F401 (schema_py_generated needs it)
    from ai_edge_litert import schema_py_generated as s
    buf = open(path, "rb").read()
    m = s.Model.GetRootAsModel(buf, 0)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    opt_names = {v: k for k, v in vars(s.BuiltinOptions).items() if not k.startswith("_")}
    enums = {"Padding": {v: k for k, v in vars(s.Padding).items() if not k.startswith("_")},
             "FusedActivationFunction": {v: k for k, v in vars(s.ActivationFunctionType).items()
                                         if not k.startswith("_")}}
    ttype = {v: k for k, v in vars(s.TensorType).items() if not k.startswith("_")}
    sg = m.Subgraphs(0)

    def tensor(i):
        t = sg.Tensors(i)
        shape = t.ShapeAsNumpy().tolist() if t.ShapeLength() else []
        sig = t.ShapeSignatureAsNumpy().tolist() if t.ShapeSignatureLength() else None
        data = m.Buffers(t.Buffer()).DataAsNumpy() if t.Buffer() else 0
        const = not isinstance(data, int) and data.size > 0
        if const and t.Type() == s.TensorType.INT32 and data.size <= 64:
            const = [np.frombuffer(data.tobytes(), np.int32).reshape(shape).tolist()]
        return shape, sig, const, ttype[t.Type()], t.Name().decode()

    def options(op):
        kind = opt_names.get(op.BuiltinOptionsType(), "NONE")
        if kind == "NONE" or op.BuiltinOptions() is None:
            return ""
        cls = getattr(s, kind)
        o = cls()
        o.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
        parts = []
        for f in sorted(dir(cls)):
            if not f[0].isupper() or f.startswith(("GetRoot", "Init")) or f.endswith(
                    ("Length", "AsNumpy", "IsNone")) or f.endswith("BufferHasIdentifier"):
                continue
            try:
                v = getattr(o, f)()
            except TypeError:
                continue
            if isinstance(v, (int, float, bool)):
                parts.append(f"{f}={enums.get(f, {}).get(v, v)}")
        return ", ".join(parts)

    codes, code_versions = [], []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        codes.append(names[max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())])
        code_versions.append(f"{codes[-1]} v{oc.Version()}")
    first_w = {}
    ops, sigs = [], {}
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        name = codes[op.OpcodeIndex()]
        ops.append(name)
        ins = []
        for j in op.InputsAsNumpy().tolist():
            if j < 0:
                ins.append("none")
                continue
            shape, _, const, ty, _ = tensor(j)
            if isinstance(const, list):
                ins.append(f"const{shape} {ty}={const[0]}")
            elif const:
                ins.append(f"const{shape}" + ("" if ty == "FLOAT32" else f" {ty}"))
            else:
                ins.append("act" + (str(shape) if name not in ("PAD",) else "")
                           + ("" if ty == "FLOAT32" else f" {ty}"))
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            # Group the layers by kernel size, not channel count: W[O,H,W,I] -> W[O,3x3,I].
            w = ins[1][len("const["):-1].split(", ")
            first_w.setdefault(name, f"[{', '.join(w)}]")
            ins = [ins[0].split("[")[0], f"W[O,{w[1]}x{w[2]},I]" if name == "CONV_2D"
                   else f"W[1,{w[1]}x{w[2]},C]", "bias" if len(ins) > 2 else "no bias"]
        key = f"{name}({options(op)}) inputs: {', '.join(ins)}"
        sigs[key] = sigs.get(key, 0) + 1

    def io(idx):
        out = []
        for j in idx:
            shape, sig, _, ty, nm = tensor(j)
            out.append(f"`{nm}` {shape} (signature {sig}) {ty}")
        return "; ".join(out)

    desc = m.Description().decode() if m.Description() else ""
    return [f"- schema version {m.Version()} (file identifier "
            f"{buf[4:8].decode(errors='replace')}), description '{desc}', "
            f"{m.SubgraphsLength()} subgraph(s), {sg.TensorsLength()} tensors",
            f"- inputs: {io(sg.InputsAsNumpy().tolist())}",
            f"- outputs: {io(sg.OutputsAsNumpy().tolist())}",
            f"- operator codes (with op version): {', '.join(code_versions)}",
            "- first weight shapes: " + ", ".join(f"{k} {v}" for k, v in first_w.items()),
            "- ops (in order): " + compress(ops),
            "- op kinds (count x op(options) inputs; weights OHWI for CONV_2D, 1HWC for "
            "DEPTHWISE_CONV_2D):"] + [f"  - {c} x `{k}`" for k, c in sigs.items()]


README_HEAD = """\
# Exporter fixtures

MobileNet V1 models with seeded random weights (BatchNorm gamma U(0.5,1.5), beta
U(-0.2,0.2), moving mean U(-0.2,0.2), moving variance U(0.5,2); conv kernels He-uniform with
gain {gain}), made by the real exporters, for testing the importer on exactly what those
tools emit. For each NAME: the model (`NAME.onnx` / `NAME.tflite`), `NAME_input.npy` (f32,
batch 1, U(-1,1), in the model's own layout) and `NAME_output.npy` (f32, the exporter's
own runtime's output: onnxruntime for `.onnx`, `ai_edge_litert.interpreter.Interpreter`
for `.tflite`). `manifest.json` has the same facts in machine-readable form. This README
is generated: edit `scripts/gen_exporter_fixtures.py`, not this file.

Fixtures built from the same Keras configuration (alpha, input size, top) have the same
weights and input in every exporter, so e.g. `keras_tf2onnx_a025_r128`,
`keras_savedmodel_a025_r128`, `keras_tflite_a025_r128`, `keras3_onnx_a025_r128` and
`keras3_litert_a025_r128` all expect (up to float rounding) the same output.

`max|out|` is the largest absolute value of the expected output (for setting tolerances;
the Softmax outputs are probabilities, at most 1). `|rt-fw|` is the largest absolute
difference between the runtime's output and the framework's own (Keras / PyTorch) output.

## Regenerating

The exporters need conflicting versions, so there is one venv per group (Python 3.11):

```sh
python3 -m venv /work/venvs/tf215
/work/venvs/tf215/bin/pip install "tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" onnxruntime \\
    "numpy<2" ai-edge-litert
python3 -m venv /work/venvs/k3
/work/venvs/k3/bin/pip install tensorflow keras tf2onnx onnx onnxruntime ai-edge-litert
python3 -m venv /work/venvs/torch
/work/venvs/torch/bin/pip install torch onnx onnxscript onnxruntime numpy

/work/venvs/tf215/bin/python scripts/gen_exporter_fixtures.py keras2
/work/venvs/k3/bin/python    scripts/gen_exporter_fixtures.py keras3
/work/venvs/torch/bin/python scripts/gen_exporter_fixtures.py torch
/work/venvs/tf215/bin/python scripts/gen_exporter_fixtures.py readme
```

(torch from PyPI pulls the CUDA wheels, ~5 GB; the CPU-only build is not on PyPI. In the
Keras 3 venv have only one of `tensorflow` and `tensorflow-cpu`: with both installed over
each other `import tensorflow` fails with an undefined `xla::` symbol.) A group may be
followed by fixture names to regenerate only those. The exact versions used are in the
table below. The runs print each ReLU's output std and the logits' spread, and assert
that the runtime agrees with the framework.

## What the importer has to accept (summary of the inventory below)

- tf2onnx (Keras 2, from_keras and SavedModel alike): input NHWC with a symbolic batch
  `unk__N`, then `Transpose(perm=[0,3,1,2])`; BN folded into every Conv (all Convs have a
  bias); ReLU6 as `Clip` with min/max as scalar initializer inputs (opset 13); explicit
  `pads`, no `auto_pad`: the first conv has TF-SAME pads `[0,0,1,1]` at even sizes and
  `[1,1,1,1]` at 97x129; each stride-2 depthwise conv (no pads) follows a
  `Pad(pads=[0,0,0,0,0,0,1,1])` node (Keras' ZeroPadding2D, also at odd sizes); head
  `GlobalAveragePool, Reshape([-1,C,1,1]), Conv 1x1 (classifier, bias), Reshape([-1,classes]),
  Softmax`; Dropout is gone. include_top=False: `GlobalAveragePool, Squeeze(axes=[2,3] as
  an input)`. No output Transpose (the output is 2-D).
- Keras 3 `export(format="onnx")` (tf2onnx 1.17 inside, opset 15): as above, but the BN
  after each depthwise conv is NOT folded: `Conv (no bias), Mul [1,C,1,1], Add [1,C,1,1],
  Clip`.
- PyTorch TorchScript (opset 17): NCHW, batch `batch`; `Conv, Relu`, symmetric pads,
  `GlobalAveragePool`, then `view(N,-1)` as `Shape, Gather(0), Unsqueeze, Concat(-1),
  Reshape` (Constant nodes, not initializers), `Gemm(transB=1)`.
- PyTorch dynamo (opset 18, ir 10): `Conv, Relu` with `auto_pad=NOTSET` written out,
  `ReduceMean(axes=[-1,-2] input, keepdims=1)`, `Reshape([-1,C], allowzero=1)`, `Gemm`.
- TFLite (TF 2.15 converter): schema version 3, one subgraph, NHWC, batch 1 with shape
  signature -1; CONV_2D weights OHWI, DEPTHWISE_CONV_2D weights 1HWC, every conv with a
  bias and fused RELU6 (the classifier NONE); stride-1 convs and the first conv SAME;
  stride-2 depthwise convs VALID after a PAD `[[0,0],[0,1],[0,1],[0,0]]`; head `MEAN(axes
  [1,2], keep_dims)`, CONV_2D 1x1, `SHAPE, STRIDED_SLICE, PACK, RESHAPE` (dynamic reshape
  to [N,classes]), SOFTMAX(beta 1). include_top=False: MEAN (keep_dims false) only.
- Keras 3 `export(format="litert")` (TF 2.21 converter): the same but no PAD ops: the
  stride-2 depthwise convs are SAME (the converter folded the pads).

Tolerances: the framework (Keras / PyTorch) and the runtime agree to 5e-6 absolute on
every fixture, and fixtures of one model agree across exporters to 4e-6 (the table's
`|rt-fw|`; all outputs are O(1), see `max|out|`), so a relative error
max|got - want| / max|want| of 1e-4 is ample for f32.

## Fixtures

| name | exporter | packages | opset | input | output | max\\|out\\| | \\|rt-fw\\| | tests |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""


def write_readme():
    man = json.load(open(MANIFEST))
    rows, inv = [], ["", "## Op inventory", "",
                     "Generated from the model files by `gen_exporter_fixtures.py readme`.", ""]
    for name, e in man.items():
        pk = ", ".join(f"{k} {v}" for k, v in e["packages"].items())
        shape = "x".join(map(str, e["input_shape"]))
        rows.append(f"| `{name}` | {e['exporter']}; model: {e['model']} | {pk} | "
                    f"{e.get('opset', '-')} | {e['input_layout']} {shape} | "
                    f"{'x'.join(map(str, e['output_shape']))} | {e['max_abs_output']:.4g} | "
                    f"{e['framework_vs_runtime_max_abs_diff']:.2g} | {e['tests']} |")
        path = os.path.join(OUT, e["file"])
        size = os.path.getsize(path)
        inv += [f"### {name}", "", f"`{e['file']}`, {size} bytes", ""]
        inv += onnx_inventory(path) if path.endswith(".onnx") else tflite_inventory(path)
        inv.append("")
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    text = README_HEAD.format(gain=GAIN) + "\n".join(rows) + "\n\n" + \
        f"Total size of this directory: {total / 1e6:.1f} MB.\n" + "\n".join(inv)
    with open(os.path.join(OUT, "README.md"), "w") as f:
        f.write(text)
    print(f"wrote README.md; directory {total / 1e6:.1f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("group", choices=["keras2", "keras3", "torch", "readme"])
    ap.add_argument("names", nargs="*", help="only these fixtures of the group")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if args.group == "readme":
        write_readme()
        return
    fixtures = {"keras2": keras2_fixtures, "keras3": keras3_fixtures,
                "torch": torch_fixtures}[args.group]()
    man = json.load(open(MANIFEST)) if os.path.exists(MANIFEST) else {}
    for name, make in fixtures.items():
        if args.names and name not in args.names:
            continue
        print(name)
        man[name] = make(name)
        man = dict(sorted(man.items()))
        with open(MANIFEST, "w") as f:
            json.dump(man, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
