"""Ray job entry point: sweep a sector's light curves.

Submit to a running cluster (it joins with ``address="auto"``)::

    ray job submit --working-dir . -- python jobs/sector_sweep.py \
        --input s3://my-bucket/tess/s0001/ --out /mnt/results/s0001

``--smoke-test`` sweeps a small simulated sector instead (no data, no network).
The job writes ``job_config.json`` beside its output; the sweep itself writes
``run.json`` (counts, timings, nodes used).  Everything here is a thin wrapper
over :func:`exoray.pipelines.sweep.sweep`, the same code the CLI runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Sweep a TESS sector on a Ray cluster.")
    ap.add_argument("--input", help="folder, glob, manifest or URI of light curves")
    ap.add_argument("--out", required=True, help="output folder (resumable)")
    ap.add_argument("--address", default=os.environ.get("RAY_ADDRESS", "auto"), help="Ray address (default: auto)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--smoke-test", action="store_true", help="sweep 12 simulated stars")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from exoray.config import SweepConfig
    from exoray.pipelines.sweep import sweep

    os.makedirs(args.out, exist_ok=True)
    input_spec = args.input
    if args.smoke_test:
        from exoray.simulate import simulate_sector

        input_spec = os.path.join(args.out, "simulated")
        if not os.path.exists(os.path.join(input_spec, "truth.csv")):
            simulate_sector(12, input_spec, seed=1)
    if not input_spec:
        ap.error("--input is required unless --smoke-test is given")
    config = SweepConfig(batch_size=args.batch_size, address=args.address)
    with open(os.path.join(args.out, "job_config.json"), "w") as fh:
        json.dump({"argv": sys.argv, "input": input_spec, "config": config.to_dict()}, fh, indent=2)
    run = sweep(input_spec, args.out, config)
    print(json.dumps(run["counts"]))
    return 0 if run["accounting"]["accounted"] else 1


if __name__ == "__main__":
    sys.exit(main())
