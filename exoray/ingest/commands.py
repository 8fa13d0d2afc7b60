"""``exoray fetch`` and ``exoray fetch-sector`` subcommands.

Heavy imports (astroquery, requests, Ray) happen inside the command
functions so that ``exoray --help`` stays instant.
"""

from __future__ import annotations

import argparse
import logging

from ..errors import ConfigError
from ..runtime.ray_env import init_ray
from .bulk import bulk_script_url
from .download import fetch_sector, manifest_counts
from .mast_query import FFI_PRODUCTS, fetch_all_sectors, fetch_lightcurves, summarize_fetch

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
        description=(
            "Query MAST for one star's light-curve products and download them. "
            "Files land flat in --out under their MAST names (which carry the TIC and the sector); "
            "files already there and valid are not downloaded again. "
            "With --all-sectors (or --sectors) every sector is fetched, a failed file does not stop "
            "the others, temp files of an interrupted run are removed, a per-sector summary of "
            "fetched/skipped/failed/missing files is printed, and the exit status is 1 if any file "
            "failed or a requested sector has no light curve at all (rerun to resume)."
        ),
    )
    p.add_argument("--tic", type=int, required=True, help="TIC ID, e.g. 261136679")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--sector", type=int, default=None, help="one TESS sector (default: all)")
    which.add_argument("--all-sectors", action="store_true",
                       help="every sector MAST lists for the star, with a per-sector summary")
    p.add_argument("--sectors", default=None,
                   help="with --all-sectors (implied): only these sectors, comma-separated, e.g. 24,51")
    p.add_argument("--ffi", action="store_true",
                   help="with --all-sectors (implied): also the FFI light curves (TESS-SPOC and QLP HLSPs)")
    p.add_argument("--out", required=True, help="destination folder (flat: OUT/<MAST file name>)")
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
    if args.all_sectors or args.sectors is not None or args.ffi:
        if args.sector is not None:
            raise ConfigError("--sector cannot be combined with --sectors or --ffi; use --sectors N instead")
        return _fetch_all_sectors(args)

    paths = fetch_lightcurves(
        args.tic, args.sector, args.out, product=args.product,
        base_url=args.base_url, cache_dir=args.cache_dir,
    )
    for p in paths:
        print(p)
    print(f"{len(paths)} file(s) in {args.out}")
    return 0 if paths else 1


def _fetch_all_sectors(args: argparse.Namespace) -> int:
    sectors = None if args.sectors is None else [s for s in args.sectors.split(",") if s.strip()]
    products = [args.product] + (list(FFI_PRODUCTS) if args.ffi else [])
    rows = fetch_all_sectors(
        args.tic, args.out, sectors=sectors, products=products,
        base_url=args.base_url, cache_dir=args.cache_dir,
    )
    for line in summarize_fetch(rows):
        print(line)
    counts = {k: sum(r["status"] == k for r in rows) for k in ("fetched", "skipped", "failed", "missing")}
    n_sectors = len({r["sector"] for r in rows if r["status"] in ("fetched", "skipped")})
    tail = " (rerun the same command to retry the failed files)" if counts["failed"] else ""
    print(
        f"TIC {args.tic}: {counts['fetched'] + counts['skipped']} file(s) from {n_sectors} sector(s) "
        f"in {args.out}: fetched {counts['fetched']}, skipped {counts['skipped']}, "
        f"failed {counts['failed']}, missing {counts['missing']}{tail}"
    )
    # a kind absent from one sector is normal (not every star gets 2-min or
    # QLP data every time); a requested sector with nothing at all is not
    listed = {r["sector"] for r in rows if r["status"] != "missing"}
    empty = sorted({r["sector"] for r in rows} - listed)
    if empty:
        print(f"no light curve of TIC {args.tic} at MAST in sector(s) {', '.join(map(str, empty))}")
    return 1 if counts["failed"] or empty else 0


def cmd_fetch_sector(args: argparse.Namespace) -> int:
    """Run ``exoray fetch-sector``; prints counts, returns 1 if any file failed."""
    import os

    script = args.script or bulk_script_url(args.sector)
    if args.no_ray:
        use_ray = False
    else:
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
