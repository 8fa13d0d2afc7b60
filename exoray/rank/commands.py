"""``exoray train ranker`` and ``exoray label`` (see :mod:`exoray.cli`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["register", "cmd_train_ranker", "cmd_label"]


def _train_subparsers(subparsers):
    """The ``train`` command's sub-subparsers, shared with the models stage."""
    from ..cliutil import group_subparsers

    return group_subparsers(subparsers, "train", "train a model (ranker, autoencoder, ...)", "train_target")


def register(subparsers) -> None:
    tsub = _train_subparsers(subparsers)
    p = tsub.add_parser(
        "ranker",
        help="train the candidate ranker on real light curves with injected signals (+ simulations, human labels)",
        description="Train the calibrated candidate ranker. With --real, transits and eclipsing binaries are "
        "injected into the real light curves of each folder (their catalogued signals masked first) and the "
        "same light curves are inverted and scrambled for false alarms; every probe is searched by the sweep's "
        "chain and its candidates labelled. --sim-stars simulated stars are added as a supplement. Human "
        "labels from --labels join the training side. Prints metrics on held-out stars and writes the model "
        "directory.",
    )
    p.add_argument("--data", action="append", default=[], metavar="PARQUET",
                   help="labelled candidate table(s) with a 'label' column (repeatable)")
    p.add_argument("--real", action="append", default=[], metavar="DIR",
                   help="folder of real light-curve FITS files to inject into (repeatable)")
    p.add_argument("--half", default="both", choices=["A", "B", "both"],
                   help="only the stars of this fixed half (exoray.simulate.real.star_half): train on one half, "
                   "benchmark on the other (default both)")
    p.add_argument("--real-planets", type=int, default=40, help="planet injections per real light curve")
    p.add_argument("--real-giants", type=int, default=8, help="giant planets (percent-deep transits) per light curve")
    p.add_argument("--real-ebs", type=int, default=3, help="eclipsing binaries on target per light curve")
    p.add_argument("--real-blends", type=int, default=3, help="blended eclipsing binaries per light curve")
    p.add_argument("--real-inverted", type=int, default=1, help="inverted copies per light curve")
    p.add_argument("--real-scrambled", type=int, default=3, help="scrambled copies per light curve")
    p.add_argument("--real-inverted-scrambled", type=int, default=2, help="inverted and scrambled copies")
    p.add_argument("--sim-stars", type=int, default=None,
                   help="simulated stars added to --real (default 200; 0 for none)")
    p.add_argument("--prior", type=float, default=None,
                   help="share of planets among candidates that scores are calibrated to (default: the "
                   "training set's)")
    p.add_argument("--labels", metavar="LABELS_PARQUET",
                   help="human labels (OUT/labels.parquet); features come from candidates.parquet beside it")
    p.add_argument("--model", default="lightgbm", help="lightgbm (default) or random_forest")
    p.add_argument("--out", default="ranker", help="model directory to write (default ./ranker)")
    p.add_argument("--n-stars", type=int, default=300, help="simulated stars when no --data (default 300)")
    p.add_argument("--seed", type=int, default=0, help="simulation and split seed")
    p.add_argument("--cache", default=None, help="Parquet cache of the simulated set "
                   "(default ./ranker_sim_N<n>_S<seed>.parquet)")
    p.add_argument("--workers", type=int, default=None, help="Ray CPUs for the simulation (0: no Ray)")
    p.add_argument("--n-bootstrap", type=int, default=20, help="ensemble members (default 20)")
    p.add_argument("--calibration", default="isotonic", help="isotonic (default), sigmoid or none")
    p.add_argument("--test-fraction", type=float, default=0.25,
                   help="held-out share of stars for the printed metrics (0: train on all, evaluate elsewhere)")
    p.set_defaults(func=cmd_train_ranker)

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


# --------------------------------------------------------------------------- train ranker
def cmd_train_ranker(args) -> int:
    import pandas as pd

    from ..errors import InputError
    from .active import read_labels
    from .train import labelled_from_human, train_ranker
    from .training_data import load_or_simulate

    stars = None
    real = None
    if args.real:
        from .training_data import real_training_set

        files = []
        for folder in args.real:
            if not Path(folder).is_dir():
                raise FileNotFoundError(f"{folder}: no such folder of real light curves (--real)")
            files += sorted(str(f) for f in Path(folder).iterdir()
                            if f.name.endswith((".fits", ".fits.gz", ".fit")))
        if not files:
            raise InputError(f"no FITS light curves in {', '.join(args.real)}")
        halves = ("A", "B") if args.half == "both" else (args.half,)
        cache = Path(args.cache or f"ranker_real_{args.half}_S{args.seed}.parquet")
        if cache.exists():
            real = pd.read_parquet(cache)
            print(f"read {len(real)} cached real-noise candidates from {cache}")
        else:
            real, probes = real_training_set(files, halves=halves, n_planets=args.real_planets,
                                             n_giants=args.real_giants, n_eb=args.real_ebs,
                                             n_blended_eb=args.real_blends, n_inverted=args.real_inverted,
                                             n_scrambled=args.real_scrambled,
                                             n_inverted_scrambled=args.real_inverted_scrambled, seed=args.seed,
                                             workers=args.workers)
            cache.parent.mkdir(parents=True, exist_ok=True)
            real.to_parquet(cache, index=False)
            probes.to_parquet(cache.with_name(cache.stem + ".probes.parquet"), index=False)
        print(f"real light curves: {len(real)} candidates ({int(real['label'].sum())} planets) from "
              f"{real['probe_id'].nunique()} probes of {real['tic_id'].nunique()} stars")
    if args.data:
        frames = []
        for path in args.data:
            if not Path(path).exists():
                raise FileNotFoundError(f"{path}: no such labelled candidate table")
            frames.append(pd.read_parquet(path))
            sp = Path(path).with_name(Path(path).stem + ".stars.parquet")
            if sp.exists():
                stars = pd.concat([stars, pd.read_parquet(sp)]) if stars is not None else pd.read_parquet(sp)
        df = pd.concat(frames, ignore_index=True)
    else:
        n_sim = args.n_stars if real is None else (200 if args.sim_stars is None else args.sim_stars)
        df = None
        if n_sim > 0:
            cache = (args.cache if real is None and args.cache else None) or f"ranker_sim_N{n_sim}_S{args.seed}.parquet"
            df, stars = load_or_simulate(cache, n_stars=n_sim, seed=args.seed, workers=args.workers)
            df = df.assign(source="simulated")
    if real is not None:
        df = real if df is None else pd.concat([real, df], ignore_index=True)
    if df is None:
        raise InputError("nothing to train on: give --real, --data or simulated stars")
    if "label" not in df.columns:
        raise InputError("the training table has no 'label' column")
    extra = None
    if args.labels:
        labels = read_labels(args.labels)
        cpath = Path(args.labels).with_name("candidates.parquet")
        if len(labels):
            if not cpath.exists():
                raise FileNotFoundError(f"{cpath}: the labelled run's candidates table is needed for features")
            extra = labelled_from_human(labels, pd.read_parquet(cpath))
            print(f"human labels: {len(extra)} ({int(extra['label'].sum())} planets)")
    ranker, metrics = train_ranker(
        df, model=args.model, test_fraction=args.test_fraction, seed=args.seed, stars=stars, extra_train=extra,
        ranker_kwargs={"n_bootstrap": args.n_bootstrap, "calibration": args.calibration, "prior": args.prior},
    )
    out = ranker.save(args.out)
    if not metrics.get("n_test_stars"):
        print(f"trained {args.model} on {metrics['n_train']} candidates ({metrics['n_train_pos']} planets) "
              f"of every star (no held-out stars); model written to {out}")
        return 0
    print(f"trained {args.model} on {metrics['n_train']} candidates ({metrics['n_train_pos']} planets); "
          f"held out {metrics['n']} candidates of {metrics['n_test_stars']} stars:")
    for k in ("auc", "pr_auc", "precision", "recall", "f1", "brier", "brier_uncalibrated", "ece",
              "eb_false_pass_rate", "none_star_false_positive_rate", "interval_bin_coverage"):
        if k in metrics:
            print(f"  {k:32s} {metrics[k]:.4f}")
    print(f"model written to {out}")
    return 0


# --------------------------------------------------------------------------- label
def _parse_spec(spec: str):
    from ..errors import InputError
    from .active import parse_label

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

    from .active import append_labels, read_labels, uncertainty_queue

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
        from .ranker import score_candidates

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
