"""``exoray fetch`` and ``exoray fetch-sector`` subcommands.

Heavy imports (astroquery, requests, Ray) happen inside the command
functions so that ``exoray --help`` stays instant.
"""

from __future__ import annotations

import argparse
import logging

__all__ = ["register", "cmd_fetch", "cmd_fetch_sector"]

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ingest subcommands to the ``exoray`` parser.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        What ``parser.add_subparsers()`` returned.
    """
    p = subparsers.add_parser(
        "fetch",
        help="download the light curve(s) of one TIC (and sector) from MAST",
        description="Query MAST for one star's light-curve products and download them.",
    )
    p.add_argument("--tic", type=int, required=True, help="TIC ID, e.g. 261136679")
    p.add_argument("--sector", type=int, default=None, help="TESS sector (default: all)")
    p.add_argument("--out", required=True, help="destination folder")
    p.add_argument(
        "--product", default="spoc_2min",
        help="product kind: spoc_2min, spoc_20s, tess_spoc_ffi, qlp, tasoc, eleanor (default spoc_2min)",
    )
    p.add_argument("--base-url", default=None, help="MAST server (default $EXORAY_MAST_URL or https://mast.stsci.edu)")
    p.add_argument("--cache-dir", default=None, help="astroquery download cache (default $EXORAY_CACHE_DIR or ~/.cache/exoray/mast)")
    p.set_defaults(func=cmd_fetch)

    s = subparsers.add_parser(
        "fetch-sector",
        help="download every 2-min light curve of a TESS sector (bulk script, Ray)",
        description=(
            "Download the files listed in MAST's per-sector bulk script in parallel Ray tasks, "
            "with retries, verification and resume; writes OUT/manifest.parquet. "
            "Exits 1 if any file failed (rerun to retry only those)."
        ),
    )
    s.add_argument("--sector", type=int, required=True, help="TESS sector")
    s.add_argument("--out", required=True, help="destination folder")
    s.add_argument("--script", default=None, help="bulk script file or URL (default: MAST's for --sector)")
    s.add_argument("--base-url", default=None, help="rewrite the download host (mirror or test server)")
    s.add_argument("--limit", type=int, default=None, help="only the first K files")
    s.add_argument("--retries", type=int, default=4, help="retries per file (default 4)")
    s.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds (default 60)")
    s.add_argument("--concurrency", type=int, default=None, help="Ray tasks in flight")
    s.add_argument("--files-per-task", type=int, default=None, help="files per Ray task")
    s.add_argument("--threads", type=int, default=4, help="download threads per task (default 4)")
    s.add_argument("--no-checksum", action="store_true", help="skip the per-HDU CHECKSUM test")
    s.add_argument("--no-ray", action="store_true", help="use local threads instead of Ray")
    s.add_argument("--address", default=None, help="Ray cluster address (default: $RAY_ADDRESS or local)")
    s.set_defaults(func=cmd_fetch_sector)


def cmd_fetch(args: argparse.Namespace) -> int:
    """Run ``exoray fetch``; prints the paths of the files now in ``--out``."""
    from .mast_query import fetch_lightcurves

    paths = fetch_lightcurves(
        args.tic, args.sector, args.out, product=args.product,
        base_url=args.base_url, cache_dir=args.cache_dir,
    )
    for p in paths:
        print(p)
    print(f"{len(paths)} file(s) in {args.out}")
    return 0 if paths else 1


def cmd_fetch_sector(args: argparse.Namespace) -> int:
    """Run ``exoray fetch-sector``; prints counts, returns 1 if any file failed."""
    import os

    from .bulk import bulk_script_url
    from .download import fetch_sector, manifest_counts

    script = args.script or bulk_script_url(args.sector)
    if args.no_ray:
        use_ray = False
    else:
        from ..pipelines.ray_env import init_ray

        init_ray(args.address)
        use_ray = True
    table = fetch_sector(
        script,
        args.out,
        base_url=args.base_url,
        max_retries=args.retries,
        timeout_s=args.timeout,
        concurrency=args.concurrency,
        files_per_task=args.files_per_task,
        threads_per_task=args.threads,
        checksum=not args.no_checksum,
        limit=args.limit,
        sector=args.sector,
        use_ray=use_ray,
    )
    c = manifest_counts(table)
    print(
        f"sector {args.sector}: {c['total']} file(s): fetched {c['fetched']}, "
        f"skipped {c['skipped']}, failed {c['failed']} "
        f"(manifest: {os.path.join(args.out, 'manifest.parquet')})"
    )
    if c["failed"]:
        errors: dict = {}
        for e in table.column("error").to_pylist():
            if e:
                errors[e] = errors.get(e, 0) + 1
        print("failures by error: " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items())))
        return 1
    return 0
