#!/usr/bin/env python3
"""sepconv against ONNX Runtime and TFLite+XNNPACK, interleaved, as issue 7 measures it.

Each round runs, per model and thread count, the peers (`../shared/peers/peers.py`) and then
`sepconv bench --json`, so all three engines see the same phase of a noisy shared host. It
prints the lowest median of each engine over the rounds and sepconv's ratio to the faster
peer. Standard library only; the peers' venv comes from `../shared/peers/setup.sh`.

    py=$(../shared/peers/setup.sh)
    cargo build --release
    python3 scripts/compare-peers.py --peer-python "$py" --rounds 8
    python3 scripts/compare-peers.py --peer-python "$py" --rounds 3 --int8

With --int8 the peers are XNNPACK int8 and ONNX Runtime int8 on the peers' own int8 files;
sepconv times the same STEM_int8.tflite alone (as the peers run: the ratio to them), and
alternately with the float STEM.onnx (`sepconv bench --model .. --against-model ..`), so its
int8/f32 ratio is from one process.
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LINE = re.compile(r"^mbv1_(a[0-9.]+_r[0-9]+)\s+([\w-]+)\s+(\d+)T\s+median ([0-9.]+) ms")


def peers(py, script, model, threads, seconds, engines):
    out = subprocess.run(
        [py, script, "--models", model, "--threads", str(threads), "--seconds", str(seconds),
         "--engines", engines],
        check=True, capture_output=True, text=True).stdout
    times = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            times[m.group(2)] = float(m.group(4))
    if not times:
        sys.exit(f"peers.py printed no timing for {model} at {threads} thread(s):\n{out}")
    return times


def sepconv(exe, alpha, res, threads, extra):
    out = subprocess.run(
        [exe, "bench", "--alpha", alpha, "--res", res, "--threads", str(threads), "--json"]
        + extra, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["latency_ms"]["median"]


def sepconv_files(exe, models_dir, model, threads):
    stem = os.path.join(models_dir, f"mbv1_{model}")
    out = subprocess.run(
        [exe, "bench", "--model", stem + "_int8.tflite", "--against-model", stem + ".onnx",
         "--threads", str(threads), "--json"], check=True, capture_output=True, text=True).stdout
    m = json.loads(out)["models"]
    # Alone, as the peers run: alternating with the f32 model, each int8 run starts with
    # the f32 run's data in the caches instead of its own weights (docs/performance.md).
    out = subprocess.run(
        [exe, "bench", "--model", stem + "_int8.tflite", "--threads", str(threads), "--json"],
        check=True, capture_output=True, text=True).stdout
    alone = json.loads(out)["models"]
    return {"sepconv-int8": alone[0]["median_ms"], "sepconv-int8-alt": m[0]["median_ms"],
            "sepconv-f32": m[1]["median_ms"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer-python", default=os.path.expanduser(
        "~/.cache/sepconv-peers/bin/python"), help="the venv python that setup.sh printed")
    ap.add_argument("--peers", default=os.path.join(ROOT, "../shared/peers/peers.py"))
    ap.add_argument("--sepconv", default=os.path.join(ROOT, "target/release/sepconv"))
    ap.add_argument("--models", default="a1.0_r224,a0.5_r160,a0.25_r128")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=1.0, help="per peer and model")
    ap.add_argument("--bench-arg", action="append", default=[],
                    help="passed on to sepconv bench (repeatable), e.g. --bench-arg=--fuse=never")
    ap.add_argument("--int8", action="store_true",
                    help="int8: XNNPACK int8 and ORT int8 against sepconv int8 (and f32)")
    args = ap.parse_args()
    models_dir = os.path.join(os.path.dirname(os.path.abspath(args.peers)), "models")

    keys = [(m, int(t)) for m in args.models.split(",") for t in args.threads.split(",")]
    best = {}
    for r in range(args.rounds):
        for model, t in keys:
            alpha, res = model[1:].split("_r")
            times = peers(args.peer_python, args.peers, model, t, args.seconds,
                          "xnnpack-int8,ort-int8" if args.int8 else "ort,xnnpack")
            if args.int8:
                times.update(sepconv_files(args.sepconv, models_dir, model, t))
            else:
                times["sepconv"] = sepconv(args.sepconv, alpha, res, t, args.bench_arg)
            for engine, ms in times.items():
                k = (model, t, engine)
                best[k] = min(best.get(k, ms), ms)
            print(f"round {r + 1}: {model} {t}T " + " ".join(
                f"{e} {ms:.3f}" for e, ms in sorted(times.items())), file=sys.stderr)

    if args.int8:
        # int8 / f32 from the alternated runs (one process); int8 / peer from the int8
        # model alone, as each peer runs its own.
        print("| model | threads | sepconv int8 | XNNPACK int8 | ORT int8 | int8 / faster peer "
              "| sepconv int8, f32 alternating | int8 / f32 |")
        print("|---|---|---|---|---|---|---|---|")
        for model, t in keys:
            g = lambda e: best.get((model, t, e))
            own, alt, f32 = g("sepconv-int8"), g("sepconv-int8-alt"), g("sepconv-f32")
            faster = min(x for x in (g("xnnpack-int8"), g("ort-int8")) if x is not None)
            name = model[1:].replace("_r", "-")
            print(f"| {name} | {t} | {own:.3f} | {g('xnnpack-int8'):.3f} | "
                  f"{g('ort-int8'):.3f} | {own / faster:.2f} | {alt:.3f}, {f32:.3f} | "
                  f"{f32 / alt:.2f}x faster |")
        return
    print("| model | threads | sepconv | ONNX Runtime | TFLite+XNNPACK | ratio to faster peer |")
    print("|---|---|---|---|---|---|")
    for model, t in keys:
        own = best[(model, t, "sepconv")]
        ort, xnn = best.get((model, t, "ort")), best.get((model, t, "xnnpack"))
        faster = min(x for x in (ort, xnn) if x is not None)
        name = model[1:].replace("_r", "-")
        fmt = lambda x: "-" if x is None else f"{x:.3f}"
        print(f"| {name} | {t} | {own:.3f} | {fmt(ort)} | {fmt(xnn)} | {own / faster:.2f} |")


if __name__ == "__main__":
    main()
