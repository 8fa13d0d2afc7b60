"""Ray job entry point: fetch or read a TESS sector, sweep it, write candidates and reports.

Submit to a running cluster (the job's driver joins it with ``address="auto"``)::

    ray job submit --address http://HEAD:8265 --runtime-env jobs/runtime_env.yaml \\
        -- python jobs/sector_sweep.py --input s3://my-bucket/tess/s0001/ --out /mnt/results/s0001

    # or fetch the sector from MAST first (bulk script, parallel Ray tasks, resumable)
    ray job submit ... -- python jobs/sector_sweep.py --sector 1 --data /mnt/tess/s0001 --out /mnt/results/s0001

``--smoke-test`` simulates a small sector (default 12 stars, ``--smoke-n``)
into ``OUT/simulated`` and sweeps it: no data, no network, a minute or two.

The job writes ``OUT/job_config.json`` (its arguments, the resolved input and
the full :class:`exoray.config.SweepConfig`) before any work, and the sweep
writes ``OUT/run.json`` (counts, accounting, timings, nodes used, history of
earlier runs).  Rerunning the same command resumes: only inputs missing from
``OUT`` are processed.  The exit status is 0 only when every input is
accounted for (preprocessed or quarantined, exactly once).

Everything here is a thin wrapper over :func:`exoray.pipelines.sweep.sweep`
and :func:`exoray.ingest.download.fetch_sector`, the code behind
``exoray sweep`` and ``exoray fetch-sector``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Sweep a TESS sector on a Ray cluster (a `ray job submit` entry point).")
    src = ap.add_argument_group("input (one of)")
    src.add_argument("--input", help="folder, glob, manifest or URI (s3://, gs://) of light curves")
    src.add_argument("--sector", type=int, help="fetch this sector from MAST into --data first, then sweep it")
    src.add_argument("--smoke-test", action="store_true", help="simulate --smoke-n stars into OUT/simulated and sweep them")
    ap.add_argument("--out", required=True, help="output folder (reused for resume)")
    ap.add_argument("--data", help="download folder for --sector (default OUT/data)")
    ap.add_argument("--fetch-limit", type=int, default=None, help="with --sector: only the first K files")
    ap.add_argument("--smoke-n", type=int, default=12, help="stars simulated by --smoke-test (default 12)")
    ap.add_argument("--seed", type=int, default=1, help="simulation seed for --smoke-test")
    ap.add_argument(
        "--address",
        default="auto",
        help="Ray GCS address (default 'auto': the cluster this job was submitted to or runs on)",
    )
    ap.add_argument("--batch-size", type=int, default=None, help="light curves per batch (default: automatic)")
    ap.add_argument("--workers", type=int, default=None,
                    help="analysis workers, each holding one engine (default: one per CPU, or GPU, of the cluster)")
    ap.add_argument("--device", default="cpu", help="search device: cpu (default) or cuda (one GPU per worker)")
    ap.add_argument("--no-search", action="store_true", help="preprocess only (no BLS search, vetting or ranking)")
    ap.add_argument("--no-rank", action="store_true", help="search and vet but leave ranker scores empty")
    ap.add_argument("--reports", choices=("planets", "all", "none"), default="planets", help="vetting reports to render")
    ap.add_argument("--ranker", default=None, help="ranker folder (default: the shipped model)")
    return ap


def _gcs_address(address: str) -> str:
    """``ray.init`` needs the GCS address; a dashboard URL (``http://HEAD:8265``,
    what ``ray job submit --address`` takes, easily passed to the job by
    mistake) means "this cluster", i.e. ``auto``."""
    if address.startswith(("http://", "https://")):
        return "auto"
    return address


def connect_ray(address: str):
    """Join the cluster before the sweep does, merging runtime environments.

    A submitted job already carries a runtime_env (``--runtime-env``); Ray
    refuses a driver ``ray.init(runtime_env=...)`` that sets any of the same
    env var keys.  So the job adds only the worker settings of
    :data:`exoray.runtime.ray_env.WORKER_ENV` the submission did not set;
    the sweep's own ``init_ray`` then sees Ray initialised and reuses it.
    """
    import ray

    from exoray.runtime.ray_env import WORKER_ENV

    if ray.is_initialized():
        return ray
    job_env = {}
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if raw:
        try:
            job_env = (json.loads(raw).get("runtime_env") or {}).get("env_vars") or {}
        except ValueError:
            job_env = {}
    missing = {k: v for k, v in WORKER_ENV.items() if k not in job_env}
    for k, v in WORKER_ENV.items():
        os.environ.setdefault(k, v)
    ray.init(address=address, runtime_env={"env_vars": missing} if missing else None, log_to_driver=True)
    return ray


def _sweep_config(args):
    from exoray.config import SearchConfig, SweepConfig
    from exoray.devices import parse_device

    args.address = _gcs_address(args.address)

    search = None if args.no_search else SearchConfig(rank=not args.no_rank, ranker_dir=args.ranker,
                                                      device=parse_device(args.device))
    return SweepConfig(batch_size=args.batch_size, workers=args.workers, address=args.address, search=search,
                       reports=args.reports)


def _resolve_input(args, ap) -> str:
    given = [x for x in (args.input, args.sector, args.smoke_test or None) if x is not None]
    if len(given) != 1:
        ap.error("give exactly one of --input, --sector or --smoke-test")
    if args.smoke_test:
        from exoray.simulate import simulate_sector

        folder = os.path.join(args.out, "simulated")
        if not os.path.exists(os.path.join(folder, "truth.csv")):  # resume: keep what exists
            simulate_sector(args.smoke_n, folder, seed=args.seed)
        return folder
    if args.sector is not None:
        from exoray.ingest.bulk import bulk_script_url
        from exoray.ingest.download import fetch_sector, manifest_counts

        data = args.data or os.path.join(args.out, "data")
        connect_ray(args.address)
        table = fetch_sector(bulk_script_url(args.sector), data, sector=args.sector, limit=args.fetch_limit, use_ray=True)
        counts = manifest_counts(table)
        logging.getLogger("jobs.sector_sweep").info("fetch: %s", counts)
        # The manifest lists fetched files only; failed downloads are reported
        # by the fetch and retried by rerunning the job.
        return os.path.join(data, "manifest.parquet")
    return args.input


def _ray_job_metadata():
    """The submission's metadata (job_submission_id, ...) when run by ``ray job submit``."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return None
    try:
        return json.loads(raw).get("metadata")
    except ValueError:
        return None


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from exoray.pipelines.sweep import sweep

    os.makedirs(args.out, exist_ok=True)
    config = _sweep_config(args)
    input_spec = _resolve_input(args, ap)
    job_config = {
        "job": "sector_sweep",
        "argv": sys.argv if argv is None else ["jobs/sector_sweep.py", *argv],
        "args": vars(args),
        "input": input_spec,
        "config": config.to_dict(),
        "ray_job": _ray_job_metadata(),
        "written": _dt.datetime.now(_dt.timezone.utc).isoformat(),
    }
    with open(os.path.join(args.out, "job_config.json"), "w") as fh:
        json.dump(job_config, fh, indent=2, default=str)
    connect_ray(config.address)
    run = sweep(input_spec, args.out, config)
    print(json.dumps({"counts": run["counts"], "accounting": run["accounting"]["accounted"], "nodes": len(run["nodes"])}))
    return 0 if run["accounting"]["accounted"] else 1


if __name__ == "__main__":
    sys.exit(main())
