"""Benchmark: inference latency per window of the anomaly models, torch fp32 vs ONNX vs int8.

Usage::

    python benchmarks/bench_inference.py --registry eval_out/registry \
        [--models autoencoder,transformer] [--out benchmarks/results/inference.json]

For each registered model (latest version) the inference output
(``anomaly_score``; logits for the classifier) is timed on the same
normalised simulated windows, one CPU thread everywhere (torch threads = 1,
onnxruntime intra/inter-op threads = 1), at batch 1 and batch 256, as the
median of repeats after a warm-up:

* torch fp32 (eager, ``torch.no_grad``);
* ONNX fp32 on onnxruntime (exported by :func:`exoray.training.export.export_onnx`,
  outputs checked against torch to 1e-4);
* torch dynamic int8 (:func:`torch.ao.quantization.quantize_dynamic`, ``nn.Linear``);
* ONNX dynamic int8 (``onnxruntime.quantization.quantize_dynamic``).

Ratios are against torch fp32 measured in the same run.  ``--untrained``
times the default architecture with random weights (latency does not depend
on the weights) when no registry is at hand; the JSON says so.  Timings only;
nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def windows(n: int, seed: int) -> np.ndarray:
    from exoray.training.data import simulated_windows

    d = simulated_windows(max(2, n), seed=seed, transit_fraction=0.5)
    return np.asarray(d["window"], np.float32)


def bench_model(name: str, registry, untrained: bool, x: np.ndarray, min_time: float) -> dict:
    import torch

    from exoray.training import export as E
    from exoray.models.registry import build_model, default_config, load_model, resolve_version

    if untrained:
        model = build_model(name, default_config(name)).eval()
        version = "untrained default architecture"
    else:
        model, _, _ = load_model(name, registry=registry)
        version = resolve_version(name, "latest", registry).name
    head = E.ScoreHead(model).eval()
    L = x.shape[1]
    with tempfile.TemporaryDirectory() as tmp:
        p32 = E.export_onnx(head, Path(tmp) / "m.onnx", L)
        with torch.no_grad():
            ref = head(torch.as_tensor(x[:256])).numpy()
        diff = float(np.max(np.abs(E.onnx_scores(p32, x[:256]) - ref)))
        if diff > 1e-4:
            raise SystemExit(f"ONNX differs from torch by {diff:.3g}; not benchmarking an unfaithful export")
        p8 = E.quantize_onnx(p32, Path(tmp) / "m8.onnx")
        q = E.quantize_torch(head)
        fns = {
            "torch fp32": E._torch_fn(head),
            "onnx fp32": E._ort_fn(E._ort_session(p32)),
            "torch int8": E._torch_fn(q),
            "onnx int8": E._ort_fn(E._ort_session(p8)),
        }
        sizes = {"torch fp32": E.state_bytes(head), "torch int8": E.state_bytes(q),
                 "onnx fp32": p32.stat().st_size, "onnx int8": p8.stat().st_size}
        rows = {}
        for k, fn in fns.items():
            rows[k] = {b: 1e3 * E.latency_per_window(fn, x, b, repeats=7, min_time=min_time) for b in (1, 256)}
            rows[k]["bytes"] = sizes[k]
    base = rows["torch fp32"]
    for k, r in rows.items():
        r["speedup_b1"] = base[1] / r[1]
        r["speedup_b256"] = base[256] / r[256]
    return {"model": name, "version": version, "onnx_max_abs_diff": diff,
            "ms_per_window": {k: {"batch1": r[1], "batch256": r[256], "speedup_b1": r["speedup_b1"],
                                  "speedup_b256": r["speedup_b256"], "bytes": r["bytes"]} for k, r in rows.items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--registry", default=None, help="model registry (default $EXORAY_MODEL_REGISTRY or ~/.exoray/models)")
    ap.add_argument("--models", default="autoencoder,transformer")
    ap.add_argument("--untrained", action="store_true", help="time the default architectures with random weights")
    ap.add_argument("--n-stars", type=int, default=12, help="simulated stars for the input windows")
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds of timing per (variant, batch)")
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "inference.json"))
    args = ap.parse_args(argv)

    import onnxruntime
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    x = windows(args.n_stars, args.seed)
    if x.shape[0] < 256:
        x = np.resize(x, (256, x.shape[1])).astype(np.float32)
    res = {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
           "onnxruntime": onnxruntime.__version__, "threads": 1, "windows": int(x.shape[0]),
           "untrained": bool(args.untrained), "models": []}
    for name in [m for m in args.models.split(",") if m]:
        r = bench_model(name, args.registry, args.untrained, x, args.min_time)
        res["models"].append(r)
        print(f"\n{name} ({r['version']}), ONNX max |diff| vs torch {r['onnx_max_abs_diff']:.1e}")
        print(f"{'variant':<12} {'bytes':>9} {'ms/win b=1':>11} {'x b=1':>7} {'ms/win b=256':>13} {'x b=256':>8}")
        for k, v in r["ms_per_window"].items():
            print(f"{k:<12} {v['bytes']:>9} {v['batch1']:>11.3f} {v['speedup_b1']:>7.2f} {v['batch256']:>13.4f} "
                  f"{v['speedup_b256']:>8.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"\nwritten {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
