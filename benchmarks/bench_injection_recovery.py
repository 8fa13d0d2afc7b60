"""Injection-recovery benchmark: exoray against the lightkurve BLS recipe and TLS.

One run simulates a sector of stars (``exoray.simulate.simulate_sector``: a mix
rich in planets with expected SNR 5-50, plus eclipsing binaries, blended EBs
and stars without a signal) and searches the *same* FITS files with

* **exoray**: the sweep (read -> preprocess -> search -> vet [-> rank]) on Ray
  Data with ``--num-cpus`` CPUs (2 by default), after a warm-up that compiles
  every worker's kernels; Ray's start-up is not timed;
* **lightkurve recipe** (every star, one process, one core)::

      lk.read(path, quality_bitmask="default").remove_nans().normalize()
        .flatten(window_length=<0.75 d in cadences, odd>)
        .to_periodogram(method="bls", period=<exoray's period grid>, duration=<exoray's durations>)

  the best peak is the recipe's one detection;
* **transitleastsquares** (a subset stratified by SNR, plus a few EB and
  no-signal stars; one thread, default grids) on the wotan biweight (0.75 d)
  flattened light curve, as TLS's authors recommend.

A planet counts as detected when a candidate's period is within 1 % of the
injected one and its epoch lies within one transit duration of an injected
transit (:func:`exoray.pipelines.recovery.match_injections`).  The SNR bins
use the simulator's expected SNR and only single-planet stars with at least
two transits in the data (what all three tools can find with one peak);
exoray's multi-planet and single-transit recoveries are reported apart.

Reported (targets in brackets):

* detection fraction per SNR bin [>= 0.95 at SNR >= 10, >= 0.80 at 7.1-10];
* false positives: no-signal stars with a candidate scoring >= 0.5 (exoray
  with a ranker; without one, a candidate dispositioned ``planet_candidate``)
  [<= 1 %]; the peers have no vetting, so for them a best peak with SDE >= 7
  is a planet claim;
* EBs / blended EBs passed as planets, same rule [<= 5 %];
* planet-vs-everything AUC of the ranker's score per candidate [>= 0.98], when
  a ranker is available, and a star-level AUC of each tool's SDE;
* ms per light curve (exoray: per core; peers: one core) and speed ratios.

Usage::

    nice -n 10 python benchmarks/bench_injection_recovery.py --n 500 --tls-n 48 \\
        --out benchmarks/results/injection_recovery.json
    python benchmarks/bench_injection_recovery.py --quick          # 40 stars, 8 for TLS
    python benchmarks/bench_injection_recovery.py --report benchmarks/results/injection_recovery.json

Results are written after every stage (``--out``), so an interrupted run
still leaves what it measured.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

SNR_BINS = [(0.0, 7.1, "<7.1"), (7.1, 10.0, "7.1-10"), (10.0, 15.0, "10-15"), (15.0, 25.0, "15-25"),
            (25.0, math.inf, ">=25")]
DEFAULT_MIX = "planet=0.55,multi_planet=0.08,eb=0.12,blended_eb=0.08,none=0.17"
PLANET_CLASSES = ("planet", "multi_planet")
EB_CLASSES = ("eb", "blended_eb")
SDE_THRESHOLD = 7.0
TARGETS = {
    "detection_snr_ge_10": 0.95,
    "detection_snr_7p1_10": 0.80,
    "false_positive_rate_none": 0.01,
    "eb_pass_rate": 0.05,
    "auc": 0.98,
}

log = logging.getLogger("bench_injection_recovery")


# --------------------------------------------------------------------------- helpers


def _nan_to_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _frac(k: int, n: int):
    return (k / n) if n else None


def auc(scores, labels):
    """Mann-Whitney AUC (ties count half); None without both classes."""
    from scipy.stats import rankdata

    s = np.asarray(scores, float)
    y = np.asarray(labels, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return None
    s = np.where(np.isfinite(s), s, -np.inf)
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def snr_bin(snr: float) -> str:
    for lo, hi, name in SNR_BINS:
        if lo <= snr < hi:
            return name
    return SNR_BINS[0][2]


def bin_table(rows, key: str):
    """Detection fraction per SNR bin for truth rows carrying bool ``key``."""
    out = {}
    for lo, hi, name in SNR_BINS:
        sel = [r for r in rows if lo <= r["snr"] < hi]
        k = sum(bool(r[key]) for r in sel)
        out[name] = {"n": len(sel), "detected": k, "fraction": _frac(k, len(sel))}
    sel = [r for r in rows if r["snr"] >= 10]
    k = sum(bool(r[key]) for r in sel)
    out["snr>=10"] = {"n": len(sel), "detected": k, "fraction": _frac(k, len(sel))}
    return out


def periodic_planets(truth):
    """Truth rows of single-planet stars whose planet shows >= 2 transits."""
    return [
        r for r in truth
        if r["class"] == "planet" and r["signal_index"] >= 0 and (r["n_transits_in_data"] or 0) >= 2
        and not bool(r["single_transit"])
    ]


def _stars(truth):
    stars = {}
    for r in truth:
        stars.setdefault(int(r["tic_id"]), r)
    return stars


# --------------------------------------------------------------------------- simulation


def simulate(n: int, seed: int, mix: str, folder: Path, single_fraction: float):
    import pandas as pd

    from exoray.simulate import simulate_sector

    truth_csv = folder / "truth.csv"
    if truth_csv.exists() and len(list(folder.glob("*.fits"))) == len(set(pd.read_csv(truth_csv)["tic_id"])) == n:
        log.warning("re-using the simulated sector in %s", folder)
        df = pd.read_csv(truth_csv)
    else:
        if folder.exists():
            shutil.rmtree(folder)
        df = simulate_sector(n, folder, seed=seed, mix=mix, snr_range=(5.0, 50.0), single_fraction=single_fraction)
    df = df.astype(object).where(df.notna(), None)
    rows = df.to_dict("records")
    for r in rows:
        r["tic_id"] = int(r["tic_id"])
        r["signal_index"] = int(r["signal_index"])
        for k in ("snr", "period_days", "t0_btjd", "duration_hours", "n_transits_in_data"):
            r[k] = float(r[k]) if r[k] is not None else float("nan")
        r["single_transit"] = str(r["single_transit"]).lower() in ("true", "1", "1.0")
    return rows


# --------------------------------------------------------------------------- exoray


def _search_config(rank: bool):
    from exoray.config import SearchConfig

    names = {f.name for f in dataclasses.fields(SearchConfig)}
    return SearchConfig(rank=rank) if "rank" in names else SearchConfig()


def _load_ranker():
    try:
        from exoray.rank import load_default_ranker

        return load_default_ranker()
    except Exception as exc:  # no trained model shipped yet, or rank package in flux
        log.warning("no ranker available (%s): disposition-based figures", exc)
        return None


def run_exoray(sim: Path, work: Path, num_cpus: int, ranker):
    import pyarrow.parquet as pq
    import ray

    from exoray.config import SweepConfig
    from exoray.runtime.ray_env import init_ray
    from exoray.pipelines.sweep import sweep

    files = sorted(sim.glob("*.fits"))
    warm = work / "warm-in"
    shutil.rmtree(warm, ignore_errors=True)
    warm.mkdir(parents=True)
    for f in files[: 2 * num_cpus]:
        os.symlink(f, warm / f.name)
    for d in ("exoray-warm", "exoray-out"):
        shutil.rmtree(work / d, ignore_errors=True)
    search = _search_config(rank=ranker is not None)
    init_ray(num_cpus=num_cpus, log_to_driver=False)
    try:
        # Reports (PNG + PDF, ~1-2 s each) are rendering, not detection: left
        # out of the timed read -> detrend -> search -> vet -> rank path.
        sweep(str(warm / "*.fits"), str(work / "exoray-warm"),
              SweepConfig(batch_size=1, num_cpus=num_cpus, search=search, resume=False, reports="none"))
        run = sweep(str(sim / "*.fits"), str(work / "exoray-out"),
                    SweepConfig(num_cpus=num_cpus, search=search, resume=False, reports="none"))
    finally:
        ray.shutdown()
    cpath = work / "exoray-out" / "candidates.parquet"
    cands = pq.read_table(cpath).to_pylist() if cpath.exists() else []
    if ranker is not None and cands and any(c.get("score") is None for c in cands):
        from exoray.rank import score_candidates

        cands = score_candidates(cands, ranker)
    n = len(files)
    t = run["timings"]
    timing = {
        "n_light_curves": n,
        "num_cpus": num_cpus,
        "process_s": t["process_s"],
        "wall_ms_per_lc": 1e3 * t["process_s"] / n,
        "ms_per_lc_per_core": 1e3 * t["process_s"] * num_cpus / n,
        "read_ms_per_lc": t.get("read_ms_per_lc"),
        "preprocess_ms_per_lc": t.get("preprocess_ms_per_lc"),
        "search_ms_per_lc": t.get("search_ms_per_lc"),
        "write_ms_per_lc": t.get("write_ms_per_lc"),
        "quarantined": run.get("counts", {}).get("quarantined_total"),
    }
    return cands, timing


def _passes(c, has_ranker: bool) -> bool:
    if has_ranker:
        s = c.get("score")
        return s is not None and math.isfinite(s) and s >= 0.5
    return c.get("disposition") == "planet_candidate"


def evaluate_exoray(cands, truth, has_ranker: bool):
    from exoray.pipelines.recovery import match_injections

    for i, c in enumerate(cands):
        c["_row"] = i
        c["candidate_index"] = (c.get("candidate_index"), i)  # unique per row for the match
    matches = match_injections(cands, [r for r in truth if r["signal_index"] >= 0])
    by_row = {c["_row"]: c for c in cands}
    hit_rows = set()
    for m in matches:
        ci = m["candidate_index"]
        m["detected"] = bool(m["recovered"])
        m["detected_passed"] = bool(m["recovered"]) and _passes(by_row[ci[1]], has_ranker)
        if m["recovered"] and m["class"] in PLANET_CLASSES:
            hit_rows.add(ci[1])
    per_star = {}
    for c in cands:
        per_star.setdefault(int(c["tic_id"]), []).append(c)
    stars = _stars(truth)

    def star_rate(classes):
        tics = [t for t, r in stars.items() if r["class"] in classes]
        k = sum(any(_passes(c, has_ranker) for c in per_star.get(t, [])) for t in tics)
        return {"n": len(tics), "passed": k, "fraction": _frac(k, len(tics))}

    pp = periodic_planets([m for m in matches])
    multi = [m for m in matches if m["class"] == "multi_planet" and (m["n_transits_in_data"] or 0) >= 2]
    single = [m for m in matches if m["class"] == "planet" and bool(m["single_transit"])]
    res = {
        "rule": "score >= 0.5" if has_ranker else "disposition == planet_candidate",
        "detection": bin_table(pp, "detected"),
        "detection_and_passed": bin_table(pp, "detected_passed"),
        "multi_planet_signals": {"n": len(multi), "detected": sum(m["detected"] for m in multi),
                                 "fraction": _frac(sum(m["detected"] for m in multi), len(multi))},
        "single_transit_planets": {"n": len(single), "detected": sum(m["detected"] for m in single),
                                   "fraction": _frac(sum(m["detected"] for m in single), len(single))},
        "false_positive_none": star_rate(("none",)),
        "eb_pass": star_rate(EB_CLASSES),
        "eb_pass_by_class": {c: star_rate((c,)) for c in EB_CLASSES},
        "n_candidates": len(cands),
    }
    if has_ranker:
        scores = [c.get("score") if c.get("score") is not None else float("nan") for c in cands]
        res["auc_score_per_candidate"] = auc(scores, [c["_row"] in hit_rows for c in cands])
    else:
        res["auc_score_per_candidate"] = None
    # star-level: best SDE of the star's candidates (0 without one); planets vs EB + none
    lab, sde = [], []
    for t, r in stars.items():
        if r["class"] in ("none",) + EB_CLASSES or (r["class"] == "planet" and not r["single_transit"]):
            lab.append(r["class"] == "planet")
            sde.append(max([c.get("sde") or 0.0 for c in per_star.get(t, [])] or [0.0]))
    res["auc_sde_per_star"] = auc(sde, lab)
    return res


# --------------------------------------------------------------------------- peers


def _peer_rows(files, tic_of, fn):
    """One peer (see ``benchmarks/_peers.py``) on every file, read by exoray's reader."""
    from exoray.ingest import read_lightcurve

    out = []
    for f in files:
        row = {"tic_id": tic_of[f.name], "file": f.name}
        row.update(fn(read_lightcurve(str(f))))
        if "error" in row:
            log.warning("%s failed on %s: %s", fn.__name__, f.name, row["error"])
        out.append(row)
    return out


def run_lightkurve(files, tic_of):
    from _peers import run_lightkurve as one

    return _peer_rows(files, tic_of, one)


def _tls_warmup():
    from transitleastsquares import transitleastsquares

    rng = np.random.default_rng(0)
    t = np.arange(0, 10, 2 / 1440)
    y = 1 + 1e-3 * rng.standard_normal(t.size)
    y[(t % 2.0) < 0.08] -= 3e-3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        transitleastsquares(t, y).power(use_threads=1, show_progress_bar=False)


def run_tls(files, tic_of):
    from _peers import run_tls as one

    return _peer_rows(files, tic_of, one)


def tls_subset(truth, k: int, seed: int):
    """``k`` stars: ~70 % periodic single planets spread evenly over the SNR bins, the rest EB / none."""
    rng = np.random.default_rng(seed)
    pp = periodic_planets(truth)
    stars = _stars(truth)
    n_pl = int(math.ceil(0.7 * k)) if k > 2 else k
    n_other = k - n_pl
    by_bin = {name: [r["tic_id"] for r in pp if snr_bin(r["snr"]) == name] for _, _, name in SNR_BINS}
    for v in by_bin.values():
        rng.shuffle(v)
    chosen = []
    while len(chosen) < n_pl and any(by_bin.values()):
        for name in by_bin:
            if by_bin[name] and len(chosen) < n_pl:
                chosen.append(by_bin[name].pop())
    none = [t for t, r in stars.items() if r["class"] == "none"]
    ebs = [t for t, r in stars.items() if r["class"] in EB_CLASSES]
    rng.shuffle(none)
    rng.shuffle(ebs)
    n_none = n_other // 2
    chosen += none[:n_none] + ebs[: n_other - n_none]
    return sorted(chosen)


def evaluate_peer(rows, truth, tics=None):
    from exoray.pipelines.recovery import match_injections

    cands = [dict(r, candidate_index=0) for r in rows if math.isfinite(r.get("period_days", float("nan")))]
    sde = {r["tic_id"]: r.get("sde", float("nan")) for r in rows}
    tr = [r for r in truth if tics is None or r["tic_id"] in tics]
    matches = match_injections(cands, [r for r in tr if r["signal_index"] >= 0])
    for m in matches:
        s = sde.get(m["tic_id"], float("nan"))
        m["detected"] = bool(m["recovered"])
        m["detected_sde7"] = bool(m["recovered"]) and math.isfinite(s) and s >= SDE_THRESHOLD
    pp = periodic_planets(matches)
    stars = _stars(tr)

    def claim_rate(classes):
        ts = [t for t, r in stars.items() if r["class"] in classes]
        k = sum(1 for t in ts if math.isfinite(sde.get(t, float("nan"))) and sde[t] >= SDE_THRESHOLD)
        return {"n": len(ts), "passed": k, "fraction": _frac(k, len(ts))}

    lab, sc = [], []
    for t, r in stars.items():
        if r["class"] in ("none",) + EB_CLASSES or (r["class"] == "planet" and not r["single_transit"]):
            lab.append(r["class"] == "planet")
            sc.append(sde.get(t, float("nan")))
    ms = [r["ms"] for r in rows]
    return {
        "rule": f"best peak; false positive / EB pass = SDE >= {SDE_THRESHOLD:g} (no vetting)",
        "n_light_curves": len(rows),
        "detection": bin_table(pp, "detected"),
        "detection_sde7": bin_table(pp, "detected_sde7"),
        "false_positive_none": claim_rate(("none",)),
        "eb_pass": claim_rate(EB_CLASSES),
        "auc_sde_per_star": auc(sc, lab),
        "ms_per_lc": float(np.mean(ms)) if ms else None,
        "ms_per_lc_median": float(np.median(ms)) if ms else None,
        "failures": sum(1 for r in rows if "error" in r),
    }


# --------------------------------------------------------------------------- report


def _fmt(x, pct=False):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _cell(b):
    return f"{_fmt(b['fraction'])} ({b['detected']}/{b['n']})" if b["n"] else "-"


def print_tables(res):
    tools = [("exoray", res.get("exoray")), ("lightkurve BLS", res.get("lightkurve")), ("TLS (subset)", res.get("tls"))]
    tools = [(n, r) for n, r in tools if r]
    w = 22
    print(f"\nDetection fraction, single-planet stars with >= 2 transits (period 1 %, epoch 1 duration); "
          f"n = {res['config']['n']} stars, seed {res['config']['seed']}")
    print(f"{'SNR bin':<10}" + "".join(f"{n:>{w}}" for n, _ in tools))
    for _, _, name in SNR_BINS + [(0, 0, "snr>=10")]:
        print(f"{name:<10}" + "".join(f"{_cell(r['detection'][name]):>{w}}" for _, r in tools))
    print("with the tool's own cut (exoray: passed vetting/score; peers: SDE >= 7)")
    for _, _, name in SNR_BINS + [(0, 0, "snr>=10")]:
        cells = []
        for n, r in tools:
            key = "detection_and_passed" if n == "exoray" else "detection_sde7"
            cells.append(_cell(r[key][name]))
        print(f"{name:<10}" + "".join(f"{c:>{w}}" for c in cells))

    def rate(r, k):
        b = r[k]
        return f"{_fmt(b['fraction'], True)} ({b['passed']}/{b['n']})" if b["n"] else "-"

    print(f"\n{'':<28}" + "".join(f"{n:>{w}}" for n, _ in tools))
    print(f"{'no-signal stars flagged':<28}" + "".join(f"{rate(r, 'false_positive_none'):>{w}}" for _, r in tools))
    print(f"{'EBs passed as planets':<28}" + "".join(f"{rate(r, 'eb_pass'):>{w}}" for _, r in tools))
    ex = res.get("exoray") or {}
    print(f"{'AUC score (per candidate)':<28}" + "".join(
        f"{_fmt(r.get('auc_score_per_candidate')):>{w}}" for _, r in tools))
    print(f"{'AUC SDE (per star)':<28}" + "".join(f"{_fmt(r.get('auc_sde_per_star')):>{w}}" for _, r in tools))
    ms = []
    for n, r in tools:
        v = r.get("timing", {}).get("ms_per_lc_per_core") if n == "exoray" else r.get("ms_per_lc")
        ms.append(f"{v:.0f}" if v is not None else "-")
    print(f"{'ms / light curve / core':<28}" + "".join(f"{m:>{w}}" for m in ms))
    if ex:
        print(f"exoray rule: {ex['rule']}; multi-planet signals {_cell(ex['multi_planet_signals'])}, "
              f"single transits {_cell(ex['single_transit_planets'])}")
        t = ex["timing"]
        print(f"exoray on Ray, {t['num_cpus']} CPUs: {t['wall_ms_per_lc']:.0f} ms wall per light curve; one core: "
              f"read {_fmt(t['read_ms_per_lc'])} + preprocess {_fmt(t['preprocess_ms_per_lc'])} + search/vet "
              f"{_fmt(t['search_ms_per_lc'])} ms")
    tls = res.get("tls") or {}
    if tls:
        sub = [("exoray", tls.get("exoray_on_subset")), ("lightkurve BLS", tls.get("lightkurve_on_subset")),
               ("TLS", tls)]
        sub = [(n, r) for n, r in sub if r]
        print(f"\nSame {tls['n_light_curves']} stars as TLS (detection; no-signal / EB rows with each tool's rule)")
        print(f"{'SNR bin':<10}" + "".join(f"{n:>{w}}" for n, _ in sub))
        for _, _, name in SNR_BINS + [(0, 0, "snr>=10")]:
            print(f"{name:<10}" + "".join(f"{_cell(r['detection'][name]):>{w}}" for _, r in sub))
        print(f"{'no-signal':<10}" + "".join(f"{rate(r, 'false_positive_none'):>{w}}" for _, r in sub))
        print(f"{'EBs':<10}" + "".join(f"{rate(r, 'eb_pass'):>{w}}" for _, r in sub))
    sp = res.get("speed_ratios") or {}
    if sp:
        print("speed (per core): " + ", ".join(f"{k} {v:.2f}x" for k, v in sp.items() if v is not None))


def _speed(res):
    ex = (res.get("exoray") or {}).get("timing", {}).get("ms_per_lc_per_core")
    out = {}
    for k in ("lightkurve", "tls"):
        v = (res.get(k) or {}).get("ms_per_lc")
        out[f"{k}_over_exoray"] = (v / ex) if (v and ex) else None
    return out


def _write(res, path):
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(res, indent=2, default=lambda o: _nan_to_none(float(o))
                                         if isinstance(o, (np.floating, float)) else str(o)))


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="simulated stars (default 500)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--tls-n", type=int, default=48, help="stars given to TLS (0 skips it)")
    ap.add_argument("--lk-n", type=int, default=None, help="stars given to the lightkurve recipe (default all)")
    ap.add_argument("--mix", default=DEFAULT_MIX, help=f"class mix (default {DEFAULT_MIX})")
    ap.add_argument("--single-fraction", type=float, default=0.1,
                    help="share of planet stars with one transit (reported apart)")
    ap.add_argument("--num-cpus", type=int, default=2, help="Ray CPUs for exoray")
    ap.add_argument("--workdir", default=None, help="keep simulated data and outputs here (default: a temp dir)")
    ap.add_argument("--out", default=None, help="write results JSON here (after every stage)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 40 stars, 8 for TLS (unless --n/--tls-n given)")
    ap.add_argument("--skip", action="append", default=[], choices=["exoray", "lightkurve", "tls"])
    ap.add_argument("--report", default=None, metavar="JSON", help="only print the tables of a results file")
    args = ap.parse_args(argv)
    if args.report:
        print_tables(json.loads(Path(args.report).read_text()))
        return 0
    if args.quick:
        given = set(a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]))
        if "--n" not in given:
            args.n = 40
        if "--tls-n" not in given:
            args.tls_n = 8

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    tmp = None
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="exoray-bench-recovery-"))
    if not args.workdir:
        tmp = work
    work.mkdir(parents=True, exist_ok=True)
    res = {"config": {"n": args.n, "seed": args.seed, "mix": args.mix, "tls_n": args.tls_n, "lk_n": args.lk_n,
                      "single_fraction": args.single_fraction, "num_cpus": args.num_cpus, "quick": args.quick,
                      "snr_bins": [b[2] for b in SNR_BINS], "sde_threshold_peers": SDE_THRESHOLD,
                      "cpu_count": os.cpu_count()},
           "targets": TARGETS}
    try:
        t = time.perf_counter()
        sim = work / "sim"
        truth = simulate(args.n, args.seed, args.mix, sim, args.single_fraction)
        res["simulate_s"] = time.perf_counter() - t
        stars = _stars(truth)
        counts = {}
        for r in stars.values():
            counts[r["class"]] = counts.get(r["class"], 0) + 1
        res["counts"] = {"stars": counts, "periodic_single_planets": len(periodic_planets(truth)),
                         "periodic_planets_by_bin": {name: sum(1 for r in periodic_planets(truth)
                                                               if snr_bin(r["snr"]) == name)
                                                     for _, _, name in SNR_BINS}}
        log.info("simulated %d stars in %.0f s: %s", args.n, res["simulate_s"], counts)
        files = sorted(sim.glob("*.fits"))
        tic_of = {r["file"]: r["tic_id"] for r in truth}

        ex_cands = lk_rows = None
        if "exoray" not in args.skip:
            ranker = _load_ranker()
            t = time.perf_counter()
            cands, timing = run_exoray(sim, work, args.num_cpus, ranker)
            ex_cands = [dict(c) for c in cands]
            res["exoray"] = evaluate_exoray(cands, truth, ranker is not None)
            res["exoray"]["timing"] = timing
            res["exoray"]["ranker"] = ranker is not None
            log.info("exoray done in %.0f s", time.perf_counter() - t)
            _write(res, args.out)

        if "lightkurve" not in args.skip:
            lk_files = files if args.lk_n is None else files[: args.lk_n]
            t = time.perf_counter()
            rows = lk_rows = run_lightkurve(lk_files, tic_of)
            res["lightkurve"] = evaluate_peer(rows, truth, {tic_of[f.name] for f in lk_files})
            log.info("lightkurve recipe done in %.0f s", time.perf_counter() - t)
            _write(res, args.out)

        if "tls" not in args.skip and args.tls_n > 0:
            try:
                import transitleastsquares  # noqa: F401
            except ImportError:
                log.warning("transitleastsquares is not installed: pip install transitleastsquares")
            else:
                chosen = set(tls_subset(truth, args.tls_n, args.seed))
                tls_files = [f for f in files if tic_of[f.name] in chosen]
                t = time.perf_counter()
                _tls_warmup()
                res["tls_warmup_s"] = time.perf_counter() - t
                t = time.perf_counter()
                rows = run_tls(tls_files, tic_of)
                res["tls"] = evaluate_peer(rows, truth, chosen)
                res["tls"]["tic_ids"] = sorted(chosen)
                # exoray and the recipe on the very same stars, for a like-for-like comparison
                sub_truth = [r for r in truth if r["tic_id"] in chosen]
                if ex_cands is not None:
                    sub = [dict(c) for c in ex_cands if int(c["tic_id"]) in chosen]
                    res["tls"]["exoray_on_subset"] = evaluate_exoray(sub, sub_truth, res["exoray"]["ranker"])
                if lk_rows is not None:
                    res["tls"]["lightkurve_on_subset"] = evaluate_peer(
                        [r for r in lk_rows if r["tic_id"] in chosen], truth, chosen)
                log.info("TLS done in %.0f s", time.perf_counter() - t)

        res["speed_ratios"] = _speed(res)
        _write(res, args.out)
        print_tables(res)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
