"""Check that a change to the code leaves the analysis results bit for bit the same.

A refactor (moving modules, typing a contract, hoisting imports) should change
no number the pipeline produces.  This script pins that down on a fixed set of
inputs: 20 simulated stars (planets, eclipsing binaries and quiet stars) and
the first 8 real SPOC light curves in ``../shared/data/real`` (or
``$EXORAY_SHARED_DATA``; without them only the simulated stars are used).

    python benchmarks/check_rows_unchanged.py make before.pkl     # on the old code
    python benchmarks/check_rows_unchanged.py make after.pkl      # on the new code
    python benchmarks/check_rows_unchanged.py compare before.pkl after.pkl

``make`` runs the engine (preprocess, search, vet, rank) on those inputs and
pickles the candidate rows, the ranker's feature matrix, the Arrow table and
its schema, and each light curve's failures.  ``compare`` compares two such
files exactly (NaN equals NaN) and exits 1 on any difference, naming the row
and column.  The pickles are generated outputs: keep them out of the tree.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys

import numpy as np

N_SIMULATED = 20
N_REAL = 8
# an on-target binary: deep primary, visible secondary
EB = dict(k=0.6, a_rs=6.0, b=0.2, sb_ratio=0.5, q=0.8, ld1=(0.4, 0.2), ld2=(0.4, 0.2))


def _inputs():
    from exoray.ingest.fits_reader import read_lightcurve
    from exoray.simulate import signals as S
    from exoray.simulate.real import shared_real_dir
    from exoray.simulate.sector import simulate_lightcurve

    lcs = []
    for i in range(N_SIMULATED):
        if i % 3 == 0:
            sig = [S.PlanetSignal(period=2.0 + 0.7 * i, t0=1326.0 + 0.3 * i, rp_rs=0.05 + 0.002 * i, a_rs=10.0, b=0.3)]
        elif i % 3 == 1:
            sig = [S.EBSignal(period=1.5 + 0.5 * i, t0=1326.2, **EB)]
        else:
            sig = []
        lcs.append(simulate_lightcurve(np.random.default_rng(100 + i), signals=sig, seed=3))
    real = shared_real_dir()
    if real is None:
        print("no shared real data: simulated stars only", file=sys.stderr)
    else:
        for path in sorted((real / "tess_spoc_2min").glob("*.fits"))[:N_REAL]:
            lcs.append(read_lightcurve(str(path)))
    return lcs


def make(out: str) -> None:
    import exoray
    from exoray.config import PreprocessConfig, SearchConfig
    from exoray.engine import Engine
    from exoray.rank.features import candidate_features
    from exoray.schemas import records_to_table
    from exoray.vet.records import CANDIDATES_SCHEMA

    print("exoray imported from", exoray.__file__, file=sys.stderr)
    lcs = _inputs()
    outcomes = Engine(PreprocessConfig(), SearchConfig()).analyse(lcs)
    rows, failures = [], []
    for o in outcomes:
        rows.extend(o.rows)
        failures.append([(stage, str(exc)[:200]) for stage, exc in o.failures])
    X, names = candidate_features(rows)
    table = records_to_table(rows, CANDIDATES_SCHEMA)
    with open(out, "wb") as f:
        pickle.dump({"n_inputs": len(lcs), "rows": rows, "X": X, "names": names, "table": table.to_pylist(),
                     "schema": str(table.schema), "failures": failures}, f)
    print(f"{len(lcs)} light curves, {len(rows)} candidate rows, features {X.shape} -> {out}", file=sys.stderr)


def _equal(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return (math.isnan(x) and math.isnan(y)) or x == y
    if isinstance(x, dict) and isinstance(y, dict):
        return set(x) == set(y) and all(_equal(x[k], y[k]) for k in x)
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
        return len(x) == len(y) and all(_equal(u, v) for u, v in zip(x, y))
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
    return x == y


def compare(before: str, after: str) -> int:
    with open(before, "rb") as f:
        a = pickle.load(f)
    with open(after, "rb") as f:
        b = pickle.load(f)
    problems = []
    if a["n_inputs"] != b["n_inputs"]:
        problems.append(f"inputs: {a['n_inputs']} != {b['n_inputs']} (was the shared data present both times?)")
    if len(a["rows"]) != len(b["rows"]):
        problems.append(f"candidate rows: {len(a['rows'])} != {len(b['rows'])}")
    for i, (ra, rb) in enumerate(zip(a["rows"], b["rows"])):
        for k in sorted(set(ra) | set(rb)):
            if k not in ra or k not in rb:
                problems.append(f"row {i} (TIC {ra.get('tic_id')}): column {k} only in {'before' if k in ra else 'after'}")
            elif not _equal(ra[k], rb[k]):
                problems.append(f"row {i} (TIC {ra.get('tic_id')}): {k}: {ra[k]!r} != {rb[k]!r}")
    if a["names"] != b["names"]:
        problems.append("ranker feature names differ")
    elif not np.array_equal(a["X"], b["X"], equal_nan=True):
        problems.append("ranker feature matrix differs")
    if a["schema"] != b["schema"]:
        problems.append(f"candidate schema differs:\n{a['schema']}\n---\n{b['schema']}")
    if not _equal(a["table"], b["table"]):
        problems.append("Arrow table differs")
    if a["failures"] != b["failures"]:
        problems.append("per-light-curve failures differ")
    for p in problems:
        print(p)
    print("IDENTICAL" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("make", help="analyse the fixed inputs and pickle the results").add_argument("out")
    cmp_ = sub.add_parser("compare", help="compare two pickles exactly; exit 1 on any difference")
    cmp_.add_argument("before")
    cmp_.add_argument("after")
    args = ap.parse_args(argv)
    if args.cmd == "make":
        make(args.out)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
