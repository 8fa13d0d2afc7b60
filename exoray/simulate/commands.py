"""``exoray simulate``: write a simulated TESS sector (or several) and its truth table."""

from __future__ import annotations

import argparse

from .sector import simulate_sector


def _run(args: argparse.Namespace) -> int:
    import time

    t0 = time.perf_counter()
    truth = simulate_sector(args.n, args.out, seed=args.seed, sector=args.sector, mix=args.mix,
                            snr_range=(args.snr_min, args.snr_max), sectors=args.sectors,
                            duo_fraction=args.duo_fraction)
    counts = truth.drop_duplicates("tic_id")["class"].value_counts().to_dict()
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    if args.sectors is None:
        what = f"{args.n} light curves (sector {args.sector or 1}"
    else:
        n_sec = len(truth.columns[truth.columns.str.startswith("snr_s")])
        n_duo = int(truth["duo_transit"].astype(bool).sum())
        what = (f"{args.n} stars x {n_sec} sectors = {args.n * n_sec} light curves "
                f"(sectors {args.sectors}, {n_duo} duo transit(s)")
    print(f"simulated {what}, seed {args.seed}; {summary}) "
          f"in {time.perf_counter() - t0:.1f} s -> {args.out} (truth.csv: {len(truth)} rows)")
    return 0


def register(subparsers) -> None:
    """Add the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate",
        help="write simulated SPOC 2-min light curves + truth.csv",
        description="Simulate a TESS sector of SPOC-format 2-min light curves with injected "
        "planets, eclipsing binaries and blends, and write truth.csv. With --sectors every star is "
        "observed in each listed sector (same TIC and ephemerides; each sector its own timing, "
        "camera/CCD, aperture, crowding and noise): one file per star and sector, and truth.csv "
        "with one row per star and signal, a 'sectors' column and per-sector columns.",
    )
    p.add_argument("--n", type=int, default=100, help="number of stars (default 100)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--sector", type=int, default=None, help="TESS sector (default 1)")
    which.add_argument("--sectors", default=None,
                       help="observe every star in these sectors, e.g. 1,2,3 or 1-3 or 24,51")
    p.add_argument("--duo-fraction", type=float, default=0.0,
                   help="with --sectors: fraction of planet stars given a duo-transit planet "
                   "(one transit in each of two sectors, none elsewhere; default 0)")
    p.add_argument("--mix", default=None,
                   help="class fractions, e.g. planet=0.4,multi_planet=0.1,eb=0.15,blended_eb=0.1,none=0.25")
    p.add_argument("--snr-min", type=float, default=5.0, help="lowest planet SNR (default 5)")
    p.add_argument("--snr-max", type=float, default=50.0, help="highest planet SNR (default 50)")
    p.set_defaults(func=_run)
