"""``exoray train ranker`` (see :mod:`exoray.cli`).

Here, not in the rank stage: its training set is made by running the whole
engine (preprocess, search, vet) over simulated stars and injections into
real light curves (:mod:`exoray.pipelines.training_data`), and the engine
sits above the rank stage it uses.  ``exoray label`` stays in
:mod:`exoray.rank.commands`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..cliutil import group_subparsers
from ..errors import InputError
from ..rank.active import read_labels
from ..rank.train import labelled_from_human, train_ranker

# The modules that do the work (the training set, made by the engine: torch) are
# imported inside the command functions: `exoray --help` imports this module to
# list its subcommands.

log = logging.getLogger(__name__)

__all__ = ["register", "cmd_train_ranker"]


def _train_subparsers(subparsers):
    """The ``train`` command's sub-subparsers, shared with the models stage."""
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


# --------------------------------------------------------------------------- train ranker
def cmd_train_ranker(args) -> int:
    import pandas as pd

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
