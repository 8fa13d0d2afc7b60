"""Injection-recovery in real TESS light curves: exoray beside the lightkurve recipe and wotan + TLS.

The noise is real: every probe starts from a real SPOC 2-min light curve of
the shared data folder (``tess_spoc_2min`` and ``tess_spoc_2min_extra``) with
its catalogued signals masked (:mod:`exoray.simulate.real`), then

* ``planet``: a limb-darkened transit multiplied into the raw flux at a
  matched-filter SNR (white noise, the star's own point-to-point scatter)
  log-uniform in 5-40, period log-uniform from 0.5 d with >= 2 transits in
  data, impact parameter 0-0.9, duration from Kepler's law for the star;
* ``eb`` / ``blended_eb``: a detached binary on the target, or diluted from a
  neighbour 0.3-2 px away (centroids move with it);
* ``inverted``, ``scrambled``, ``inverted_scrambled``: the light curve made
  signal-free (flipped; 2-4-day blocks in another order).  Anything found
  there is a false alarm.

Stars are split in two fixed halves (:func:`exoray.simulate.real.star_half`):
thresholds are tuned on half A, and the figures to quote come from half B.

All three tools see the same probe.  A planet is *detected* by exoray when a
candidate has its period within 1 % and an epoch within one duration (and,
for the headline, ``score >= 0.5``); by a peer when its top peak does (and
its SDE is over the threshold).  A false-alarm probe *alarms* exoray when any
candidate scores >= 0.5, a peer when its top peak's SDE is over threshold.
Peers are compared at their conventional thresholds (SDE 7 and 9) and at the
SDE threshold that gives them the same false-alarm rate as exoray on the same
probes.

Usage::

    python benchmarks/bench_real_injection.py --half B --out benchmarks/results/real_injection_B.json
    python benchmarks/bench_real_injection.py --half A --tools exoray          # tuning runs
    python benchmarks/bench_real_injection.py --report benchmarks/results/real_injection_B.json

``--peer-cache FILE`` keeps the peers' per-probe results (they do not depend
on exoray) for development runs; the figures to quote come from one run with
all tools (no cache).  ``--workers 2`` runs probes in parallel processes, one
thread each; each process builds one exoray engine (:class:`exoray.engine.Engine`,
the sweep's chain with the shipped ranker and no catalogue cross-match) and
feeds it ``--batch`` probes at a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for _k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_k, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import PEER_VERSION, PEERS  # noqa: E402

log = logging.getLogger("bench_real_injection")

SNR_BINS = [(0.0, 7.1, "<7.1"), (7.1, 10.0, "7.1-10"), (10.0, 15.0, "10-15"), (15.0, 25.0, "15-25"),
            (25.0, math.inf, ">=25")]
PERIOD_BINS = [(0.5, 1.0), (1.0, 3.0), (3.0, 7.0), (7.0, 13.5), (13.5, 30.0)]
DURATION_BINS = [(0.0, 2.0), (2.0, 4.0), (4.0, 8.0), (8.0, 48.0)]
SCORE_THRESHOLD = 0.5
PERIOD_TOL = 0.01


# --------------------------------------------------------------------------- running the tools
def _worker_init():
    import torch

    torch.set_num_threads(1)
    logging.getLogger().setLevel(logging.WARNING)


_CTX = {}


def _exoray_engine():
    """This process's one engine (the sweep's chain: shipped ranker, no catalogue cross-match), built once."""
    if "engine" not in _CTX:
        from exoray.config import SearchConfig
        from exoray.engine import Engine

        _CTX["engine"] = Engine(None, SearchConfig(), catalogs=None)
    return _CTX["engine"]


_KEEP = ("candidate_index", "period_days", "t0_btjd", "duration_hours", "depth_ppm", "snr", "sde",
         "score", "score_lo", "score_hi", "disposition", "rule_disposition", "vet_flags", "n_transits")


def _exoray_record(o, probe, truth):
    """What exoray made of one probe: candidates, time, detrending, share of the injected depth kept."""
    t = o.timings_ms
    ms = sum(t.values())
    if o.failures:  # counted as a miss and reported, never hidden
        return {"candidates": [], "error": repr(o.failures[0][1]), "ms": ms}
    rec = {"candidates": [{k: r.get(k) for k in _KEEP} for r in o.rows], "ms": ms,
           "timings": {"preprocess_ms": t.get("preprocess", 0.0), "search_ms": t.get("search", 0.0),
                       "rank_ms": t.get("rank", 0.0)},
           "detrend": o.plc.detrend_method, "window": o.plc.detrend_window_days}
    if truth is not None and probe.kind == "planet" and truth.get("mean_depth_ppm", 0) > 0:
        # the share of the injected depth the chosen detrending left in the flat flux
        from exoray.search.bls import transit_mask

        inside = transit_mask(o.plc.time, truth["period_days"], truth["t0_btjd"], truth["duration_hours"] / 24.0)
        if inside.sum() >= 3:
            kept = 1e6 * (np.median(o.plc.flux_flat[~inside]) - np.mean(o.plc.flux_flat[inside]))
            rec["depth_retained"] = kept / truth["mean_depth_ppm"]
    return rec


def run_probes(jobs):
    """Build a batch of probes, run exoray on those that ask for it in one engine call, then the peers.

    ``jobs`` are ``(probe, tools)`` pairs; returns one record per probe, in order.  ``ms`` of exoray is
    the probe's own share of the engine's time (a lock-step search's time is shared evenly).
    """
    import warnings

    from exoray.simulate.real import build_probe

    built = [(probe, tools) + tuple(build_probe(probe)) for probe, tools in jobs]
    records = [{"probe": probe.__dict__ | {}, "truth": truth, "tools": {}} for probe, _, _, truth in built]
    ex = [i for i, (_, tools, _, _) in enumerate(built) if "exoray" in tools]
    if ex:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcomes = _exoray_engine().analyse([built[i][2] for i in ex])
        for i, o in zip(ex, outcomes):
            records[i]["tools"]["exoray"] = _exoray_record(o, built[i][0], built[i][3])
    for rec, (_, tools, lc, _) in zip(records, built):
        for name in tools:
            if name in PEERS:
                rec["tools"][name] = PEERS[name](lc)
    return records


def run_probe(probe, tools):
    """Build one probe and run the requested tools on it."""
    return run_probes([(probe, tools)])[0]


def _cache_key(p):
    from exoray.simulate.real import PROBE_VERSION

    return f"{p.probe_id}|{p.seed}|{p.snr:.6g}|{PEER_VERSION}|{PROBE_VERSION}"


def run_all(probes, tools, workers: int, peer_cache: Path = None, batch: int = 4):
    cached = {}
    if peer_cache is not None and peer_cache.exists():
        for line in peer_cache.read_text().splitlines():
            d = json.loads(line)
            cached[d["key"]] = d["tools"]
    jobs = []
    for p in probes:
        need = [t for t in tools if t == "exoray" or _cache_key(p) not in cached or t not in cached[_cache_key(p)]]
        jobs.append((p, need))
    out = []
    t0 = time.perf_counter()
    chunks = [jobs[i:i + batch] for i in range(0, len(jobs), batch)]
    with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as ex:
        futs = [ex.submit(run_probes, chunk) for chunk in chunks]
        for f, chunk in zip(futs, chunks):
            for rec, (p, need) in zip(f.result(), chunk):
                key = _cache_key(p)
                for t in tools:
                    if t not in rec["tools"] and key in cached and t in cached[key]:
                        rec["tools"][t] = cached[key][t]
                if peer_cache is not None:
                    fresh = {t: rec["tools"][t] for t in need if t in PEERS}
                    if fresh:
                        cached.setdefault(key, {}).update(fresh)
                        with open(peer_cache, "a") as fh:
                            fh.write(json.dumps({"key": key, "tools": cached[key]}) + "\n")
                out.append(rec)
                i = len(out) - 1
                if (i + 1) % 25 == 0 or i + 1 == len(jobs):
                    el = time.perf_counter() - t0
                    print(f"  {i + 1}/{len(jobs)} probes, {el:.0f} s, ETA {el / (i + 1) * (len(jobs) - i - 1):.0f} s",
                          file=sys.stderr, flush=True)
    return out


# --------------------------------------------------------------------------- scoring the results
def _epoch_ok(t0_found, t0_true, period, dur_days):
    dphase = ((t0_found - t0_true) / period + 0.5) % 1.0 - 0.5
    return abs(dphase * period) <= dur_days


def _matches(c, truth, periods=None):
    try:
        p = float(c["period_days"])
        t0 = float(c["t0_btjd"])
    except (TypeError, ValueError, KeyError):
        return False
    if not (math.isfinite(p) and math.isfinite(t0)):
        return False
    pt = truth["period_days"]
    dur = max(truth["duration_hours"], float(c.get("duration_hours") or 0.0)) / 24.0
    for f in periods or (1.0,):
        if abs(p / (f * pt) - 1.0) <= PERIOD_TOL and _epoch_ok(t0, truth["t0_btjd"], min(p, pt), dur):
            return True
    return False


def _score(c):
    s = c.get("score")
    return float(s) if s is not None and math.isfinite(float(s)) else float("nan")


def exoray_detect(rec, score_threshold=SCORE_THRESHOLD):
    t = rec["tools"].get("exoray", {})
    hits = [c for c in t.get("candidates", []) if _matches(c, rec["truth"])]
    return {"any": bool(hits), "passed": any(_score(c) >= score_threshold for c in hits)}


def exoray_alarm(rec, score_threshold=SCORE_THRESHOLD):
    return any(_score(c) >= score_threshold for c in rec["tools"].get("exoray", {}).get("candidates", []))


def peer_detect(rec, tool, sde_thr):
    t = rec["tools"].get(tool, {})
    s = t.get("sde", float("nan"))
    hit = _matches(t, rec["truth"])
    return {"any": hit, "passed": hit and s is not None and math.isfinite(s) and s >= sde_thr}


def peer_alarm(rec, tool, sde_thr):
    s = rec["tools"].get(tool, {}).get("sde", float("nan"))
    return s is not None and math.isfinite(s) and s >= sde_thr


def r_ok(x):
    return x is not None and math.isfinite(x)


def _frac(k, n):
    return None if n == 0 else k / n


def _bins(items, key, bins):
    out = {}
    for lo, hi, *name in bins:
        name = name[0] if name else f"{lo:g}-{hi:g}"
        sel = [x for x in items if lo <= x[key] < hi]
        out[name] = sel
    return out


def equal_far_threshold(fa_recs, tool, far_target):
    """Smallest SDE threshold whose false-alarm rate on ``fa_recs`` is <= ``far_target``."""
    sdes = sorted(s for s in (r["tools"].get(tool, {}).get("sde", float("nan")) for r in fa_recs)
                  if s is not None and math.isfinite(s))
    n = len(fa_recs)
    if n == 0:
        return float("nan")
    for thr in [0.0] + [s + 1e-9 for s in sdes]:
        k = sum(1 for s in sdes if s >= thr)
        if k / n <= far_target + 1e-12:
            return thr
    return sdes[-1] + 1e-9 if sdes else 0.0


def analyse(records, tools, half=None):
    recs = [r for r in records if half is None or r["probe"]["half"] == half]
    giants = [r for r in recs if r["probe"]["kind"] == "planet" and r["truth"] is not None
              and "-giant" in r["probe"]["probe_id"]]
    planets = [r for r in recs if r["probe"]["kind"] == "planet" and r["truth"] is not None
               and "-giant" not in r["probe"]["probe_id"]]
    fa = [r for r in recs if r["probe"]["kind"] in ("inverted", "scrambled", "inverted_scrambled")]
    ebs = [r for r in recs if r["probe"]["kind"] in ("eb", "blended_eb") and r["truth"] is not None]
    for r in planets:
        r["_snr"] = r["truth"]["snr"]
        r["_p"] = r["truth"]["period_days"]
        r["_d"] = r["truth"]["duration_hours"]
        r["_short"] = r["_p"] <= 13.0
    res = {"n_probes": len(recs), "n_planets": len(planets), "n_false_alarm_probes": len(fa), "n_eb": len(ebs),
           "tools": {}}
    ex_far = None
    if "exoray" in tools:
        k = sum(exoray_alarm(r) for r in fa)
        ex_far = _frac(k, len(fa))
        det = {id(r): exoray_detect(r) for r in planets}
        ebpass = [any(_score(c) >= SCORE_THRESHOLD and _matches(c, r["truth"], (1.0, 0.5, 2.0))
                      for c in r["tools"].get("exoray", {}).get("candidates", [])) for r in ebs]
        res["tools"]["exoray"] = {
            "rule": f"candidate at the period with score >= {SCORE_THRESHOLD}",
            "false_alarms": {"n": len(fa), "alarmed": k, "fraction": ex_far,
                             "by_kind": {kind: _frac(sum(exoray_alarm(r) for r in fa if r["probe"]["kind"] == kind),
                                                     sum(1 for r in fa if r["probe"]["kind"] == kind))
                                         for kind in ("inverted", "scrambled", "inverted_scrambled")}},
            "eb_passed": {"n": len(ebs), "passed": int(sum(ebpass)), "fraction": _frac(sum(ebpass), len(ebs))},
            "recall_snr": {}, "recall_snr_any_candidate": {}, "recall_period": {}, "recall_duration": {},
            "ms_per_lc": float(np.median([r["tools"]["exoray"]["ms"] for r in recs if "exoray" in r["tools"]]))
            if recs else None,
            "errors": sum(1 for r in recs if "error" in r["tools"].get("exoray", {})),
        }
        for name, sel in _bins([r for r in planets if r["_short"]], "_snr", SNR_BINS).items():
            res["tools"]["exoray"]["recall_snr"][name] = {"n": len(sel), "k": sum(det[id(r)]["passed"] for r in sel),
                                                         "recall": _frac(sum(det[id(r)]["passed"] for r in sel), len(sel))}
            res["tools"]["exoray"]["recall_snr_any_candidate"][name] = _frac(sum(det[id(r)]["any"] for r in sel), len(sel))
        ge10 = [r for r in planets if r["_short"] and r["_snr"] >= 10]
        res["tools"]["exoray"]["recall_snr"]["snr>=10"] = {"n": len(ge10), "k": sum(det[id(r)]["passed"] for r in ge10),
                                                          "recall": _frac(sum(det[id(r)]["passed"] for r in ge10), len(ge10))}
        strong = [r for r in planets if r["_snr"] >= 10]
        for name, sel in _bins(strong, "_p", [(a, b) for a, b in PERIOD_BINS]).items():
            res["tools"]["exoray"]["recall_period"][name] = {"n": len(sel), "recall": _frac(sum(det[id(r)]["passed"] for r in sel), len(sel))}
        for name, sel in _bins(strong, "_d", [(a, b) for a, b in DURATION_BINS]).items():
            res["tools"]["exoray"]["recall_duration"][name] = {"n": len(sel), "recall": _frac(sum(det[id(r)]["passed"] for r in sel), len(sel))}
        long = [r for r in planets if not r["_short"] and r["_snr"] >= 10]
        res["tools"]["exoray"]["recall_long_period_snr>=10"] = {"n": len(long), "recall": _frac(sum(det[id(r)]["passed"] for r in long), len(long))}
        gdet = [exoray_detect(r) for r in giants]
        res["tools"]["exoray"]["giant_planets"] = {"n": len(giants), "found": sum(g["any"] for g in gdet),
                                                   "passed": sum(g["passed"] for g in gdet)}
        # score AUC: the candidate matching an injection vs every other candidate
        s, y = [], []
        for r in recs:
            for c in r["tools"].get("exoray", {}).get("candidates", []):
                s.append(_score(c))
                y.append(bool(r["truth"] is not None and r["probe"]["kind"] == "planet" and _matches(c, r["truth"])))
        res["tools"]["exoray"]["score_auc"] = _auc(s, y)
        res["tools"]["exoray"]["n_candidates"] = len(s)
        # depth the detrender kept (flat flux, before any re-detrend) and depth reported for detections
        ret = [(r["_d"], r["tools"]["exoray"].get("depth_retained"), r) for r in planets
               if r["tools"]["exoray"].get("depth_retained") is not None]
        res["tools"]["exoray"]["depth_retained_by_duration"] = {
            f"{lo:g}-{hi:g} h": {"n": len(v), "median": float(np.median(v)) if v else None}
            for lo, hi in DURATION_BINS for v in [[x for d_, x, _ in ret if lo <= d_ < hi and r_ok(x)]]}
        # by the window the star got: short windows go to variable stars
        byw = {}
        for _, x, r in ret:
            if r_ok(x):
                t = r["tools"]["exoray"]
                byw.setdefault(f"{t.get('detrend')} {t.get('window'):g} d", []).append(x)
        res["tools"]["exoray"]["depth_retained_by_detrend"] = {
            k: {"n": len(v), "median": float(np.median(v))} for k, v in sorted(byw.items())}
        reported = [(r["_d"], c["depth_ppm"] / r["truth"]["mean_depth_ppm"]) for r in planets
                    for c in r["tools"]["exoray"].get("candidates", [])[:1]
                    if _matches(c, r["truth"]) and r["truth"].get("mean_depth_ppm")]
        res["tools"]["exoray"]["reported_depth_ratio_by_duration"] = {
            f"{lo:g}-{hi:g} h": {"n": len(v), "median": float(np.median(v)) if v else None}
            for lo, hi in DURATION_BINS for v in [[x for d_, x in reported if lo <= d_ < hi]]}
    for tool in tools:
        if tool == "exoray":
            continue
        thr_list = {"sde>=7": 7.0, "sde>=9": 9.0}
        if ex_far is not None:
            thr_list["equal_far"] = equal_far_threshold(fa, tool, ex_far)
        out = {}
        for label, thr in thr_list.items():
            k = sum(peer_alarm(r, tool, thr) for r in fa)
            o = {"sde_threshold": thr, "false_alarms": {"n": len(fa), "alarmed": k, "fraction": _frac(k, len(fa))},
                 "recall_snr": {}}
            for name, sel in _bins([r for r in planets if r["_short"]], "_snr", SNR_BINS).items():
                kk = sum(peer_detect(r, tool, thr)["passed"] for r in sel)
                o["recall_snr"][name] = {"n": len(sel), "k": kk, "recall": _frac(kk, len(sel))}
            ge10 = [r for r in planets if r["_short"] and r["_snr"] >= 10]
            kk = sum(peer_detect(r, tool, thr)["passed"] for r in ge10)
            o["recall_snr"]["snr>=10"] = {"n": len(ge10), "k": kk, "recall": _frac(kk, len(ge10))}
            ebp = sum(peer_alarm(r, tool, thr) and _matches(r["tools"].get(tool, {}), r["truth"], (1.0, 0.5, 2.0))
                      for r in ebs)
            o["giant_planets"] = {"n": len(giants), "passed": sum(peer_detect(r, tool, thr)["passed"] for r in giants)}
            o["eb_passed"] = {"n": len(ebs), "passed": int(ebp), "fraction": _frac(ebp, len(ebs))}
            out[label] = o
        ms = [r["tools"][tool].get("ms") for r in recs if tool in r["tools"]]
        out["ms_per_lc"] = float(np.median(ms)) if ms else None
        out["errors"] = sum(1 for r in recs if "error" in r["tools"].get(tool, {}))
        res["tools"][tool] = out
    return res


def _auc(scores, labels):
    from scipy.stats import rankdata

    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return None
    s = np.where(np.isfinite(s), s, -np.inf)
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def reliability(records, prior=None, half=None, n_bins=10):
    """Observed planet share per score bin (every exoray candidate; planets = matches of an injection).

    The probes' own planet share is arbitrary (one injection per light
    curve), so with ``prior`` the counts are reweighted to a population in
    which a ``prior`` share of candidates are planets: the ranker's stated
    calibration target.
    """
    s, y = [], []
    for r in records:
        if half is not None and r["probe"]["half"] != half:
            continue
        for c in r["tools"].get("exoray", {}).get("candidates", []):
            sc = _score(c)
            if math.isfinite(sc):
                s.append(sc)
                y.append(bool(r["probe"]["kind"] == "planet" and r["truth"] is not None and _matches(c, r["truth"])))
    s, y = np.asarray(s), np.asarray(y, bool)
    if s.size == 0 or y.all() or not y.any():
        return None
    share = y.mean()
    w = np.ones(s.size) if prior is None else np.where(y, prior / share, (1 - prior) / (1 - share))
    edges = np.linspace(0, 1, n_bins + 1)
    rows, ece = [], 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (s >= lo) & ((s < hi) | (hi == 1.0))
        if not m.any():
            continue
        obs = float(np.sum(w[m] * y[m]) / np.sum(w[m]))
        mean = float(np.average(s[m], weights=w[m]))
        rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": int(m.sum()), "mean_score": mean, "observed": obs})
        ece += np.sum(w[m]) / np.sum(w) * abs(obs - mean)
    return {"prior": prior, "sample_planet_share": float(share), "bins": rows, "ece": float(ece)}


def reliability_png(rel, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    x = [b["mean_score"] for b in rel["bins"]]
    y = [b["observed"] for b in rel["bins"]]
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.plot(x, y, "o-")
    for b in rel["bins"]:
        ax.annotate(str(b["n"]), (b["mean_score"], b["observed"]), fontsize=6, xytext=(3, -8),
                    textcoords="offset points")
    ax.set_xlabel("score (mean in bin)")
    ax.set_ylabel("share that are planets" + (f" (prior {rel['prior']:g})" if rel["prior"] else ""))
    ax.set_title(f"Reliability on real-noise probes, ECE {rel['ece']:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def completeness_png(records, tools, path, half=None):
    """Recall per (period, SNR) cell for each tool, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if (half is None or r["probe"]["half"] == half)
            and r["probe"]["kind"] == "planet" and r["truth"] is not None]
    pe = np.array([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0])
    se = np.array([5.0, 7.1, 10.0, 15.0, 25.0, 45.0])
    fig, axes = plt.subplots(1, len(tools), figsize=(4.2 * len(tools), 3.8), squeeze=False)
    fa = [r for r in records if (half is None or r["probe"]["half"] == half)
          and r["probe"]["kind"] in ("inverted", "scrambled", "inverted_scrambled")]
    ex_far = _frac(sum(exoray_alarm(r) for r in fa), len(fa)) if "exoray" in tools else None
    for ax, tool in zip(axes[0], tools):
        grid = np.full((se.size - 1, pe.size - 1), np.nan)
        counts = np.zeros_like(grid, dtype=int)
        thr = equal_far_threshold(fa, tool, ex_far) if tool != "exoray" and ex_far is not None else 7.0
        for i in range(se.size - 1):
            for j in range(pe.size - 1):
                sel = [r for r in recs if se[i] <= r["truth"]["snr"] < se[i + 1] and pe[j] <= r["truth"]["period_days"] < pe[j + 1]]
                if sel:
                    det = [exoray_detect(r)["passed"] if tool == "exoray" else peer_detect(r, tool, thr)["passed"] for r in sel]
                    grid[i, j] = np.mean(det)
                    counts[i, j] = len(sel)
        im = ax.imshow(grid, origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto",
                       extent=(0, pe.size - 1, 0, se.size - 1))
        for i in range(se.size - 1):
            for j in range(pe.size - 1):
                if counts[i, j]:
                    ax.text(j + 0.5, i + 0.5, f"{grid[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center",
                            fontsize=7, color="w" if grid[i, j] < 0.6 else "k")
        ax.set_xticks(range(pe.size))
        ax.set_xticklabels([f"{x:g}" for x in pe])
        ax.set_yticks(range(se.size))
        ax.set_yticklabels([f"{x:g}" for x in se])
        ax.set_xlabel("injected period [d]")
        ax.set_ylabel("injected SNR (white, matched filter)")
        title = tool if tool == "exoray" else f"{tool} (SDE >= {thr:.1f}, equal FAR)"
        ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="recall")
    fig.suptitle(f"Injection-recovery in real TESS light curves (half {half or 'all'})", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_report(res, file=sys.stdout):
    tools = list(res["tools"])
    print(f"probes {res['n_probes']}: {res['n_planets']} planets, {res['n_false_alarm_probes']} false-alarm probes, "
          f"{res['n_eb']} EBs", file=file)
    names = [b[2] for b in SNR_BINS] + ["snr>=10"]
    hdr = f"{'tool / setting':<34}" + "".join(f"{n:>9}" for n in names) + f"{'FAR':>8}{'EBpass':>8}"
    print(hdr, file=file)
    for tool in tools:
        t = res["tools"][tool]
        if tool == "exoray":
            rows = [("exoray (score>=0.5)", t)]
        else:
            rows = [(f"{tool} {k}" + (f" (SDE>={t[k]['sde_threshold']:.1f})" if k == "equal_far" else ""), t[k])
                    for k in ("sde>=7", "sde>=9", "equal_far") if k in t]
        for label, o in rows:
            cells = "".join(f"{(o['recall_snr'][n]['recall'] if o['recall_snr'][n]['recall'] is not None else float('nan')):>9.2f}"
                            for n in names)
            far = o["false_alarms"]["fraction"]
            eb = o["eb_passed"]["fraction"]
            print(f"{label:<34}{cells}{(far if far is not None else float('nan')):>8.3f}"
                  f"{(eb if eb is not None else float('nan')):>8.2f}", file=file)
    n_row = "".join(f"{res['tools'][tools[0]]['recall_snr'][n]['n'] if tools[0] == 'exoray' else '':>9}" for n in names)
    print(f"{'n':<34}{n_row}", file=file)
    if "exoray" in res["tools"]:
        e = res["tools"]["exoray"]
        g = e.get("giant_planets", {})
        print(f"giant planets (radius ratio 0.06-0.16): exoray found {g.get('found')}/{g.get('n')}, passed "
              f"{g.get('passed')}; " + "; ".join(
                  f"{t} {res['tools'][t]['equal_far']['giant_planets']['passed']}/{g.get('n')} (equal FAR)"
                  for t in tools if t != "exoray" and "equal_far" in res["tools"][t]), file=file)
        print(f"exoray: any candidate at the period (no score cut): "
              + ", ".join(f"{k} {v:.2f}" for k, v in e["recall_snr_any_candidate"].items() if v is not None), file=file)
        print(f"exoray: recall SNR>=10 by period: " + ", ".join(
            f"{k} d {v['recall']:.2f} ({v['n']})" for k, v in e["recall_period"].items() if v["recall"] is not None),
            file=file)
        print(f"exoray: recall SNR>=10 by duration: " + ", ".join(
            f"{k} h {v['recall']:.2f} ({v['n']})" for k, v in e["recall_duration"].items() if v["recall"] is not None),
            file=file)
        print("exoray: depth kept by the detrending (median, flat flux): " + ", ".join(
            f"{k} {v['median']:.2f} ({v['n']})" for k, v in e.get("depth_retained_by_duration", {}).items()
            if v["median"] is not None), file=file)
        print("exoray: depth kept by the detrending, by the star's detrending: " + ", ".join(
            f"{k} {v['median']:.2f} ({v['n']})" for k, v in e.get("depth_retained_by_detrend", {}).items()), file=file)
        print("exoray: reported / injected mean depth of detections (median): " + ", ".join(
            f"{k} {v['median']:.2f} ({v['n']})" for k, v in e.get("reported_depth_ratio_by_duration", {}).items()
            if v["median"] is not None), file=file)
        if res.get("reliability"):
            rel = res["reliability"]
            print(f"exoray: reliability at prior {rel['prior']}: ECE {rel['ece']:.3f}; " + ", ".join(
                f"{b['bin']}: {b['observed']:.2f} ({b['n']})" for b in rel["bins"]), file=file)
        print(f"exoray: score AUC {e['score_auc']}, false alarms by kind {e['false_alarms']['by_kind']}, "
              f"median {e['ms_per_lc']:.0f} ms per light curve, errors {e['errors']}", file=file)
    for tool in tools:
        if tool != "exoray" and res["tools"][tool].get("ms_per_lc"):
            print(f"{tool}: median {res['tools'][tool]['ms_per_lc']:.0f} ms per light curve, "
                  f"errors {res['tools'][tool]['errors']}", file=file)


def shared_files():
    from exoray.simulate.real import shared_real_dir

    root = shared_real_dir()
    if root is None:
        return []
    return sorted(list((root / "tess_spoc_2min").glob("*_lc.fits")) + list((root / "tess_spoc_2min_extra").glob("*_lc.fits")))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--half", choices=("A", "B", "both"), default="B")
    ap.add_argument("--tools", default="exoray,lightkurve,tls")
    ap.add_argument("--n-planets", type=int, default=12, help="planet injections per host")
    ap.add_argument("--n-giants", type=int, default=2, help="giant-planet (percent-deep) injections per host")
    ap.add_argument("--n-eb", type=int, default=1)
    ap.add_argument("--n-blended-eb", type=int, default=1)
    ap.add_argument("--n-inverted", type=int, default=1)
    ap.add_argument("--n-scrambled", type=int, default=2)
    ap.add_argument("--n-inverted-scrambled", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4,
                    help="probes per worker call: each worker's one engine searches them together")
    ap.add_argument("--limit", type=int, default=0, help="only the first N probes (smoke runs)")
    ap.add_argument("--peer-cache", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--png", type=Path)
    ap.add_argument("--report", type=Path, help="print the report of an earlier --out file and exit")
    args = ap.parse_args(argv)
    if args.report:
        d = json.loads(args.report.read_text())
        print_report(d["summary"])
        return 0
    from exoray.simulate.real import plan_probes

    files = shared_files()
    if not files:
        print("no shared real light curves found (../shared/data/real or $EXORAY_SHARED_DATA)", file=sys.stderr)
        return 1
    halves = ("A", "B") if args.half == "both" else (args.half,)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    probes = plan_probes(files, n_planets=args.n_planets, n_giants=args.n_giants, n_eb=args.n_eb,
                         n_blended_eb=args.n_blended_eb,
                         n_inverted=args.n_inverted, n_scrambled=args.n_scrambled,
                         n_inverted_scrambled=args.n_inverted_scrambled, seed=args.seed, halves=halves)
    if args.limit:
        probes = probes[: args.limit]
    print(f"{len(probes)} probes on {len({p.path for p in probes})} light curves, tools {tools}", file=sys.stderr)
    t0 = time.perf_counter()
    records = run_all(probes, tools, args.workers, args.peer_cache, batch=args.batch)
    wall = time.perf_counter() - t0
    summary = analyse(records, tools, None if args.half == "both" else args.half)
    summary["wall_s"] = wall
    if "exoray" in tools:
        from exoray.rank.ranker import load_default_ranker

        rel = reliability(records, load_default_ranker().config.prior, None if args.half == "both" else args.half)
        summary["reliability"] = rel
        if rel and args.png:
            reliability_png(rel, args.png.with_name(args.png.stem + "_reliability.png"))
    summary["seed"] = args.seed
    print_report(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"summary": summary, "records": records}, default=str))
    if args.png:
        args.png.parent.mkdir(parents=True, exist_ok=True)
        completeness_png(records, tools, args.png, None if args.half == "both" else args.half)
    return 0


if __name__ == "__main__":
    sys.exit(main())
