#!/usr/bin/env python3
"""Int8 TFLite fixtures for tests/q8_tflite.rs, with LiteRT's outputs.

Writes tests/fixtures/q8_tflite/: single-op int8 models (conv0, depthwise s1/s2,
pointwise, MEAN and AVERAGE_POOL_2D pools, fully connected) with varied input ranges (so
varied scales and zero points), and Keras MobileNet V1 models (seeded random weights,
BatchNorm statistics calibrated on seeded images, logits out) quantized by TFLiteConverter
(optimizations=[DEFAULT] and a representative dataset), with int8 and float I/O. For each:
NAME.tflite, NAME_input.npy (f32, [n, h, w, c]: for int8-input models the dequantized
values of random codes, so any quantizer gives back the same codes) and the int8 output
codes (as f32) of LiteRT with its XNNPACK delegate (NAME_xnnpack.npy) and with its builtin
kernels (NAME_builtin.npy, OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES).

Run with the venv holding tensorflow-cpu 2.15 and ai-edge-litert:
    /work/venvs/tf215/bin/python scripts/gen_q8_tflite_fixtures.py
"""
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
from ai_edge_litert import interpreter as litert  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "q8_tflite")
INPUTS = 24


def rep_images(shape, lo, hi, seed, count=32):
    rng = np.random.default_rng(seed)
    return [rng.uniform(lo, hi, (1,) + shape).astype(np.float32) for _ in range(count)]


def convert(model, shape, lo, hi, seed, int8_io):
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    images = rep_images(shape, lo, hi, seed)
    conv.representative_dataset = lambda: ([x] for x in images)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


def run(blob, x, builtin):
    kw = {}
    if builtin:
        kw["experimental_op_resolver_type"] = (
            litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    it = litert.Interpreter(model_content=blob, num_threads=1, **kw)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    outs = []
    for img in x:
        v = img[None]
        if i["dtype"] == np.int8:
            s, z = i["quantization"]
            v = np.clip(np.round(v / s) + z, -128, 127).astype(np.int8)
        it.set_tensor(i["index"], v)
        it.invoke()
        y = it.get_tensor(o["index"])
        if o["dtype"] == np.float32:
            s, z = o["quantization"]
            if s == 0:
                # A float output: the codes of the tensor before DEQUANTIZE.
                det = [d for d in it.get_tensor_details() if d["index"] != o["index"]]
                raise SystemExit("float output without quantization")
        outs.append(y.astype(np.float32).reshape(-1))
    return np.stack(outs), o


def inputs_for(blob, shape, lo, hi, seed):
    """Seeded inputs; for an int8 input the dequantized values of random codes."""
    it = litert.Interpreter(model_content=blob)
    i = it.get_input_details()[0]
    rng = np.random.default_rng(seed + 1000)
    if i["dtype"] == np.int8:
        s, z = i["quantization"]
        codes = rng.integers(-128, 128, (INPUTS,) + shape)
        return ((codes - z) * np.float32(s)).astype(np.float32)
    return rng.uniform(lo, hi, (INPUTS,) + shape).astype(np.float32)


def float_output_codes(blob, x, builtin):
    """For a float-output model: the int8 codes entering its DEQUANTIZE."""
    kw = {"experimental_preserve_all_tensors": True}
    if builtin:
        kw["experimental_op_resolver_type"] = (
            litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    it = litert.Interpreter(model_content=blob, num_threads=1, **kw)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    # The tensor DEQUANTIZE reads: the last int8 tensor of the output's shape.
    cands = [
        d
        for d in it.get_tensor_details()
        if d["dtype"] == np.int8 and list(d["shape"]) == list(o["shape"])
    ]
    src = cands[-1]
    outs = []
    for img in x:
        it.set_tensor(i["index"], img[None])
        it.invoke()
        y = it.get_tensor(o["index"]).reshape(-1)
        s, z = src["quantization"]
        outs.append(np.round(y / s + z).astype(np.float32))
    return np.stack(outs)


def save(name, blob, shape, lo, hi, seed):
    with open(os.path.join(OUT, name + ".tflite"), "wb") as f:
        f.write(blob)
    x = inputs_for(blob, shape, lo, hi, seed)
    np.save(os.path.join(OUT, name + "_input.npy"), x)
    it = litert.Interpreter(model_content=blob)
    float_out = it.get_output_details()[0]["dtype"] == np.float32
    for tag, builtin in [("xnnpack", False), ("builtin", True)]:
        if float_out:
            y = float_output_codes(blob, x, builtin)
        else:
            y, _ = run(blob, x, builtin)
        np.save(os.path.join(OUT, f"{name}_{tag}.npy"), y)
    print(f"{name}: {len(blob)} bytes, {x.shape[0]} inputs", file=sys.stderr)


def single_ops():
    L = tf.keras.layers
    rn = lambda s: tf.keras.initializers.RandomNormal(stddev=s, seed=s_seed[0])  # noqa
    s_seed = [1]

    def seq(shape, layers, seed):
        tf.keras.utils.set_random_seed(seed)
        m = tf.keras.Sequential([L.InputLayer(shape)] + layers)
        # Random biases too, so zero points and biases vary.
        for layer in m.layers:
            w = layer.get_weights()
            if len(w) == 2:
                rng = np.random.default_rng(seed)
                layer.set_weights([w[0], rng.normal(0, 0.3, w[1].shape).astype(np.float32)])
        return m

    specs = [
        # name, input shape, layers, input range
        ("conv0", (17, 15, 3), [L.Conv2D(8, 3, strides=2, padding="same"), L.ReLU(6.0)], (-1, 1)),
        ("conv0_relu", (16, 16, 3), [L.Conv2D(5, 3, strides=2, padding="same"), L.ReLU()], (0, 2.5)),
        ("dw_s1", (9, 11, 12), [L.DepthwiseConv2D(3, padding="same"), L.ReLU(6.0)], (-0.5, 3)),
        (
            "dw_s2",
            (12, 10, 16),
            [L.ZeroPadding2D(((0, 1), (0, 1))), L.DepthwiseConv2D(3, strides=2), L.ReLU(6.0)],
            (0, 6),
        ),
        ("dw_s2_same", (7, 9, 8), [L.DepthwiseConv2D(3, strides=2, padding="same")], (-4, 1)),
        ("pw", (6, 5, 24), [L.Conv2D(40, 1), L.ReLU(6.0)], (0, 6)),
        ("pw_linear", (4, 4, 33), [L.Conv2D(17, 1)], (-2, 2)),
        (
            "pool_mean",
            (7, 7, 16),
            [L.Conv2D(32, 1), L.ReLU(6.0), L.GlobalAveragePooling2D(keepdims=True)],
            (0, 3),
        ),
        (
            "pool_avg",
            (5, 5, 16),
            [L.Conv2D(24, 1), L.ReLU(6.0), L.AveragePooling2D(5)],
            (0, 3),
        ),
        (
            "fc",
            (4, 4, 8),
            [L.Conv2D(16, 1), L.ReLU(6.0), L.GlobalAveragePooling2D(), L.Dense(10)],
            (-1, 1),
        ),
    ]
    for i, (name, shape, layers, (lo, hi)) in enumerate(specs):
        m = seq(shape, layers, 10 + i)
        save(name, convert(m, shape, lo, hi, 20 + i, True), shape, lo, hi, 30 + i)


def calibrate_bn(model, images):
    """Sets every BatchNormalization's moving statistics to those of its input on
    `images`, layer by layer, so that the random network's activations stay in range."""
    for layer in model.layers:
        if not isinstance(layer, tf.keras.layers.BatchNormalization):
            continue
        sub = tf.keras.Model(model.input, layer.input)
        a = sub.predict(images, verbose=0)
        mean, var = a.mean(axis=(0, 1, 2)), a.var(axis=(0, 1, 2))
        g, b, _, _ = layer.get_weights()
        layer.set_weights([g, b, mean, var])


def mobilenets():
    for alpha, res in [(0.25, 128), (0.5, 160)]:
        tf.keras.utils.set_random_seed(7)
        m = tf.keras.applications.MobileNet(
            input_shape=(res, res, 3),
            alpha=alpha,
            weights=None,
            include_top=True,
            classifier_activation=None,
        )
        rng = np.random.default_rng(5)
        for layer in m.layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization):
                g, b, mu, v = layer.get_weights()
                g = rng.uniform(0.5, 1.5, g.shape).astype(np.float32)
                b = rng.normal(0.2, 0.3, b.shape).astype(np.float32)
                layer.set_weights([g, b, mu, v])
        shape = (res, res, 3)
        calibrate_bn(m, np.concatenate(rep_images(shape, -1, 1, 3, 16)))
        tag = f"mobilenet_a{str(alpha).replace('.', '')}_r{res}"
        for int8_io in [True, False]:
            name = tag + ("_int8io" if int8_io else "_f32io")
            save(name, convert(m, shape, -1, 1, 4, int8_io), shape, -1, 1, 6)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    single_ops()
    if "--no-mobilenet" not in sys.argv:
        mobilenets()
