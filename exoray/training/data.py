"""Labelled light-curve windows for training the deep models, and the Ray Data pipeline that makes them.

The window itself (10-min bins, 192-bin = 32-h windows, robust
normalisation) is defined in :mod:`exoray.models.windows`, which inference
uses too; this module labels windows from the simulator's truth, simulates
stars for them and streams them from a sweep's output.

Labels (from the simulator's truth)
-----------------------------------
``label = 1`` when a transit lies *entirely* inside the window,
``label = 0`` when no in-transit cadence does; windows that cut a transit
(partial overlap) are ambiguous and dropped.  ``snr`` is the window's
single-transit SNR, ``mean in-window depth * sqrt(n_in) / sigma_bin`` with
``n_in`` the in-transit bins of the noiseless truth model and ``sigma_bin``
the light curve's robust 10-min scatter; ``depth_ppm`` is the truth model's
maximum in-window depth and ``duration_hours`` its T14.  Stars with an
eclipsing binary (truth class ``eb``/``blended_eb``) are left out: their
eclipses are neither "no transit" nor a planet transit.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ConfigError, InputError
from ..models.windows import BIN_MINUTES, WINDOW_LENGTH, WINDOW_STRIDE, bin_flux, windows_from_lightcurve
from ..preprocess import preprocess_lightcurve
from ..runtime.ray_env import init_ray
from ..schemas import read_preprocessed
from ..simulate import sector_timing, simulate_lightcurve
from ..simulate.sector import simulate_star
from ..simulate.transit import transit_model
from ..stats import robust_std

__all__ = [
    "WINDOW_COLUMNS",
    "labelled_windows",
    "simulated_windows",
    "window_dataset",
    "class_counts",
    "split_by_star",
    "to_numpy",
]

log = logging.getLogger(__name__)

_BIN_DAYS = BIN_MINUTES / 1440.0
#: columns of every window table / Ray Dataset row
WINDOW_COLUMNS = ("window", "label", "snr", "depth_ppm", "duration_hours", "tic_id", "start_time")
_EB_CLASSES = ("eb", "blended_eb")


# --------------------------------------------------------------------------- labelled windows
def _robust_sigma(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size < 3:
        return float("nan")
    return robust_std(x)


def _planet_rows(truth: Sequence[Mapping]) -> Tuple[List[Mapping], bool]:
    planets, has_eb = [], False
    for row in truth:
        cls = str(row.get("class", "") or "")
        if cls in _EB_CLASSES or (row.get("sb_ratio") is not None and np.isfinite(float(row.get("sb_ratio") or np.nan))):
            has_eb = True
            continue
        if row.get("period_days") is None or not np.isfinite(float(row["period_days"])):
            continue  # a "none" star's placeholder row
        planets.append(row)
    return planets, has_eb


def labelled_windows(plc, truth: Sequence[Mapping], stride: int = WINDOW_STRIDE) -> Dict[str, np.ndarray]:
    """Windows of ``plc`` labelled from the simulator's ``truth`` rows (see module docstring).

    ``truth`` holds one mapping per injected signal with the keys of
    ``truth.csv`` (``period_days, t0_btjd, rp_rs, a_rs, b, u1, u2, ecc,
    w_deg, duration_hours``); an empty list means a star without signals.

    Returns a dict of the :data:`WINDOW_COLUMNS` (empty arrays for an EB star).
    """
    planets, has_eb = _planet_rows(truth)
    if has_eb:
        return _empty_columns()
    win, start, raw = windows_from_lightcurve(plc, stride, return_raw=True)
    n = win.shape[0]
    if n == 0:
        return _empty_columns()
    model = np.ones_like(plc.time)
    for p in planets:
        model *= transit_model(plc.time, float(p["period_days"]), float(p["t0_btjd"]), float(p["rp_rs"]),
                               float(p["a_rs"]), float(p["b"]), float(p.get("u1", 0.4)), float(p.get("u2", 0.2)),
                               ecc=float(p.get("ecc", 0.0) or 0.0), w=float(p.get("w_deg", 90.0) or 90.0))
    tb, mb = bin_flux(plc.time, model, plc.cadence_s)
    _, fb = bin_flux(plc.time, plc.flux_flat, plc.cadence_s)
    depth_b = 1.0 - mb
    sigma_bin = _robust_sigma(fb[depth_b <= 0])
    end = start + WINDOW_LENGTH * _BIN_DAYS
    label = np.zeros(n, np.int64)
    keep = np.ones(n, bool)
    snr = np.zeros(n)
    depth = np.zeros(n)
    dur = np.zeros(n)
    # bins of each window, by position in the binned series
    lo = np.searchsorted(tb, start)
    hi = np.searchsorted(tb, end)
    for i in range(n):
        d = depth_b[lo[i]:hi[i]]
        inside = d > 1e-7
        full = False
        partial = False
        for p in planets:
            per, t0 = float(p["period_days"]), float(p["t0_btjd"])
            half = 0.5 * float(p["duration_hours"]) / 24.0
            k0 = math.ceil((start[i] - half - t0) / per)
            k1 = math.floor((end[i] + half - t0) / per)
            for k in range(k0, k1 + 1):
                tc = t0 + k * per
                if tc - half >= start[i] and tc + half <= end[i]:
                    full = True
                    dur[i] = max(dur[i], 2 * half * 24.0)
                else:
                    partial = True
        if full and not partial and inside.any():
            label[i] = 1
            depth[i] = float(d.max()) * 1e6
            if np.isfinite(sigma_bin) and sigma_bin > 0:
                snr[i] = float(d[inside].sum() / (sigma_bin * math.sqrt(inside.sum())))
        elif inside.any() or partial:
            keep[i] = False  # cut transit: ambiguous
        else:
            dur[i] = 0.0
    return {
        "window": win[keep],
        "label": label[keep],
        "snr": snr[keep],
        "depth_ppm": depth[keep],
        "duration_hours": dur[keep],
        "tic_id": np.full(int(keep.sum()), int(plc.tic_id), np.int64),
        "start_time": start[keep],
    }


def _empty_columns() -> Dict[str, np.ndarray]:
    return {
        "window": np.empty((0, WINDOW_LENGTH), np.float32),
        "label": np.empty(0, np.int64),
        "snr": np.empty(0),
        "depth_ppm": np.empty(0),
        "duration_hours": np.empty(0),
        "tic_id": np.empty(0, np.int64),
        "start_time": np.empty(0),
    }


def _concat(parts: Iterable[Mapping[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    parts = [p for p in parts if len(p["label"])]
    if not parts:
        return _empty_columns()
    return {k: np.concatenate([p[k] for p in parts]) for k in WINDOW_COLUMNS}


def _simulate_chunk(tic_ids: Sequence[int], seed: int, transit_fraction: float, snr_range, single_fraction: float,
                    stride: int) -> Dict[str, np.ndarray]:
    timing = sector_timing(1, seed)
    out = []
    for tic in tic_ids:
        # one generator per star: the same star comes out whichever chunk simulates it
        rng = np.random.default_rng([int(seed), int(tic)])
        cls = "planet" if rng.uniform() < transit_fraction else "none"
        star, signals = simulate_star(rng, int(tic), cls, timing, snr_range=snr_range,
                                      single_fraction=single_fraction)
        lc = simulate_lightcurve(rng, star, signals, timing=timing)
        plc = preprocess_lightcurve(lc)
        out.append(labelled_windows(plc, lc.meta.get("truth", []), stride))
    return _concat(out)


_TIC0 = 500_000_000


def _check_snr_range(snr_range) -> None:
    lo, hi = (float(v) for v in snr_range)
    # the simulator draws half its planets in the 7-15 "threshold" region, the rest log-uniform in the range
    if not (0 < lo <= 15.0 and hi > max(lo, 7.0)):
        raise ConfigError(f"snr_range {tuple(snr_range)} must satisfy 0 < low <= 15 < high "
                          "(the simulator puts half its planets at SNR 7-15)")


def simulated_windows(n_stars: int, seed: int = 0, *, transit_fraction: float = 0.6,
                      snr_range: Tuple[float, float] = (8.0, 60.0), single_fraction: float = 0.2,
                      stride: int = WINDOW_STRIDE) -> Dict[str, np.ndarray]:
    """Labelled windows of ``n_stars`` simulated TESS 2-min stars (in this process).

    Each star is drawn by :func:`exoray.simulate.sector.simulate_star`
    (class ``"planet"`` with probability ``transit_fraction``, else
    ``"none"``; realistic noise, rotators and flarers included), rendered by
    :func:`~exoray.simulate.simulate_lightcurve`, preprocessed by
    :func:`~exoray.preprocess.preprocess_lightcurve` and windowed and
    labelled by :func:`labelled_windows`.  ``snr_range`` is the whole-sector
    SNR the simulator scales each planet to (a single window's SNR is lower
    by ~sqrt(number of transits)).

    Returns
    -------
    dict
        ``window`` (N, WINDOW_LENGTH) float32 normalised, ``label`` (N,) int
        (1 = a transit in the window), ``snr``, ``depth_ppm``,
        ``duration_hours``, ``tic_id``, ``start_time``.
    """
    if int(n_stars) < 1:
        raise ConfigError(f"n_stars must be >= 1, got {n_stars}")
    if not 0.0 <= transit_fraction <= 1.0:
        raise ConfigError(f"transit_fraction must be in [0, 1], got {transit_fraction}")
    _check_snr_range(snr_range)
    tics = np.arange(_TIC0, _TIC0 + int(n_stars))
    return _simulate_chunk(tics, seed, transit_fraction, tuple(snr_range), single_fraction, stride)


def to_numpy(ds) -> Dict[str, np.ndarray]:
    """All rows of a window Ray Dataset as numpy columns (for evaluation on the driver)."""
    parts = [b for b in ds.iter_batches(batch_size=4096, batch_format="numpy")]
    if not parts:
        return _empty_columns()
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def class_counts(data) -> Dict[str, int]:
    """``{"transit": n1, "no_transit": n0, "unlabelled": n_unknown, "total": n}`` of a Dataset or dict."""
    if hasattr(data, "iter_batches"):
        lab = np.concatenate([np.asarray(b["label"]) for b in data.select_columns(["label"]).iter_batches(
            batch_size=65536, batch_format="numpy")] or [np.empty(0, np.int64)])
    else:
        lab = np.asarray(data["label"])
    return {"transit": int(np.sum(lab == 1)), "no_transit": int(np.sum(lab == 0)),
            "unlabelled": int(np.sum(lab < 0)), "total": int(lab.size)}


# --------------------------------------------------------------------------- Ray Data
def _star_hash(tic_id: np.ndarray, salt: int) -> np.ndarray:
    x = (np.asarray(tic_id, np.uint64) * np.uint64(2654435761) + np.uint64(salt)) % np.uint64(1 << 32)
    return x.astype(np.float64) / float(1 << 32)


def split_by_star(ds, val_fraction: float = 0.2, seed: int = 0):
    """Split a window Dataset into ``(train, val)`` by star (no star in both)."""
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")

    def _part(want_val: bool):
        def _f(batch):
            keep = (_star_hash(batch["tic_id"], seed) < val_fraction) == want_val
            return {k: v[keep] for k, v in batch.items()}
        return _f

    train = ds.map_batches(_part(False), batch_format="numpy")
    val = ds.map_batches(_part(True), batch_format="numpy")
    return train.materialize(), val.materialize()


def _read_truth(path: Path) -> Dict[int, List[Dict[str, Any]]]:
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read truth table {path}: {exc}") from None
    need = {"tic_id", "class", "period_days", "t0_btjd", "rp_rs", "a_rs", "b", "duration_hours"}
    missing = sorted(need - set(df.columns))
    if missing:
        raise InputError(f"{path} lacks column(s) {missing}; expected exoray's simulator truth.csv")
    out: Dict[int, List[Dict[str, Any]]] = {}
    for row in df.to_dict("records"):
        out.setdefault(int(row["tic_id"]), []).append(row)
    return out


def _find_truth(src: Path) -> Optional[Path]:
    for cand in (src / "truth.csv", src / "simulated" / "truth.csv", src.parent / "simulated" / "truth.csv"):
        if cand.is_file():
            return cand
    run = src / "run.json"
    if run.is_file():
        import json

        try:
            inp = json.loads(run.read_text()).get("input")
        except (OSError, ValueError):
            inp = None
        if isinstance(inp, str) and (Path(inp) / "truth.csv").is_file():
            return Path(inp) / "truth.csv"
    return None


def _parquet_files(src: Path) -> List[str]:
    if src.is_file() and src.suffix == ".parquet":
        return [str(src)]
    d = src / "lightcurves" if (src / "lightcurves").is_dir() else src
    files = sorted(str(p) for p in d.glob("*.parquet"))
    if not files:
        raise InputError(f"no preprocessed light curves (*.parquet) in {d}; give a sweep output folder "
                         "(OUT with OUT/lightcurves/) or its lightcurves/ folder")
    return files


def _window_parquet_batch(batch: Dict[str, np.ndarray], truth: Optional[Dict[int, list]], stride: int):
    out = []
    for path in batch["path"]:
        for plc in read_preprocessed(str(path)):
            if truth is None:
                w, s = windows_from_lightcurve(plc, stride)
                n = w.shape[0]
                out.append({"window": w, "label": np.full(n, -1, np.int64), "snr": np.full(n, np.nan),
                            "depth_ppm": np.full(n, np.nan), "duration_hours": np.full(n, np.nan),
                            "tic_id": np.full(n, int(plc.tic_id), np.int64), "start_time": s})
            else:
                out.append(labelled_windows(plc, truth.get(int(plc.tic_id), []), stride))
    return _concat(out)


def _rebalance(ds, counts: Mapping[str, int], seed: int):
    n1, n0 = counts["transit"], counts["no_transit"]
    if n1 == 0 or n0 == 0:
        raise ConfigError(f"cannot rebalance: class counts {dict(counts)} have an empty class")
    keep1 = min(1.0, n0 / n1)
    keep0 = min(1.0, n1 / n0)

    def _sub(batch):
        u = _star_hash(batch["tic_id"] * 100003 + np.round(batch["start_time"] * 144).astype(np.int64) % 100003,
                       seed + 17)
        lab = batch["label"]
        keep = np.where(lab == 1, u < keep1, np.where(lab == 0, u < keep0, True))
        return {k: v[keep] for k, v in batch.items()}

    return ds.map_batches(_sub, batch_format="numpy")


def window_dataset(source: Union[str, Path, None] = None, *, n_stars: Optional[int] = None, seed: int = 0,
                   truth: Union[str, Path, None, bool] = None, stride: int = WINDOW_STRIDE,
                   stars_per_task: int = 16, files_per_task: int = 1, labels: Optional[Sequence[int]] = None,
                   rebalance: Optional[str] = None, transit_fraction: float = 0.6,
                   snr_range: Tuple[float, float] = (8.0, 60.0), single_fraction: float = 0.2):
    """Ray Dataset of normalised, labelled windows (columns :data:`WINDOW_COLUMNS`).

    Parameters
    ----------
    source : str or Path, optional
        A sweep output folder (``OUT`` with ``OUT/lightcurves/*.parquet``),
        a ``lightcurves/`` folder or one Parquet file.  ``None`` with
        ``n_stars``: simulate that many stars (:func:`simulated_windows`),
        ``stars_per_task`` per Ray task.
    truth : path, False or None
        Truth table for Parquet sources: ``None`` finds ``truth.csv`` beside
        the sweep (``OUT/simulated/truth.csv``, the swept folder named in
        ``run.json``); ``False`` means unlabelled (``label = -1``, e.g. real
        data for the autoencoder, whose background windows vastly outnumber
        transits).
    labels : sequence of int, optional
        Keep only windows with these labels (``(0,)`` for the anomaly models'
        training set).
    rebalance : None or "undersample"
        ``"undersample"``: drop windows of the larger class at random (seeded,
        deterministic) so both classes have ~equal counts.
    files_per_task, stars_per_task :
        Work per Ray task (each task handles many light curves; Ray's per-task
        overhead is ~30 ms, a light curve ~20-600 ms).

    Returns
    -------
    ray.data.Dataset
        Materialised.  :func:`class_counts` gives its class balance; the
        counts before and after rebalancing are logged.
    """
    import ray

    init_ray()
    if source is None:
        if not n_stars:
            raise ConfigError("window_dataset needs a source folder or n_stars (simulate)")
        _check_snr_range(snr_range)
        tics = np.arange(_TIC0, _TIC0 + int(n_stars))
        chunks = [tics[i:i + stars_per_task] for i in range(0, tics.size, max(1, int(stars_per_task)))]
        args = (int(seed), float(transit_fraction), tuple(snr_range), float(single_fraction), int(stride))

        def _sim(batch):
            return _concat([_simulate_chunk(np.asarray(t), *args) for t in batch["tics"]])

        ds = ray.data.from_items([{"tics": c} for c in chunks], override_num_blocks=len(chunks))
        ds = ds.map_batches(_sim, batch_size=1, batch_format="numpy")
    else:
        src = Path(source)
        if not src.exists():
            raise InputError(f"training data {src} does not exist; give a sweep output folder (exoray sweep ... --out OUT)")
        files = _parquet_files(src)
        table = None
        if truth is None:
            tpath = _find_truth(src)
            table = _read_truth(tpath) if tpath else None
            if table is None:
                log.warning("no truth.csv found for %s: windows are unlabelled (label=-1)", src)
        elif truth is not False:
            table = _read_truth(Path(truth))
        ds = ray.data.from_items([{"path": f} for f in files], override_num_blocks=max(1, len(files)))
        ds = ds.map_batches(lambda b: _window_parquet_batch(b, table, int(stride)), batch_size=max(1, files_per_task),
                            batch_format="numpy")
    ds = ds.materialize()
    counts = class_counts(ds)
    log.info("window dataset: %s", counts)
    if labels is not None:
        keep = np.asarray(sorted(set(int(x) for x in labels)))
        ds = ds.map_batches(lambda b: {k: v[np.isin(b["label"], keep)] for k, v in b.items()},
                            batch_format="numpy").materialize()
    if rebalance:
        if rebalance != "undersample":
            raise ConfigError(f"rebalance must be None or 'undersample', got {rebalance!r}")
        ds = _rebalance(ds, class_counts(ds), seed).materialize()
        log.info("window dataset after undersampling: %s", class_counts(ds))
    return ds
