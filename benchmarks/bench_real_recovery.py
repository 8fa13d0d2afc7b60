"""Known signals in the real SPOC files: found at the catalogue period, with which disposition and score.

Usage::

    python benchmarks/bench_real_recovery.py [--out benchmarks/results/real_recovery.json] [--files PATTERN]

Every ``*_lc.fits`` of ``tess_spoc_2min/`` and ``tess_spoc_2min_extra/`` in
the shared real-data folder (``../shared/data/real`` or
``$EXORAY_SHARED_DATA``) goes through the sweep's chain (one
:class:`exoray.engine.Engine`, built once and fed ``--batch`` files at a time:
preprocess, search, vet, rank with the shipped ranker, one decision), with
**no catalogue cross-match**, so
nothing is "recovered" by looking it up.  Then, per file:

* the star's class (planet host / eclipsing binary / no known signal) and
  its catalogued signals (ExoFOP TOI table, Prsa et al. 2022 EB table; the
  planet periods of :data:`KNOWN` for the hosts, whose names and classes
  follow the shared ``MANIFEST.md`` / ``MANIFEST.csv``);
* for each known planet or brown dwarf with two or more transits in the data
  (its catalogue ephemeris, transits at least half covered): ``found`` when a
  candidate's period is within 0.5 % of the catalogue's, ``alias`` at 2, 3,
  1/2 or 1/3 times it, else ``missed``; with the candidate's disposition and
  score;
* for eclipsing binaries and stars with no known signal: whether any
  candidate is a ``planet_candidate`` (a false positive).

Targets (the 23 files of ``tess_spoc_2min``): >= 14 of the 16 planets and
brown dwarfs with P < 14 d found at the catalogue period, >= 11 of the 13
planets among them ``planet_candidate`` with score >= 0.5, no known planet
called an eclipsing binary, no EB or quiet star passed as a planet.  Stars of
half A (:func:`exoray.simulate.real.star_half`) lent their noise to the
ranker's training injections (never their own signals); each row says which
half its star is in.
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import fnmatch  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

#: TIC -> (class, label, {planet name: (period [d], brown dwarf?)}) for the
#: files of ``tess_spoc_2min``: published values as listed in the shared
#: MANIFEST.md (ExoFOP-TESS TOI table, NASA Exoplanet Archive, Prsa et al. 2022).
KNOWN = {
    261136679: ("planet", "pi Men", {"pi Men c": (6.2678, False)}),
    410214986: ("planet", "DS Tuc A", {"DS Tuc A b": (8.1382, False)}),
    402026209: ("planet", "WASP-4", {"WASP-4 b": (1.3382, False)}),
    120916706: ("planet", "TOI-263", {"TOI-263 b": (0.5568, True)}),
    257605131: ("planet", "TOI-451", {"TOI-451 b": (1.8587, False), "TOI-451 c": (9.1911, False),
                                      "TOI-451 d": (16.3649, False)}),
    55525572: ("planet", "TOI-813", {"TOI-813 b": (83.896, False)}),
    218795833: ("planet", "TOI-519", {"TOI-519 b": (1.2652, False)}),
    413248763: ("planet", "GJ 357", {"GJ 357 b": (3.9306, False)}),
    166527623: ("planet", "HIP 67522", {"HIP 67522 b": (6.9595, False)}),
    460205581: ("planet", "TOI-837", {"TOI-837 b": (8.3249, False)}),
    159873822: ("planet", "TOI-2048", {"TOI-2048 b": (13.7905, False)}),
    432549364: ("planet", "KELT-1", {"KELT-1 b": (1.2175, True)}),
    130181866: ("planet", "HD 63433", {"HD 63433 b": (7.1079, False), "HD 63433 c": (20.5438, False)}),
    67646988: ("planet", "LP 261-75", {"LP 261-75 b": (1.8817, True)}),
    8348911: ("planet", "TOI-2266", {"TOI-2266 b": (2.3263, False)}),
    98853987: ("EB", "CW Eri", {}),
    93000166: ("EB", "TIC 93000166", {}),
    127315102: ("EB", "TOI-1946 (FP)", {}),
    11491822: ("EB", "RR Lyn", {}),
    199574208: ("EB", "CM Dra", {}),
    270501383: ("none", "TIC 270501383 (quiet)", {}),
    425933644: ("none", "TIC 425933644 (variable)", {}),
}

#: The issue's reference set: planets and brown dwarfs with P < 14 d in tess_spoc_2min.
REFERENCE_MAX_PERIOD = 14.0
REL_TOL = 0.005
ALIAS_FACTORS = (2.0, 3.0, 0.5, 1.0 / 3.0)


def shared_real_dir() -> Path:
    from exoray.simulate.real import shared_real_dir as _d

    d = _d()
    if d is None:
        raise SystemExit("no shared real-data folder (../shared/data/real or $EXORAY_SHARED_DATA)")
    return d


def extra_manifest(root: Path) -> dict:
    """TIC -> (class, label, {name: (period, False)}) from ``tess_spoc_2min_extra/MANIFEST.csv``."""
    out = {}
    path = root / "tess_spoc_2min_extra" / "MANIFEST.csv"
    if not path.exists():
        return out
    with open(path) as fh:
        for r in csv.DictReader(fh):
            cls = {"planet": "planet", "eb": "EB", "none": "none"}[r["kind"]]
            planets = {}
            if cls == "planet" and r["period_days"]:
                planets[r["name"].split(" TFOP")[0]] = (float(r["period_days"]), False)
            out[int(r["tic_id"])] = (cls, r["name"][:40], planets)
    return out


def _match(p_found: float, p_true: float) -> str:
    if abs(p_found / p_true - 1.0) < REL_TOL:
        return "found"
    for k in ALIAS_FACTORS:
        if abs(p_found / (k * p_true) - 1.0) < REL_TOL:
            return "alias"
    return ""


def _transits_in_data(lc, tic: int, period: float) -> int:
    """Transits at least half covered by usable data, from the TOI table's ephemeris (or the period alone)."""
    from exoray.simulate.real import catalogue_signals, transits_with_data, usable_cadences

    sig = [s for s in catalogue_signals(tic) if s.kind == "toi" and abs(s.period / period - 1) < 0.01]
    usable = usable_cadences(lc)
    if sig:
        s = sig[0]
        return transits_with_data(lc.time, usable, s.period, s.t0, s.duration_hours / 24.0)
    t = lc.time[usable]
    return int(np.floor((t[-1] - t[0]) / period)) + 1 if t.size else 0


def assess(lc, rows, known) -> dict:
    cls, label, planets = known
    out = {"class": cls, "label": label, "planets": [], "false_positive": None}
    if cls == "planet":
        for name, (p, bd) in planets.items():
            n_tr = _transits_in_data(lc, lc.tic_id, p)
            rec = {"name": name, "period": p, "brown_dwarf": bd, "transits_in_data": n_tr,
                   "reference": p < REFERENCE_MAX_PERIOD and n_tr >= 2}
            status, best = ("not_checked" if n_tr < 2 else "missed"), None
            for r in rows:
                m = _match(r["period_days"], p)
                if m == "found":
                    status, best = "found", r
                    break
                if m == "alias" and status in ("missed", "not_checked"):
                    status, best = "alias", r
            rec["status"] = status
            if best is not None:
                rec.update(candidate_index=best["candidate_index"], disposition=best["disposition"],
                           rule_disposition=best.get("rule_disposition"), score=best.get("score"),
                           score_lo=best.get("score_lo"), score_hi=best.get("score_hi"), snr=best["snr"],
                           found_period=best["period_days"])
            out["planets"].append(rec)
    else:
        out["false_positive"] = any(r["disposition"] == "planet_candidate" for r in rows)
    return out


def run_files(paths, known, engine) -> list:
    """Read ``paths`` and analyse them together with ``engine``; one record per file, in order.

    ``wall_s`` is the file's read time plus its share of the engine's time
    (a lock-step search's time is shared evenly between the light curves).
    A failure of the chain is raised (a benchmark must not hide one).
    """
    from exoray.ingest import read_lightcurve
    from exoray.simulate.real import star_half

    lcs, read_s = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            t0 = time.perf_counter()
            lcs.append(read_lightcurve(str(path)))
            read_s.append(time.perf_counter() - t0)
        outcomes = engine.analyse(lcs)
    keep = ["candidate_index", "period_days", "t0_btjd", "duration_hours", "depth_ppm", "snr", "sde", "n_transits",
            "score", "score_lo", "score_hi", "disposition", "rule_disposition", "vet_flags"]
    records = []
    for path, lc, rs, o in zip(paths, lcs, read_s, outcomes):
        o.raise_first()
        rec = {"file": path.name, "folder": path.parent.name, "tic_id": int(lc.tic_id), "sector": int(lc.sector),
               "half": star_half(lc.tic_id), "noise_ppm": float(o.plc.noise_ppm),
               "detrend": f"{o.plc.detrend_method} {o.plc.detrend_window_days:g} d",
               "wall_s": rs + sum(o.timings_ms.values()) / 1e3,
               "candidates": [{k: r.get(k) for k in keep} for r in o.rows]}
        rec.update(assess(lc, o.rows, known.get(int(lc.tic_id), ("?", str(lc.tic_id), {}))))
        records.append(rec)
    return records


def make_engine():
    """The sweep's chain built once: default preprocessing and search, the shipped ranker, no cross-match."""
    from exoray.config import SearchConfig
    from exoray.engine import Engine

    return Engine(None, SearchConfig(), catalogs=None)


def run_file(path: Path, known, engine=None) -> dict:
    return run_files([path], known, engine or make_engine())[0]


def summarise(records, folder: str) -> dict:
    recs = [r for r in records if r["folder"] == folder]
    ref = [p for r in recs for p in r["planets"] if p["reference"]] if folder == "tess_spoc_2min" else \
        [p for r in recs for p in r["planets"] if p["transits_in_data"] >= 2]
    planets = [p for p in ref if not p["brown_dwarf"]]
    passed = [p for p in planets if p["status"] == "found" and p.get("disposition") == "planet_candidate"
              and (p.get("score") or 0) >= 0.5]
    called_eb = [p["name"] for r in recs for p in r["planets"] if p["status"] == "found"
                 and p.get("disposition") == "eclipsing_binary"]
    ebs = [r for r in recs if r["class"] == "EB"]
    none = [r for r in recs if r["class"] == "none"]
    return {
        "folder": folder,
        "planets_and_bds": len(ref), "found_at_period": sum(p["status"] == "found" for p in ref),
        "alias": sum(p["status"] == "alias" for p in ref),
        "planets": len(planets), "planet_candidate_score_ge_0p5": len(passed),
        "missed": [p["name"] for p in ref if p["status"] != "found"],
        "found_but_not_passed": [f"{p['name']} ({p.get('disposition')}, {p.get('score') or float('nan'):.2f})"
                                 for p in planets if p["status"] == "found" and p not in passed],
        "known_planets_called_eb": called_eb,
        "ebs": len(ebs), "ebs_passed_as_planet": [r["label"] for r in ebs if r["false_positive"]],
        "no_signal_stars": len(none), "no_signal_passed_as_planet": [r["label"] for r in none if r["false_positive"]],
        "other_planets_with_two_transits": [p["name"] + f" ({p['status']})" for r in recs for p in r["planets"]
                                            if not p["reference"] and p["transits_in_data"] >= 2]
        if folder == "tess_spoc_2min" else [],
    }


def print_table(records, file=sys.stdout) -> None:
    hdr = f"{'target':<26}{'h':<2}{'cls':<7}{'detrend':<16}{'verdict':<58}{'s':>5}"
    print(hdr, file=file)
    print("-" * len(hdr), file=file)
    for r in records:
        if r["class"] == "planet":
            verdict = "; ".join(
                f"{p['name']}: {p['status']}" + (f" {p.get('disposition', '')[:8]} {p['score']:.2f}"
                                                 if p.get("score") is not None else "")
                for p in r["planets"])
        else:
            verdict = "PASSED AS PLANET" if r["false_positive"] else f"ok ({len(r['candidates'])} candidates)"
        print(f"{r['label'][:24] + ' s' + str(r['sector']):<26}{r['half']:<2}{r['class']:<7}{r['detrend'][:15]:<16}"
              f"{verdict[:57]:<58}{r['wall_s']:>5.1f}", file=file)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write the per-file records and summaries as JSON here")
    ap.add_argument("--files", default="*_lc.fits", help="glob on the file names")
    ap.add_argument("--folders", default="tess_spoc_2min,tess_spoc_2min_extra")
    ap.add_argument("--batch", type=int, default=4, help="light curves the one engine analyses together")
    args = ap.parse_args(argv)
    root = shared_real_dir()
    known = dict(KNOWN)
    known.update({k: v for k, v in extra_manifest(root).items() if k not in known})
    folders = [f.strip() for f in args.folders.split(",") if f.strip()]
    files = [p for f in folders for p in sorted((root / f).glob("*_lc.fits")) if fnmatch.fnmatch(p.name, args.files)]
    if not files:
        print(f"no files matching {args.files} in {folders}", file=sys.stderr)
        return 1
    records = []
    engine = make_engine()
    for i in range(0, len(files), args.batch):
        for rec in run_files(files[i:i + args.batch], known, engine):
            records.append(rec)
            print(f"  {rec['label'][:24]:<24} s{rec['sector']:<3} {rec['wall_s']:.1f} s", file=sys.stderr, flush=True)
    print_table(records)
    summaries = [summarise(records, f) for f in folders]
    for s in summaries:
        print(f"\n{s['folder']}: {s['found_at_period']}/{s['planets_and_bds']} planets and brown dwarfs found at the "
              f"catalogue period ({s['alias']} at an alias); {s['planet_candidate_score_ge_0p5']}/{s['planets']} "
              f"planets planet_candidate with score >= 0.5", file=sys.stdout)
        for k in ("missed", "found_but_not_passed", "known_planets_called_eb", "ebs_passed_as_planet",
                  "no_signal_passed_as_planet", "other_planets_with_two_transits"):
            if s[k]:
                print(f"  {k}: {', '.join(s[k])}")
        print(f"  EBs passed as planets: {len(s['ebs_passed_as_planet'])}/{s['ebs']}; stars with no known signal "
              f"passed as planets: {len(s['no_signal_passed_as_planet'])}/{s['no_signal_stars']}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"summaries": summaries, "records": records}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
