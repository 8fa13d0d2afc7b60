"""Bounded load test of the scoring service on loopback.

Open-loop load: requests are scheduled at a fixed rate for a fixed duration,
with at most ``--concurrency`` in flight (a request that finds every slot
busy waits for one, and its latency is counted **from its scheduled send
time**, so a slow server cannot hide its queueing: no coordinated omission).
Reports throughput, p50/p95/p99 latency and errors for ``/v1/rank`` and
``/v1/score``, with and without ``@serve.batch`` in the model replicas.

Targets, on a 2-core machine: ``/v1/rank`` p99 < 50 ms at 100 req/s;
``/v1/score`` for a 2-min sector light curve (~18-20k cadences) p99 < 500 ms
at 5 req/s; 0 errors.

Run::

    python benchmarks/bench_serve.py --out benchmarks/results/serve.json
    python benchmarks/bench_serve.py --quick            # 5-s scenarios
    python benchmarks/bench_serve.py --url http://127.0.0.1:8000 --modes as-deployed

``/v1/score`` uploads a real SPOC 2-min FITS file (WASP-4, 19,737 cadences)
from ``../shared/data/real`` (or ``$EXORAY_SHARED_DATA``); with no real data
it sends a simulated 27-day 2-min light curve as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EXORAY_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))
WASP4 = SHARED / "tess_spoc_2min" / "tess2018234235059-s0002-0000000402026209-0121-s_lc.fits"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_payloads(n: int, seed: int = 0) -> List[bytes]:
    """``n`` one-candidate /v1/rank bodies with varied, plausible statistics."""
    rng = np.random.default_rng(seed)
    out = []
    disps = ["planet_candidate", "eclipsing_binary", "variability", "instrumental", "false_alarm"]
    for i in range(n):
        rec = {
            "id": i, "period_days": float(10 ** rng.uniform(-0.3, 1.2)), "duration_hours": float(rng.uniform(1, 6)),
            "depth_ppm": float(10 ** rng.uniform(2.3, 4.5)), "snr": float(rng.uniform(7, 80)),
            "sde": float(rng.uniform(7, 30)), "n_transits": int(rng.integers(2, 20)),
            "odd_even_sigma": float(abs(rng.normal(0, 2))), "secondary_sigma": float(abs(rng.normal(0, 3))),
            "disposition": disps[int(rng.integers(0, 5))], "vet_flags": "", "radius": float(rng.uniform(0.3, 2)),
            "teff": float(rng.uniform(3200, 7000)), "tmag": float(rng.uniform(6, 14)),
        }
        out.append(json.dumps({"candidates": [rec]}).encode())
    return out


def score_payload() -> Dict[str, Any]:
    """Request kwargs for /v1/score: the WASP-4 FITS upload, or a simulated JSON curve."""
    if WASP4.exists():
        data = WASP4.read_bytes()
        return {"kind": "fits", "name": WASP4.name, "data": data, "cadences": 19737}
    from exoray.simulate import simulate_lightcurve  # noqa: F401 - only when no real data

    rng = np.random.default_rng(0)
    t = 1000.0 + np.arange(0, 27.0, 2.0 / 1440.0)
    f = 1000.0 * (1 + rng.normal(0, 5e-4, t.size))
    ph = (t - 1001.0 + 1.5) % 3.0 - 1.5
    f[np.abs(ph) < 0.05] *= 0.99
    return {"kind": "json", "data": json.dumps({"time": t.tolist(), "flux": f.tolist()}).encode(),
            "cadences": int(t.size)}


async def run_load(url: str, path: str, rate: float, duration: float, concurrency: int, make_request) -> Dict[str, Any]:
    """Open-loop load at ``rate`` req/s for ``duration`` s, at most ``concurrency`` in flight."""
    import aiohttp

    n = int(round(rate * duration))
    sem = asyncio.Semaphore(concurrency)
    lat: List[float] = []
    errors: Dict[str, int] = {}
    conn = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        t0 = time.perf_counter() + 0.05

        async def one(i: int):
            sched = t0 + i / rate
            delay = sched - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            async with sem:
                try:
                    async with make_request(session, url + path, i) as resp:
                        await resp.read()
                        if resp.status != 200:
                            errors[str(resp.status)] = errors.get(str(resp.status), 0) + 1
                except Exception as exc:  # noqa: BLE001 - counted, reported
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                finally:
                    lat.append(time.perf_counter() - sched)

        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    a = np.asarray(lat) * 1e3
    return {
        "path": path, "target_rate": rate, "duration_s": duration, "concurrency": concurrency, "requests": n,
        "completed": n - sum(errors.values()), "errors": errors, "n_errors": sum(errors.values()),
        "throughput_rps": n / wall if wall > 0 else None,
        "p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()), "mean_ms": float(a.mean()),
    }


def _rank_request(bodies):
    def make(session, url, i):
        return session.post(url, data=bodies[i % len(bodies)], headers={"content-type": "application/json"})

    return make


def _score_request(payload):
    import aiohttp

    def make(session, url, i):
        if payload["kind"] == "fits":
            form = aiohttp.FormData()
            form.add_field("file", payload["data"], filename=payload["name"], content_type="application/fits")
            return session.post(url, data=form)
        return session.post(url, data=payload["data"], headers={"content-type": "application/json"})

    return make


def serve_cpu_seconds() -> Dict[str, float]:
    """CPU seconds (user + system) used so far by each Serve process on this machine.

    Keys are the Ray process titles (``ServeReplica:exoray:Ingress``,
    ``ProxyActor``, ...), summed over replicas.  Differences across a
    scenario give the CPU cost per request, which, unlike latency, does not
    depend on what else the machine is running.
    """
    out: Dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):  # Linux; psutil is not a dependency
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
            if "ServeReplica:exoray:" in cmd:
                key = cmd.split("ServeReplica:exoray:")[1].split()[0].split(".")[0]
            elif "ProxyActor" in cmd:
                key = "ProxyActor"
            else:
                continue
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            out[key] = out.get(key, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return out


def _cpu_note() -> Dict[str, Any]:
    la = os.getloadavg()
    return {"loadavg_1_5_15": [round(x, 2) for x in la], "cpus": os.cpu_count()}


def deploy(port: int, batching: bool, search_replicas: int, search_cpus: float):
    from exoray.serve.commands import start_service, wait_ready

    settings = {
        "batching": batching,
        "deployments": {"Searcher": {"num_replicas": search_replicas,
                                     "ray_actor_options": {"num_cpus": search_cpus}}},
    }
    start_service(settings, "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, timeout_s=300)
    return url


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="benchmark a running service instead of starting one")
    ap.add_argument("--modes", default="batched,unbatched",
                    help="comma list of batched, unbatched (or 'as-deployed' with --url)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    ap.add_argument("--rank-rate", type=float, default=100.0)
    ap.add_argument("--score-rate", type=float, default=5.0)
    ap.add_argument("--rank-concurrency", type=int, default=32)
    ap.add_argument("--score-concurrency", type=int, default=16)
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    ap.add_argument("--search-replicas", type=int, default=2)
    ap.add_argument("--search-cpus", type=float, default=0.7,
                    help="CPU share per search replica (Ingress 0.1 + ranker 0.2 + anomaly 0.2 must fit too)")
    ap.add_argument("--skip-score", action="store_true")
    ap.add_argument("--quick", action="store_true", help="5-s scenarios")
    ap.add_argument("--out", help="write the results as JSON")
    args = ap.parse_args(argv)
    duration = 5.0 if args.quick else args.duration

    results: Dict[str, Any] = {"machine": {"platform": platform.platform(), "python": platform.python_version(),
                                           **_cpu_note()}, "runs": []}
    bodies = rank_payloads(500)
    payload = None if args.skip_score else score_payload()
    if payload:
        results["score_payload"] = {"kind": payload["kind"], "cadences": payload["cadences"],
                                    "bytes": len(payload["data"])}
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    ray = None
    if not args.url:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        from exoray.runtime.ray_env import init_ray

        ray = init_ray(num_cpus=args.num_cpus, log_to_driver=False)
    try:
        for mode in modes:
            if args.url:
                url = args.url.rstrip("/")
            else:
                from ray import serve

                port = _free_port()
                t = time.perf_counter()
                url = deploy(port, mode == "batched", args.search_replicas, args.search_cpus)
                print(f"[{mode}] service ready in {time.perf_counter() - t:.0f} s", flush=True)
            # warm-up (connections, first batches, lazy imports)
            asyncio.run(run_load(url, "/v1/rank", 20, 1.0, 8, _rank_request(bodies)))
            if payload:
                asyncio.run(run_load(url, "/v1/score", 1, 2.0, 2, _score_request(payload)))
            scen = [("/v1/rank", args.rank_rate, args.rank_concurrency, _rank_request(bodies))]
            if payload:
                scen.append(("/v1/score", args.score_rate, args.score_concurrency, _score_request(payload)))
            for path, rate, conc, make in scen:
                before = _cpu_note()
                cpu0 = serve_cpu_seconds()
                r = asyncio.run(run_load(url, path, rate, duration, conc, make))
                cpu1 = serve_cpu_seconds()
                per = {k: (cpu1[k] - cpu0.get(k, 0.0)) * 1e3 / max(r["completed"], 1) for k in cpu1}
                r.update(mode=mode, load_before=before["loadavg_1_5_15"], load_after=_cpu_note()["loadavg_1_5_15"],
                         cpu_ms_per_request={k: round(v, 2) for k, v in sorted(per.items())},
                         cpu_ms_per_request_total=round(sum(per.values()), 2))
                # what 2 dedicated cores could sustain at that CPU cost (ignores queueing)
                r["capacity_rps_on_2_cores"] = round(2000.0 / max(r["cpu_ms_per_request_total"], 1e-9), 1)
                results["runs"].append(r)
                print(f"[{mode}] {path:10s} {rate:6.1f} req/s x {duration:.0f} s: {r['throughput_rps']:.1f} req/s, "
                      f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                      f"errors {r['n_errors']} {r['errors'] or ''} (load {r['load_before'][0]:.1f}); "
                      f"CPU {r['cpu_ms_per_request_total']:.1f} ms/request {r['cpu_ms_per_request']} "
                      f"-> ~{r['capacity_rps_on_2_cores']} req/s on 2 free cores", flush=True)
            if not args.url:
                serve.shutdown()
    finally:
        if ray is not None:
            ray.shutdown()
    targets = {"/v1/rank": 50.0, "/v1/score": 500.0}
    for r in results["runs"]:
        r["target_p99_ms"] = targets[r["path"]]
        r["meets_target"] = bool(r["p99_ms"] < targets[r["path"]] and r["n_errors"] == 0)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
