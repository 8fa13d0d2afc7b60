"""CLI subcommands of the pipelines: ``exoray sweep`` and ``exoray demo``."""

from __future__ import annotations

import argparse
import json
import os
import sys

#: The embedded default data set: a simulated sector, made on first use.
DEFAULT_SIM_STARS = 60
DEFAULT_SIM_SEED = 2026


def _add_sweep_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution")
    g.add_argument("--batch-size", type=int, default=None, help="light curves per Ray task (default: auto, 8-64)")
    g.add_argument("--num-cpus", type=int, default=None, help="CPUs for a local Ray instance (default: all)")
    g.add_argument("--address", default=None, help="Ray cluster address ('auto' joins a running cluster)")
    g.add_argument("--no-ray", action="store_true", help="run in this process without Ray (debugging, benchmarks)")
    g.add_argument("--no-resume", action="store_true", help="refuse to reuse an OUT that already has results")
    q = p.add_argument_group("preprocessing")
    q.add_argument("--flux-column", default=None, help="force a flux column (default: the product's best, e.g. PDCSAP_FLUX)")
    q.add_argument("--quality-mask", default="default", choices=["none", "default", "hard", "hardest"])
    q.add_argument("--detrend", default="biweight", choices=["biweight", "savgol", "none"])
    q.add_argument("--window-days", type=float, default=0.75, help="detrending window in days (~3x the longest transit)")
    q.add_argument("--sigma-upper", type=float, default=4.0, help="clip points this many sigma above the trend")


def _config_from_args(args):
    from ..config import PreprocessConfig, SweepConfig

    pre = PreprocessConfig(
        quality_mask=args.quality_mask,
        detrend=args.detrend,
        window_days=args.window_days,
        savgol_window_days=args.window_days,
        sigma_upper=args.sigma_upper,
    )
    return SweepConfig(
        batch_size=args.batch_size,
        num_cpus=args.num_cpus,
        address=args.address,
        flux_column=args.flux_column,
        resume=not args.no_resume,
        preprocess=pre,
    )


def _ensure_default_sector(out: str, n: int, seed: int) -> str:
    """Simulate the embedded default sector into OUT/simulated (once)."""
    from ..simulate import simulate_sector

    sim_dir = os.path.join(out, "simulated")
    if not os.path.exists(os.path.join(sim_dir, "truth.csv")):
        print(f"simulating a TESS sector of {n} stars (seed {seed}) into {sim_dir} ...", file=sys.stderr)
        simulate_sector(n, sim_dir, seed=seed)
    return sim_dir


def _print_summary(run: dict) -> None:
    c, t, a = run["counts"], run["timings"], run["accounting"]
    print(
        f"swept {c['inputs']} inputs into {run['out']}: "
        f"{c['preprocessed_total']} preprocessed, {c['quarantined_total']} quarantined "
        f"({c['skipped_resume']} already done), {t['wall_s']:.1f} s"
    )
    if t.get("throughput_lc_per_s"):
        print(
            f"  throughput {t['throughput_lc_per_s']:.1f} light curves/s; per curve: read "
            f"{t['read_ms_per_lc']:.1f} ms, preprocess {t['preprocess_ms_per_lc']:.1f} ms"
        )
    if c["quarantined_total"]:
        print(f"  quarantine reasons: {os.path.join(run['out'], 'quarantine.parquet')}")
    if not a["accounted"]:
        print(f"  WARNING: {a['n_missing']} inputs missing, {a['n_duplicates']} duplicated", file=sys.stderr)


def cmd_sweep(args) -> int:
    from .sweep import sweep

    config = _config_from_args(args)
    input_spec = args.input or _ensure_default_sector(args.out, DEFAULT_SIM_STARS, DEFAULT_SIM_SEED)
    run = sweep(input_spec, args.out, config, use_ray=not args.no_ray)
    _print_summary(run)
    return 0 if run["accounting"]["accounted"] else 1


def cmd_demo(args) -> int:
    from .sweep import sweep

    config = _config_from_args(args)
    sim_dir = _ensure_default_sector(args.out, args.n, args.seed)
    run = sweep(sim_dir, args.out, config, use_ray=not args.no_ray)
    _print_summary(run)
    return 0 if run["accounting"]["accounted"] else 1


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="read and preprocess a sector of light curves on Ray",
        description=(
            "Sweep INPUT (a folder, glob, manifest or pyarrow-filesystem URI) into OUT: "
            "OUT/lightcurves/*.parquet, OUT/quarantine.parquet and OUT/run.json. "
            "A rerun into the same OUT processes only what is missing. Without INPUT, "
            "sweeps the embedded simulated sector (no network needed)."
        ),
    )
    p.add_argument("input", nargs="?", default=None, help="light curves to sweep (default: simulated sector)")
    p.add_argument("--out", required=True, help="output folder")
    _add_sweep_options(p)
    p.set_defaults(func=cmd_sweep)

    d = sub.add_parser(
        "demo",
        help="simulate a small TESS sector and sweep it, offline",
        description="Simulate a TESS sector with injected planets and eclipsing binaries, then sweep it.",
    )
    d.add_argument("--out", required=True, help="output folder")
    d.add_argument("--n", type=int, default=DEFAULT_SIM_STARS, help="stars to simulate")
    d.add_argument("--seed", type=int, default=DEFAULT_SIM_SEED, help="random seed")
    _add_sweep_options(d)
    d.set_defaults(func=cmd_demo)
