"""``exoray simulate``: write a simulated TESS sector and its truth table."""

from __future__ import annotations

import argparse


def _run(args: argparse.Namespace) -> int:
    import time

    from .sector import simulate_sector

    t0 = time.perf_counter()
    truth = simulate_sector(args.n, args.out, seed=args.seed, sector=args.sector, mix=args.mix,
                            snr_range=(args.snr_min, args.snr_max))
    counts = truth.drop_duplicates("tic_id")["class"].value_counts().to_dict()
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    print(f"simulated {args.n} light curves (sector {args.sector}, seed {args.seed}; {summary}) "
          f"in {time.perf_counter() - t0:.1f} s -> {args.out} (truth.csv: {len(truth)} rows)")
    return 0


def register(subparsers) -> None:
    """Add the ``simulate`` subcommand."""
    p = subparsers.add_parser(
        "simulate",
        help="write simulated SPOC 2-min light curves + truth.csv",
        description="Simulate a TESS sector of SPOC-format 2-min light curves with injected "
        "planets, eclipsing binaries and blends, and write truth.csv.",
    )
    p.add_argument("--n", type=int, default=100, help="number of stars (default 100)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--sector", type=int, default=1, help="TESS sector (default 1)")
    p.add_argument("--mix", default=None,
                   help="class fractions, e.g. planet=0.4,multi_planet=0.1,eb=0.15,blended_eb=0.1,none=0.25")
    p.add_argument("--snr-min", type=float, default=5.0, help="lowest planet SNR (default 5)")
    p.add_argument("--snr-max", type=float, default=50.0, help="highest planet SNR (default 50)")
    p.set_defaults(func=_run)
