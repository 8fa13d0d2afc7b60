"""Ray job entry point: inject transits, sweep, and report how many were recovered.

Two sources of light curves:

* ``--simulate N`` (or ``--smoke-test``: a few stars): a simulated sector from
  :func:`exoray.simulate.simulate_sector`, whose ``truth.csv`` lists every
  injected planet;
* ``--real DIR|GLOB``: real SPOC light curves.  Each file is copied into
  ``OUT/injected/`` with one planet injected into its PDCSAP (and SAP) flux:
  a limb-darkened Mandel-Agol transit (:func:`exoray.simulate.transit.transit_model`)
  with a log-uniform period, an impact parameter in [0, 0.7], a/R* from the
  star's density (header RADIUS/LOGG, else solar) and a depth set so that the
  expected SNR (depth / sigma * sqrt(points in transit)) is uniform in
  ``--snr``; the draws are written to ``OUT/injected/truth.csv``.

Both then run the ordinary sweep (:func:`exoray.pipelines.sweep.sweep`, on
the Ray cluster the job was submitted to, or a local Ray) and match the
candidates to the injections with :func:`exoray.pipelines.recovery.match_injections`
(period within 1 %, epoch within one duration), the rule the injection-recovery
benchmark uses.  Writes ``OUT/inject_config.json`` (arguments, draws' seed,
sweep configuration) before any work, the sweep's output under ``OUT/sweep``,
and ``OUT/recovery.json`` (overall and per-SNR-bin recovery) plus
``OUT/recovery.csv`` (one row per injection).

    ray job submit --address http://HEAD:8265 --runtime-env jobs/runtime_env.yaml \\
        -- python jobs/inject_recover.py --simulate 2000 --out /data/injrec
    python jobs/inject_recover.py --smoke-test --out /tmp/injrec --address local
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import math
import os
import sys
from typing import Dict, List, Sequence

log = logging.getLogger("jobs.inject_recover")

#: Expected-SNR bins of the report (the benchmark's: below detection, marginal, clear).
SNR_BINS = ((0.0, 7.1), (7.1, 10.0), (10.0, math.inf))
#: Mix for --simulate: planet-rich, with the false-positive classes kept.
PLANET_MIX = "planet=0.7,multi_planet=0.1,eb=0.1,none=0.1"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Inject planets, sweep, report recovery (a `ray job submit` entry point).")
    src = ap.add_argument_group("light curves (one of)")
    src.add_argument("--smoke-test", action="store_true", help="simulate --smoke-n stars (default 8)")
    src.add_argument("--simulate", type=int, metavar="N", help="simulate N stars (planet-rich mix)")
    src.add_argument("--real", metavar="DIR|GLOB", help="inject into copies of these real SPOC light curves")
    ap.add_argument("--out", required=True, help="output folder (resumable)")
    ap.add_argument("--smoke-n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=2024, help="simulation / injection seed")
    ap.add_argument("--snr", type=float, nargs=2, default=(5.0, 30.0), metavar=("LO", "HI"), help="expected SNR range")
    ap.add_argument("--period", type=float, nargs=2, default=(0.8, 10.0), metavar=("LO", "HI"), help="period range [d] (--real)")
    ap.add_argument("--address", default="auto", help="Ray address ('auto': the cluster of the job; 'local': start one)")
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray (with --address local)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None, help="analysis workers (default: one per CPU, or GPU)")
    ap.add_argument("--device", default="cpu", help="search device: cpu (default) or cuda (one GPU per worker)")
    ap.add_argument("--no-rank", action="store_true", help="skip the ranker (scores empty)")
    return ap


# --------------------------------------------------------------------------- injection into real files


def _noise_sigma(flux) -> float:
    """White-noise level of a normalised flux: MAD of point-to-point differences."""
    import numpy as np

    f = flux[np.isfinite(flux)]
    d = np.diff(f)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2.0))


def _star_density(header) -> float:
    """Mean density [g/cm^3] from the TIC RADIUS and LOGG cards, else the Sun's."""
    try:
        r, logg = float(header["RADIUS"]), float(header["LOGG"])
        if r > 0 and math.isfinite(r) and math.isfinite(logg):
            g = 10.0**logg  # cgs
            return 3.0 * g / (4.0 * math.pi * 6.674e-8 * r * 6.957e10)
    except (KeyError, TypeError, ValueError):
        pass
    return 1.41


def inject_into_real(files: Sequence[str], out_dir: str, seed: int, snr_range, period_range) -> List[Dict]:
    """Copy each SPOC file into ``out_dir`` with one injected planet; returns truth rows."""
    import numpy as np
    from astropy.io import fits

    from exoray.errors import InputError
    from exoray.runtime.files import atomic_open
    from exoray.simulate.transit import a_rs_from_density, transit_duration, transit_model

    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(seed)
    truth = []
    for path in files:
        name = os.path.basename(path)
        dest = os.path.join(out_dir, name)
        with fits.open(path, memmap=False) as hdul:
            if "LIGHTCURVE" not in hdul or "PDCSAP_FLUX" not in hdul["LIGHTCURVE"].columns.names:
                raise InputError(f"{path}: not a SPOC light curve (no LIGHTCURVE/PDCSAP_FLUX); --real needs SPOC files")
            hdr0, data = hdul[0].header, hdul["LIGHTCURVE"].data
            time = np.asarray(data["TIME"], dtype=float)
            pdc = np.asarray(data["PDCSAP_FLUX"], dtype=float)
            good = np.isfinite(time) & np.isfinite(pdc)
            if good.sum() < 100:
                raise InputError(f"{path}: fewer than 100 finite PDCSAP cadences; cannot inject")
            sigma = _noise_sigma(pdc[good] / np.nanmedian(pdc[good]))
            span = float(np.ptp(time[good]))
            period = float(np.exp(rng.uniform(*np.log(period_range))))
            t0 = float(np.nanmin(time[good]) + rng.uniform(0.0, period))
            b = float(rng.uniform(0.0, 0.7))
            rho = _star_density(hdr0)
            a_rs = float(a_rs_from_density(period, rho))
            snr_target = float(rng.uniform(*snr_range))
            cadence = float(np.nanmedian(np.diff(time[good])))
            # depth for the target SNR, then rp/R* (iterate once: duration depends on rp)
            rp_rs = 0.05
            for _ in range(3):
                dur = float(transit_duration(period, a_rs, rp_rs, b))
                n_in = max(1.0, (span / period) * dur / cadence)
                depth = snr_target * sigma / math.sqrt(n_in)
                rp_rs = float(min(0.3, math.sqrt(max(depth, 1e-7))))
            model = transit_model(time, period, t0, rp_rs, a_rs, b, exptime=cadence, supersample=3)
            model = np.where(np.isfinite(model), model, 1.0)
            new = hdul.copy()
            for col in ("PDCSAP_FLUX", "SAP_FLUX"):
                if col in new["LIGHTCURVE"].columns.names:
                    new["LIGHTCURVE"].data[col] = new["LIGHTCURVE"].data[col] * model
            new[0].header["EXOINJ"] = (True, "exoray: synthetic transit injected")
            with atomic_open(dest, "wb", perms=0o666) as fh:
                new.writeto(fh, checksum=True)
        in_tr = model < 1.0
        truth.append(
            {
                "tic_id": int(hdr0.get("TICID", -1)),
                "file": name,
                "source": os.path.abspath(path),
                "class": "planet",
                "period_days": period,
                "t0_btjd": t0,
                "duration_hours": dur * 24.0,
                "depth_ppm": depth * 1e6,
                "rp_rs": rp_rs,
                "a_rs": a_rs,
                "b": b,
                "snr": snr_target,
                "sigma_ppm": sigma * 1e6,
                "n_in_transit": int(in_tr[good].sum()),
            }
        )
    import pandas as pd

    pd.DataFrame(truth).to_csv(os.path.join(out_dir, "truth.csv"), index=False)
    return truth


# --------------------------------------------------------------------------- report


def recovery_report(matches: List[Dict]) -> Dict:
    """Overall and per-expected-SNR-bin recovery of the periodic planets."""
    from exoray.pipelines.recovery import recovery_summary

    planets = [m for m in matches if m.get("class") in ("planet", "multi_planet")]
    bins = []
    for lo, hi in SNR_BINS:
        sel = [m for m in planets if lo <= float(m.get("snr", float("nan"))) < hi]
        k = sum(bool(m["recovered"]) for m in sel)
        bins.append({"snr_lo": lo, "snr_hi": None if math.isinf(hi) else hi, "injected": len(sel), "recovered": k,
                     "fraction": (k / len(sel)) if sel else None})
    overall = recovery_summary(matches)
    if isinstance(overall.get("fraction"), float) and math.isnan(overall["fraction"]):
        overall["fraction"] = None
    return {"overall": overall, "by_snr": bins}


def _truth_rows(folder: str) -> List[Dict]:
    import pandas as pd

    t = pd.read_csv(os.path.join(folder, "truth.csv"))
    return [{k: (None if (isinstance(v, float) and math.isnan(v)) else v) for k, v in r.items()} for r in t.to_dict("records")]


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    chosen = [x for x in (args.smoke_test or None, args.simulate, args.real) if x is not None]
    if len(chosen) != 1:
        ap.error("give exactly one of --smoke-test, --simulate N or --real DIR|GLOB")
    if args.simulate is not None and args.simulate < 1:
        ap.error("--simulate needs N >= 1")

    from exoray.config import SearchConfig, SweepConfig
    from exoray.devices import parse_device
    from exoray.pipelines.recovery import match_injections
    from exoray.pipelines.sweep import sweep

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from sector_sweep import _gcs_address, connect_ray  # same Ray joining rules as the sweep job

    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    address = _gcs_address(args.address)
    config = SweepConfig(
        batch_size=args.batch_size,
        workers=args.workers,
        address=None if address == "local" else address,
        num_cpus=args.num_cpus,
        search=SearchConfig(rank=not args.no_rank, device=parse_device(args.device)),
        reports="none",
    )
    with open(os.path.join(out, "inject_config.json"), "w") as fh:
        json.dump(
            {"job": "inject_recover", "args": vars(args), "config": config.to_dict(),
             "snr_bins": [list(b) for b in SNR_BINS], "written": _dt.datetime.now(_dt.timezone.utc).isoformat()},
            fh, indent=2, default=str,
        )

    if args.real:
        from exoray.pipelines.inputs import resolve_inputs

        lc_dir = os.path.join(out, "injected")
        if not os.path.exists(os.path.join(lc_dir, "truth.csv")):
            files = resolve_inputs(args.real)
            inject_into_real(files, lc_dir, args.seed, tuple(args.snr), tuple(args.period))
    else:
        from exoray.simulate import simulate_sector

        n = args.smoke_n if args.smoke_test else args.simulate
        lc_dir = os.path.join(out, "simulated")
        if not os.path.exists(os.path.join(lc_dir, "truth.csv")):
            simulate_sector(n, lc_dir, seed=args.seed, mix=PLANET_MIX, snr_range=tuple(args.snr))
    truth = _truth_rows(lc_dir)

    if address != "local":
        connect_ray(address)
    run = sweep(lc_dir, os.path.join(out, "sweep"), config)
    import pyarrow.parquet as pq

    cands = pq.read_table(os.path.join(out, "sweep", "candidates.parquet")).to_pylist()
    matches = match_injections(cands, truth)
    report = recovery_report(matches) | {
        "light_curves": run["counts"]["inputs"],
        "accounting": run["accounting"]["accounted"],
        "candidates": len(cands),
        "source": "real" if args.real else "simulated",
    }
    with open(os.path.join(out, "recovery.json"), "w") as fh:
        json.dump(report, fh, indent=2, default=str)
    import pandas as pd

    pd.DataFrame(matches).to_csv(os.path.join(out, "recovery.csv"), index=False)
    print(json.dumps({"overall": report["overall"], "by_snr": report["by_snr"], "accounting": report["accounting"]}))
    return 0 if run["accounting"]["accounted"] else 1


if __name__ == "__main__":
    sys.exit(main())
