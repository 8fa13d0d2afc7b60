"""``exoray label`` (see :mod:`exoray.cli`).

``exoray train ranker`` is registered by :mod:`exoray.pipelines.ranker_commands`:
building its training set runs the whole engine over simulated and injected
stars, which sits above the rank stage.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..errors import InputError
from .active import append_labels, parse_label, read_labels, uncertainty_queue
from .ranker import score_candidates

log = logging.getLogger(__name__)

__all__ = ["register", "cmd_label"]


def register(subparsers) -> None:
    q = subparsers.add_parser(
        "label",
        help="label the most uncertain candidates of a run (active learning)",
        description="Show the K candidates of OUT/candidates.parquet whose ranker score is most uncertain "
        "and record labels in OUT/labels.parquet: interactively (p=planet, n=not, s=skip, q=quit) when "
        "stdin is a terminal, or with --label TIC:SECTOR:IDX=planet|not.",
    )
    q.add_argument("out", help="run directory holding candidates.parquet")
    q.add_argument("--k", type=int, default=10, help="queue length (default 10)")
    q.add_argument("--label", action="append", default=[], metavar="TIC:SECTOR:IDX=planet|not",
                   help="record a label without prompting (repeatable)")
    q.add_argument("--labeller", default=None, help="your name (default: the user name)")
    q.add_argument("--note", default="", help="note stored with --label labels")
    q.set_defaults(func=cmd_label)


# --------------------------------------------------------------------------- label
def _parse_spec(spec: str):
    try:
        key, value = spec.split("=", 1)
        tic, sector, idx = (int(x) for x in key.split(":"))
    except ValueError:
        raise InputError(f"--label {spec!r}: expected TIC:SECTOR:IDX=planet|not") from None
    return {"tic_id": tic, "sector": sector, "candidate_index": idx, "label": parse_label(value)}


def _fmt(v, spec=".4g"):
    try:
        return format(float(v), spec)
    except (TypeError, ValueError):
        return str(v)


def cmd_label(args) -> int:
    import pandas as pd

    out = Path(args.out)
    labels_path = out / "labels.parquet"
    if args.label:
        recs = [dict(_parse_spec(s), labeller=args.labeller, note=args.note) for s in args.label]
        table = append_labels(labels_path, recs)
        print(f"recorded {len(recs)} label(s); {len(table)} in {labels_path}")
        return 0
    cpath = out / "candidates.parquet"
    if not cpath.exists():
        raise FileNotFoundError(f"{cpath}: no candidates table; run the search first (exoray demo / sweep)")
    cands = pd.read_parquet(cpath)
    if len(cands) == 0:
        print("no candidates to label")
        return 0
    if "score" not in cands.columns or cands["score"].isna().all():
        cands = pd.DataFrame(score_candidates(cands))
    queue = uncertainty_queue(cands, args.k, exclude=read_labels(labels_path))
    if queue.empty:
        print("every candidate is labelled")
        return 0
    print(f"{len(queue)} most uncertain candidates of {cpath}:")
    for _, r in queue.iterrows():
        print(f"  {int(r['tic_id'])}:{int(r['sector'])}:{int(r['candidate_index'])}  "
              f"P={_fmt(r.get('period_days'))} d  depth={_fmt(r.get('depth_ppm'), '.0f')} ppm  "
              f"snr={_fmt(r.get('snr'), '.1f')}  score={_fmt(r['score'], '.2f')} "
              f"[{_fmt(r.get('score_lo'), '.2f')}, {_fmt(r.get('score_hi'), '.2f')}]  "
              f"{r.get('disposition') or ''}  {r.get('report_path') or ''}")
    if not sys.stdin.isatty():
        print("(stdin is not a terminal: record labels with --label TIC:SECTOR:IDX=planet|not)")
        return 0
    recs = []
    for _, r in queue.iterrows():
        key = f"{int(r['tic_id'])}:{int(r['sector'])}:{int(r['candidate_index'])}"
        while True:
            ans = input(f"{key} planet? [p]lanet / [n]ot / [s]kip / [q]uit: ").strip().lower()
            if ans in ("p", "n", "s", "q"):
                break
        if ans == "q":
            break
        if ans == "s":
            continue
        recs.append({"tic_id": int(r["tic_id"]), "sector": int(r["sector"]),
                     "candidate_index": int(r["candidate_index"]), "label": 1 if ans == "p" else 0,
                     "labeller": args.labeller})
    if recs:
        table = append_labels(labels_path, recs)
        print(f"recorded {len(recs)} label(s); {len(table)} in {labels_path}")
    else:
        print("no labels recorded")
    return 0
