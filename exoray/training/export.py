"""Optimised inference variants of a registered model: ONNX, int8, pruned, distilled.

:func:`export_model` loads a registered autoencoder, transformer or classifier
and writes to ``DIR``:

``model.onnx``
    The inference graph (``anomaly_score`` for the anomaly models, logits for
    the classifier) exported with :func:`torch.onnx.export` (TorchScript
    exporter, opset 17, dynamic batch axis) and *checked*: onnxruntime's
    output on held-out windows must equal torch's to ``tolerance`` (max
    absolute difference), else :class:`~exoray.errors.ExorayError`.
``model_int8.onnx``
    onnxruntime dynamic int8 quantisation (weights int8, activations
    quantised on the fly) of ``model.onnx``; torch's
    :func:`torch.ao.quantization.quantize_dynamic` (``nn.Linear`` -> int8) is
    measured too.
``pruned.safetensors``
    Global L1 magnitude pruning of every Conv1d / Linear weight
    (:mod:`torch.nn.utils.prune`), fine-tuned with the masks in place, then
    made permanent.  Dense storage does not shrink, so the table also gives
    the gzip-compressed size and the fraction of zero weights.
``student.safetensors`` / ``student.onnx``
    A small 1-D CNN (:class:`StudentCNN`) distilled to reproduce the
    teacher's (standardised) output on training windows.
``export.json`` / ``export.md``
    Size (bytes), latency per window (batch 1 and 256, one CPU thread,
    median of repeats) and ROC-AUC on held-out simulated windows of every
    variant.

The pruning fine-tune and the distillation are short in-process loops here:
they act on a pruned (masked) module or on a new student architecture, which
the registry-driven trainer (:mod:`exoray.training.train`) does not build.
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..errors import ConfigError, ExorayError
from ..models.registry import _jsonable, load_model, resolve_version
from ..runtime.ray_env import one_torch_thread
from .data import simulated_windows

__all__ = ["ScoreHead", "StudentCNN", "export_model", "export_onnx", "onnx_scores", "quantize_torch",
           "quantize_onnx", "prune_model", "distill_model", "latency_per_window", "state_bytes"]

log = logging.getLogger(__name__)

EXPORTABLE = ("autoencoder", "transformer", "classifier")


def _torch():
    import torch

    return torch


class _Lazy:  # pragma: no cover - namespace holder for the torch classes defined in _define()
    pass


def _define():
    torch = _torch()
    nn = torch.nn

    class ScoreHead(nn.Module):
        """The inference output of a model as ``forward``: anomaly score ``[B]`` or classifier logit ``[B]``."""

        def __init__(self, model: nn.Module):
            super().__init__()
            self.model = model
            self.kind = getattr(model, "kind", "classifier")

        def forward(self, x):
            if hasattr(self.model, "anomaly_score"):
                return self.model.anomaly_score(x)
            return self.model(x).reshape(-1)

    class StudentCNN(nn.Module):
        """Small 1-D CNN: 3 strided conv blocks, global average + max pooling, linear output ``[B]``.

        ``out_mean`` / ``out_std`` (buffers) map the standardised regression
        output back to the teacher's scale.
        """

        def __init__(self, window_length: int = 192, channels: int = 16, kernel_size: int = 7):
            super().__init__()
            c = channels
            self.window_length = int(window_length)
            self.net = nn.Sequential(
                nn.Conv1d(1, c // 2, kernel_size, stride=2, padding=kernel_size // 2), nn.GELU(),
                nn.Conv1d(c // 2, c, kernel_size, stride=2, padding=kernel_size // 2), nn.GELU(),
                nn.Conv1d(c, c, kernel_size, stride=2, padding=kernel_size // 2), nn.GELU(),
            )
            self.out = nn.Sequential(nn.Linear(2 * c, c), nn.GELU(), nn.Linear(c, 1))
            self.register_buffer("out_mean", torch.zeros(()))
            self.register_buffer("out_std", torch.ones(()))

        def forward(self, x):
            h = self.net(x.unsqueeze(1))
            z = torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=1)
            return self.out(z).reshape(-1) * self.out_std + self.out_mean

    class NoFastPath(nn.Module):
        """Runs ``module`` with the fused transformer inference kernel switched off.

        After :func:`quantize_torch` an ``nn.TransformerEncoderLayer``'s
        ``linear1.weight`` is a method of the int8 module, which the fused
        path's eligibility check cannot read; the plain path works.
        """

        def __init__(self, module: nn.Module):
            super().__init__()
            self.module = module

        def forward(self, x):
            fast = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                return self.module(x)
            finally:
                torch.backends.mha.set_fastpath_enabled(fast)

    _Lazy.ScoreHead = ScoreHead
    _Lazy.StudentCNN = StudentCNN
    _Lazy.NoFastPath = NoFastPath


def __getattr__(name):  # ScoreHead / StudentCNN without importing torch at module import
    if name in ("ScoreHead", "StudentCNN"):
        if not hasattr(_Lazy, name):
            _define()
        return getattr(_Lazy, name)
    raise AttributeError(name)


# --------------------------------------------------------------------------- measurements
def state_bytes(module) -> int:
    """Tensor payload of a module in bytes: parameters and buffers, int8 weights of quantised layers at 1 byte.

    Serialisation overhead (names, headers) is left out so that fp32 and int8
    modules compare like for like; ONNX rows of the export table give file sizes.
    """
    torch = _torch()
    total = 0
    for m in module.modules():
        w = getattr(m, "weight", None)
        if callable(w) and not isinstance(w, torch.Tensor):  # DynamicQuantizedLinear: packed int8 weight
            qw = w()
            total += qw.numel() * qw.element_size() + 8  # + scale / zero point
            b = m.bias() if callable(getattr(m, "bias", None)) else None
            if b is not None:
                total += b.numel() * b.element_size()
        for t in list(m.parameters(recurse=False)) + list(m.buffers(recurse=False)):
            total += t.numel() * t.element_size()
    return int(total)


def _gzip_len(b: bytes) -> int:
    return len(gzip.compress(b, compresslevel=6))


def _safetensors_bytes(module) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().contiguous() for k, v in module.state_dict().items()})


def latency_per_window(fn, windows: np.ndarray, batch: int, repeats: int = 5, min_time: float = 0.2) -> float:
    """Median seconds per window of ``fn(x[batch])`` (after one warm-up call)."""
    x = np.ascontiguousarray(windows[:batch], np.float32)
    if x.shape[0] < batch:
        x = np.resize(x, (batch, windows.shape[1])).astype(np.float32)
    fn(x)
    times = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn(x)
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_time / repeats or n >= 200:
                break
        times.append(dt / n / batch)
    return float(np.median(times))


def _torch_fn(module):
    torch = _torch()

    def fn(x):
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return fn


def _ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def _ort_fn(sess):
    name = sess.get_inputs()[0].name

    def fn(x):
        return sess.run(None, {name: x})[0].reshape(-1)

    return fn


def onnx_scores(path, windows, batch: int = 512) -> np.ndarray:
    """Outputs of an exported ONNX model on ``windows`` (onnxruntime, CPU)."""
    fn = _ort_fn(_ort_session(Path(path)))
    x = np.asarray(windows, np.float32)
    return np.concatenate([fn(np.ascontiguousarray(x[i:i + batch])) for i in range(0, x.shape[0], batch)]) \
        if x.shape[0] else np.empty(0, np.float32)


def _auc(labels, scores) -> Optional[float]:
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels)
    m = (y == 0) | (y == 1)
    if len(set(y[m].tolist())) < 2:
        return None
    return float(roc_auc_score(y[m], np.asarray(scores, float)[m]))


# --------------------------------------------------------------------------- variants
def export_onnx(module, path, window_length: int, *, opset: int = 17) -> Path:
    """``torch.onnx.export`` of ``module`` (input ``x[B, L]`` float32, output ``[B]``), dynamic batch."""
    torch = _torch()
    path = Path(path)
    module.eval()
    x = torch.zeros(2, int(window_length))
    # the fused inference kernel of nn.TransformerEncoderLayer (_transformer_encoder_layer_fwd)
    # has no ONNX symbolic: trace the plain (mathematically identical) path instead
    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript exporter deprecation + tracer notes
            torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["window"], output_names=["score"],
                              dynamic_axes={"window": {0: "batch"}, "score": {0: "batch"}}, opset_version=opset,
                              do_constant_folding=True)
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
    import onnx

    onnx.checker.check_model(onnx.load(str(path)))
    return path


def quantize_onnx(src, dst) -> Path:
    """onnxruntime dynamic int8 quantisation (per-tensor int8 weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs every tensor-type inference note on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    return Path(dst)


def quantize_torch(module):
    """:func:`torch.ao.quantization.quantize_dynamic` of every ``nn.Linear`` to int8 (a copy)."""
    torch = _torch()
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao quantisation deprecation notes
        q = quantize_dynamic(copy.deepcopy(module).eval(), {torch.nn.Linear}, dtype=torch.qint8)
    if any(isinstance(m, torch.nn.TransformerEncoderLayer) for m in q.modules()):
        if not hasattr(_Lazy, "NoFastPath"):
            _define()
        q = _Lazy.NoFastPath(q).eval()
    return q


def _prunable(module):
    torch = _torch()
    return [(m, "weight") for m in module.modules()
            if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d, torch.nn.Linear)) and m.weight.requires_grad]


def _loss_fn(kind: str, model):
    torch = _torch()
    F = torch.nn.functional

    if kind == "autoencoder":
        return lambda x, y: F.mse_loss(model(x), x)
    if kind == "transformer":
        def tl(x, y):
            mask = model.random_mask(x.shape[0])
            err = ((model(x, mask) - model._patches(x)) ** 2).mean(dim=-1)  # noqa: SLF001
            return (err * mask).sum() / mask.sum()
        return tl
    return lambda x, y: F.binary_cross_entropy_with_logits(model(x).reshape(-1), y)


def _finetune(model, kind: str, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, seed: int,
              batch: int = 64) -> None:
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    loss_fn = _loss_fn(kind, model)
    model.train()
    for _ in range(int(epochs)):
        perm = torch.randperm(xt.shape[0], generator=g)
        for i in range(0, xt.shape[0], batch):
            idx = perm[i:i + batch]
            if idx.numel() < 2:
                continue
            opt.zero_grad(set_to_none=True)
            _refresh_pruned(model)
            loss_fn(xt[idx], yt[idx]).backward()
            opt.step()
    _refresh_pruned(model)
    model.eval()


def _refresh_pruned(model) -> None:
    """Recompute ``weight = weight_orig * weight_mask`` of every pruned module.

    torch's pruning does this in a forward pre-hook, which never runs for a
    Linear whose weight is read directly by its parent (the ``out_proj`` of
    ``nn.MultiheadAttention``); without it the second backward would reuse a
    freed graph.
    """
    for m in model.modules():
        if hasattr(m, "weight_orig") and hasattr(m, "weight_mask"):
            setattr(m, "weight", m.weight_orig * m.weight_mask)


def prune_model(model, kind: str, amount: float, x_train: np.ndarray, y_train: np.ndarray, *, epochs: int = 2,
                lr: float = 3e-4, seed: int = 0):
    """Global L1 pruning of ``amount`` of the conv/linear weights, fine-tuned with masks, made permanent (a copy)."""
    torch = _torch()
    from torch.nn.utils import prune

    if not 0.0 < amount < 1.0:
        raise ConfigError(f"prune amount must be in (0, 1), got {amount}")
    m = copy.deepcopy(model)
    for p in m.parameters():
        p.requires_grad_(True)
    params = _prunable(m)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=float(amount))
    if epochs > 0:
        _finetune(m, kind, x_train, y_train, epochs, lr, seed)
    for mod, name in params:
        prune.remove(mod, name)
    total = sum(mod.weight.numel() for mod, _ in params)
    zeros = sum(int((mod.weight == 0).sum()) for mod, _ in params)
    m.eval()
    return m, zeros / max(total, 1)


def distill_model(teacher, x_train: np.ndarray, *, epochs: int = 15, lr: float = 2e-3, channels: int = 16, seed: int = 0,
            batch: int = 128):
    """Train :class:`StudentCNN` to regress the teacher's (standardised, log for anomaly scores) output."""
    torch = _torch()
    Student = __getattr__("StudentCNN")
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(x_train, np.float32))
    with torch.no_grad():
        t = torch.cat([teacher(x[i:i + 1024]) for i in range(0, x.shape[0], 1024)]).float()
    log_target = bool(torch.all(t > 0))  # anomaly scores (MSE) are positive and skewed: regress their log
    tt = torch.log(t) if log_target else t
    mean, std = tt.mean(), tt.std().clamp_min(1e-6)
    target = (tt - mean) / std
    student = Student(window_length=x.shape[1], channels=channels)
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    g = torch.Generator().manual_seed(seed)
    student.train()
    for _ in range(int(epochs)):
        perm = torch.randperm(x.shape[0], generator=g)
        for i in range(0, x.shape[0], batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            pred = (student(x[idx]) - student.out_mean) / student.out_std
            torch.nn.functional.mse_loss(pred, target[idx]).backward()
            opt.step()
        sched.step()
    student.out_mean.fill_(float(mean))
    student.out_std.fill_(float(std))
    student.eval()
    # the student predicts the (log) teacher score; ranking (AUC) is what matters downstream
    return student, {"log_target": log_target}


# --------------------------------------------------------------------------- driver
def _data(n_stars: int, seed: int, smoke: bool):
    t0 = time.perf_counter()
    tr = simulated_windows(max(2, n_stars), seed=seed, transit_fraction=0.5)
    ev = simulated_windows(max(2, n_stars // 2), seed=seed + 1, transit_fraction=0.7, single_fraction=0.5,
                           snr_range=(5.0, 80.0))
    log.info("export: simulated %d + %d stars in %.0f s", n_stars, n_stars // 2, time.perf_counter() - t0)
    return tr, ev


def export_model(name: str, out, *, version: str = "latest", registry=None, onnx: bool = True,
                 quantize: bool = True, prune: bool = False, distill: bool = False, n_stars: Optional[int] = None,
                 seed: int = 0, smoke: bool = False, tolerance: float = 1e-4, prune_amount: float = 0.5,
                 data=None) -> Dict[str, Any]:
    """Export registered model ``name`` and measure every variant (see module docstring).

    Parameters
    ----------
    data : (train_cols, eval_cols), optional
        Window dicts as from :func:`exoray.training.data.simulated_windows`
        (default: simulate ``n_stars`` training and ``n_stars // 2`` held-out
        stars).

    Returns
    -------
    dict
        ``variants`` (list of rows), ``onnx_max_abs_diff``, paths,
        ``markdown`` (path of export.md).
    """
    torch = _torch()

    if name not in EXPORTABLE:
        raise ConfigError(f"cannot export {name!r}; choose one of {', '.join(EXPORTABLE)}")
    if not (onnx or quantize or prune or distill):
        raise ConfigError("nothing to do: give at least one of --onnx --quantize --prune --distill")
    one_torch_thread()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folder = resolve_version(name, version, registry)
    model, config, _ = load_model(name, folder.name, registry)
    ScoreHead = __getattr__("ScoreHead")
    head = ScoreHead(model).eval()
    L = int(config["window_length"])
    if data is None:
        data = _data(n_stars or (6 if smoke else 60), seed, smoke)
    tr, ev = data
    x_ev, y_ev = np.asarray(ev["window"], np.float32), np.asarray(ev["label"])
    if name == "classifier":
        keep = (tr["label"] == 0) | (tr["label"] == 1)
        x_tr, y_tr = np.asarray(tr["window"], np.float32)[keep], np.asarray(tr["label"], np.float32)[keep]
    else:  # anomaly models train / fine-tune on non-transit windows
        keep = tr["label"] != 1
        x_tr, y_tr = np.asarray(tr["window"], np.float32)[keep], np.zeros(int(keep.sum()), np.float32)
    x_lat = x_ev if x_ev.shape[0] >= 256 else np.resize(x_ev, (256, L)).astype(np.float32)
    rows = []

    def measure(variant, fn, size, scores, note="", **extra):
        row = {"variant": variant, "bytes": int(size), "auc": _auc(y_ev, scores),
               "ms_per_window_b1": 1e3 * latency_per_window(fn, x_lat, 1, min_time=0.05 if smoke else 0.5),
               "ms_per_window_b256": 1e3 * latency_per_window(fn, x_lat, 256, min_time=0.05 if smoke else 0.5),
               "note": note, **extra}
        rows.append(row)
        log.info("export %s: %s", variant, row)
        return row

    with torch.no_grad():
        ref = _torch_fn(head)(x_ev).astype(np.float64)
    fp32_bytes = _safetensors_bytes(model)
    measure("torch fp32", _torch_fn(head), state_bytes(head), ref, note="tensor payload",
            gzip_bytes=_gzip_len(fp32_bytes), file_bytes=len(fp32_bytes))
    result: Dict[str, Any] = {"model": name, "version": folder.name, "registry": str(folder.parent.parent),
                              "window_length": L, "eval_windows": int(x_ev.shape[0]),
                              "eval_counts": {"transit": int(np.sum(y_ev == 1)), "no_transit": int(np.sum(y_ev == 0))},
                              "threads": 1, "tolerance": tolerance}
    onnx_path = out / "model.onnx"
    if onnx or quantize:
        export_onnx(head, onnx_path, L)
        got = onnx_scores(onnx_path, x_ev)
        diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
        result["onnx_max_abs_diff"] = diff
        result["onnx_max_rel_diff"] = float(np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12))) if ref.size else 0.0
        if not diff <= tolerance:
            raise ExorayError(f"ONNX output differs from torch by {diff:.3g} (> tolerance {tolerance:g}) on "
                              f"{x_ev.shape[0]} windows; {onnx_path} is not a faithful export")
        if onnx:
            sess = _ort_session(onnx_path)
            measure("onnx fp32", _ort_fn(sess), onnx_path.stat().st_size, got, note="onnxruntime CPU",
                    max_abs_diff_vs_torch=diff)
    if quantize:
        q = quantize_torch(head)
        qs = _torch_fn(q)(x_ev)
        measure("torch int8 (dynamic, Linear)", _torch_fn(q), state_bytes(q), qs,
                note="tensor payload; torch.ao quantize_dynamic of nn.Linear, conv/attention stay fp32",
                max_abs_diff_vs_fp32=float(np.max(np.abs(qs - ref))))
        q_path = quantize_onnx(onnx_path, out / "model_int8.onnx")
        qo = onnx_scores(q_path, x_ev)
        measure("onnx int8 (dynamic)", _ort_fn(_ort_session(q_path)), q_path.stat().st_size, qo,
                note="onnxruntime quantize_dynamic QInt8", max_abs_diff_vs_fp32=float(np.max(np.abs(qo - ref))))
    if prune:
        pm, sparsity = prune_model(model, name, prune_amount, x_tr, y_tr, epochs=1 if smoke else 3, seed=seed)
        ph = ScoreHead(pm).eval()
        ps = _torch_fn(ph)(x_ev)
        b = _safetensors_bytes(pm)
        (out / "pruned.safetensors").write_bytes(b)
        measure(f"pruned {prune_amount:.0%} + fine-tuned", _torch_fn(ph), state_bytes(ph), ps,
                note="dense storage (zeros kept)", gzip_bytes=_gzip_len(b), weight_sparsity=sparsity)
    if distill:
        student, info = distill_model(
            head, np.concatenate([x_tr, np.asarray(tr["window"], np.float32)[tr["label"] == 1]]),
            epochs=2 if smoke else 20, seed=seed)
        ss = _torch_fn(student)(x_ev)
        b = _safetensors_bytes(student)
        (out / "student.safetensors").write_bytes(b)
        measure("distilled CNN (torch)", _torch_fn(student), state_bytes(student), ss,
                note=f"student of {name}; regresses {'log ' if info['log_target'] else ''}teacher output",
                params=int(sum(p.numel() for p in student.parameters())))
        s_path = export_onnx(student, out / "student.onnx", L)
        so = onnx_scores(s_path, x_ev)
        measure("distilled CNN (onnx)", _ort_fn(_ort_session(s_path)), s_path.stat().st_size, so,
                note="onnxruntime CPU", max_abs_diff_vs_torch=float(np.max(np.abs(so - ss))))
    base = rows[0]
    for r in rows:
        r["size_ratio"] = r["bytes"] / base["bytes"]
        r["speedup_b1"] = base["ms_per_window_b1"] / r["ms_per_window_b1"]
        r["speedup_b256"] = base["ms_per_window_b256"] / r["ms_per_window_b256"]
    result["variants"] = rows
    (out / "export.json").write_text(json.dumps(_jsonable(result), indent=2, sort_keys=True) + "\n")
    md = [f"# Export of {name} {folder.name}\n\n{x_ev.shape[0]} held-out windows "
          f"({result['eval_counts']['transit']} with a transit); latency on 1 CPU thread.\n\n"]
    if "onnx_max_abs_diff" in result:
        md.append(f"ONNX vs torch: max |diff| = {result['onnx_max_abs_diff']:.2e} (tolerance {tolerance:g}).\n\n")
    md.append("| variant | bytes | size ratio | ms/window b=1 | ms/window b=256 | speed-up b=256 | ROC-AUC | note |\n")
    md.append("|---|---|---|---|---|---|---|---|\n")
    for r in rows:
        extra = ""
        if "weight_sparsity" in r:
            extra = f"; {r['weight_sparsity']:.0%} zeros, gzip {r['gzip_bytes']} B vs {base.get('gzip_bytes')} B"
        md.append(f"| {r['variant']} | {r['bytes']} | {r['size_ratio']:.2f} | {r['ms_per_window_b1']:.3f} | "
                  f"{r['ms_per_window_b256']:.4f} | {r['speedup_b256']:.2f} | "
                  f"{'—' if r['auc'] is None else format(r['auc'], '.3f')} | {r['note']}{extra} |\n")
    (out / "export.md").write_text("".join(md))
    result["markdown"] = str(out / "export.md")
    return result
