#!/usr/bin/env python3
"""Runs an ONNX QDQ file written by `sepconv quantize` in ONNX Runtime, and makes the
fixtures of tests/quantize.rs.

    check_quantized_onnx.py run MODEL.onnx INPUTS.npy [--out OUT.npy] [--against OURS.npy]
        Runs MODEL on every image of INPUTS (the model's input layout, batch first) one at
        a time (CPU provider, all graph optimizations), prints which operators ORT's
        optimized graph runs (QLinearConv when the QDQ groups fused) and, with --against,
        how far OURS (e.g. `sepconv run --output`) is from ORT's outputs.

    check_quantized_onnx.py fixture FLOAT.onnx NAME [--sepconv BIN] [--calib-count N]
                            [--inputs N] [--method M]
        Seeded calibration images and test inputs (`hashed_images`: values k / 128 - 1,
        exact in f32, that tests/quantize.rs makes alike), then `sepconv quantize`, then
        ORT on the quantized file; writes tests/fixtures/quantize/NAME.onnx and
        NAME_ort.npy (ORT's outputs on the inputs). Needs onnxruntime and numpy (venv
        /work/venvs/tf215).

An output step is one u8 step of the outputs' range, (max - min) / 255 over all the
outputs ORT gives: the logits are f32 (the classifier is not requantized), so this is
the step a u8 quantization of them would have.
"""

import argparse
import os
import subprocess
import sys

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "tests", "fixtures", "quantize")


def session(path, optimized=None):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    if optimized:
        so.optimized_model_filepath = optimized
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run_model(path, inputs, show_ops=True):
    optimized = path + ".ort-optimized.onnx"
    sess = session(path, optimized if show_ops else None)
    name = sess.get_inputs()[0].name
    outs = [sess.run(None, {name: x[None]})[0][0] for x in inputs]
    if show_ops:
        import onnx

        m = onnx.load(optimized)
        ops = {}
        for n in m.graph.node:
            key = f"{n.domain}.{n.op_type}" if n.domain else n.op_type
            ops[key] = ops.get(key, 0) + 1
        os.remove(optimized)
        print("ORT optimized graph:", ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))
    return np.stack(outs).astype(np.float32)


def compare(ours, ref):
    step = (ref.max() - ref.min()) / 255.0
    diff = np.abs(ours - ref)
    within = float(np.mean(diff <= step))
    exact = float(np.mean(diff <= 1e-6 * np.abs(ref).max()))
    top1 = float(np.mean(ours.argmax(axis=-1) == ref.argmax(axis=-1)))
    print(
        f"{ref.shape[0]} inputs, {ref.size} outputs: within 1 step ({step:.4g}) "
        f"{100 * within:.2f}%, equal up to f32 rounding {100 * exact:.2f}%, "
        f"max |diff| {diff.max():.4g} ({diff.max() / step:.2f} steps), "
        f"top-1 agreement {100 * top1:.1f}%"
    )
    return within, top1


def layout_of(path):
    sess = session(path)
    shape = sess.get_inputs()[0].shape
    return shape


# Seeds of the fixtures' calibration images and test inputs (tests/quantize.rs has them).
CALIB_SEED = 1
INPUT_SEED = 2


def hashed_images(n, shape, seed):
    """n images of `shape` (the model's layout): element i of the flat array is
    h(i + seed * 2^24) >> 24 as k / 128 - 1, h a 32-bit integer hash (multiply by
    0x9E3779B1, xor-shift 16, multiply by 0x45D9F3B, xor-shift 16)."""
    size = n * int(np.prod(shape))
    m = np.uint64(0xFFFFFFFF)
    h = (np.arange(size, dtype=np.uint64) + np.uint64(seed << 24)) & m
    h = (h * np.uint64(0x9E3779B1)) & m
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x45D9F3B)) & m
    h ^= h >> np.uint64(16)
    v = (h >> np.uint64(24)).astype(np.float32) / np.float32(128) - np.float32(1)
    return v.reshape([n] + list(shape))


def fixture(args):
    os.makedirs(OUT_DIR, exist_ok=True)
    shape = [d if isinstance(d, int) else 1 for d in layout_of(args.float_model)][1:]
    calib = hashed_images(args.calib_count, shape, CALIB_SEED)
    inputs = hashed_images(args.inputs, shape, INPUT_SEED)
    base = os.path.join(OUT_DIR, args.name)
    import tempfile

    tmp = tempfile.mkdtemp()
    np.save(os.path.join(tmp, "calib.npy"), calib)
    cmd = [
        args.sepconv,
        "quantize",
        "--model",
        args.float_model,
        "--calib",
        os.path.join(tmp, "calib.npy"),
        "--out",
        base + ".onnx",
        "--method",
        args.method,
    ]
    print(" ".join(cmd))
    subprocess.run(cmd, check=True)
    out = run_model(base + ".onnx", inputs)
    np.save(base + "_ort.npy", out)
    fl = run_model(args.float_model, inputs, show_ops=False)
    print("quantized vs the float model (ORT):", end=" ")
    compare(out, fl)
    print(f"wrote {base}.onnx and {base}_ort.npy (onnxruntime {ort.__version__})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("model")
    r.add_argument("inputs")
    r.add_argument("--out")
    r.add_argument("--against")
    f = sub.add_parser("fixture")
    f.add_argument("float_model")
    f.add_argument("name")
    f.add_argument("--sepconv", default=os.path.join(ROOT, "target", "release", "sepconv"))
    f.add_argument("--calib-count", type=int, default=8)
    f.add_argument("--inputs", type=int, default=20)
    f.add_argument("--method", default="minmax")
    args = p.parse_args()
    if args.cmd == "fixture":
        fixture(args)
        return 0
    inputs = np.load(args.inputs).astype(np.float32)
    out = run_model(args.model, inputs)
    if args.out:
        np.save(args.out, out)
    if args.against:
        within, top1 = compare(np.load(args.against).reshape(out.shape), out)
        return 0 if within >= 0.99 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
