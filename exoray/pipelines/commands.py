"""CLI subcommands of the pipelines: ``exoray sweep``, ``demo``, ``search``, ``rank`` and ``report``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..config import PreprocessConfig, SearchConfig, SweepConfig
from ..devices import parse_device
from ..errors import ConfigError, InputError
from ..schemas import table_to_preprocessed
from ..simulate import simulate_sector
from .recovery import match_injections, recovery_summary
from .stages import rank_stage, search_stage
from .sweep import CANDIDATES_FILE, INPUT_STAGES, LIGHTCURVES_DIR, QUARANTINE_FILE, REPORTS_DIR, sweep

# The modules that do the work (search, reports: torch, matplotlib) are imported
# inside the command functions: `exoray --help` imports this module to list its
# subcommands.

#: The embedded default data set: a simulated sector, made on first use.
DEFAULT_SIM_STARS = 60
DEFAULT_SIM_SEED = 2026


def _add_ray_options(g, *, batches: bool = True) -> None:
    if batches:
        g.add_argument("--batch-size", type=int, default=None,
                       help="light curves per batch, the unit read, analysed and written together (default: auto, "
                       "8-64)")
    g.add_argument("--workers", type=int, default=None,
                   help="analysis workers on Ray, each holding one engine (default: one per CPU of the cluster, "
                   "one per GPU with --device cuda)")
    g.add_argument("--num-cpus", type=int, default=None, help="CPUs for a local Ray instance (default: all)")
    g.add_argument("--address", default=None, help="Ray cluster address ('auto' joins a running cluster)")
    g.add_argument("--no-ray", action="store_true", help="run in this process without Ray (debugging, benchmarks)")


def _add_search_options(s, *, with_no_search: bool = True) -> None:
    if with_no_search:
        s.add_argument("--no-search", action="store_true",
                       help="preprocess only (no BLS search / vetting); 'exoray search OUT' searches later")
    s.add_argument("--max-planets", type=int, default=5,
                   help="most signals reported per light curve (stellar variability does not count; default 5)")
    s.add_argument("--snr-threshold", type=float, default=7.1,
                   help="smallest SNR of a reported signal, measured against the light curve's own noise on "
                   "the transit's duration (red noise included) (default 7.1)")
    s.add_argument("--sde-threshold", type=float, default=0.0,
                   help="smallest SDE of a reported signal's periodogram peak (default 0: the SNR decides)")
    s.add_argument("--min-period", type=float, default=0.5, help="shortest period searched (days; default 0.5)")
    s.add_argument("--max-period", type=float, default=None,
                   help="longest period searched (days; default: the whole span of the data, two transits "
                   "still needed)")
    s.add_argument("--device", default="cpu", metavar="DEVICE",
                   help="where the BLS search runs: cpu (default), cuda or cuda:N (cuda:N without Ray only: Ray "
                   "gives each worker its own GPU); refused before any work when no CUDA device is available")
    s.add_argument("--search-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="wall-clock limit on the search of one light curve; a curve that runs past it is "
                   "quarantined (stage 'search') and the run goes on (default 600)")
    s.add_argument("--max-baseline-days", type=float, default=400.0,
                   help="longest time span searched; longer light curves are quarantined (stage 'search') "
                   "before the search starts (default 400)")
    s.add_argument("--max-trial-periods", type=int, default=300_000,
                   help="most trial periods one search may use (default 300000)")
    s.add_argument("--toi-catalog", default=None,
                   help="ExoFOP TOI CSV for the known-object cross-match (default: $EXORAY_TOI_CATALOG, else "
                   "the TOI snapshot shipped with exoray)")
    s.add_argument("--eb-catalog", default=None,
                   help="TESS EB catalogue CSV (Prsa et al. 2022) for the cross-match (default: "
                   "$EXORAY_EB_CATALOG, else the EB snapshot shipped with exoray)")
    s.add_argument("--no-catalog", action="store_true",
                   help="no known-object cross-match (known_object stays empty)")
    s.add_argument("--no-rank", action="store_true", help="do not score candidates (score columns stay empty)")
    s.add_argument("--ranker", default=None, help="ranker folder from 'exoray train ranker' (default: the shipped model)")
    s.add_argument("--single-events", action="store_true",
                   help="also look for single transits with the registry's anomaly scorers (exoray train / "
                   "exoray evaluate anomaly put them there)")
    s.add_argument("--anomaly-method", default="combined",
                   choices=["ocsvm", "autoencoder", "transformer", "combined"],
                   help="anomaly scorer for --single-events (default combined)")
    s.add_argument("--model-registry", default=None,
                   help="model registry folder (default $EXORAY_MODEL_REGISTRY or ~/.exoray/models)")
    s.add_argument("--reports", default="planets", choices=["planets", "all", "none"],
                   help="one-page PNG+PDF reports for planet candidates (default), all candidates, or none")


def _add_sweep_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution")
    _add_ray_options(g)
    g.add_argument("--no-resume", action="store_true", help="refuse to reuse an OUT that already has results")
    g.add_argument("--force", action="store_true",
                   help="discard the results already in OUT and redo everything (a rerun into an OUT whose "
                   "results were made with other analysis options is refused without it)")
    g.add_argument("--no-verify", action="store_true",
                   help="read FITS files whose CHECKSUM/DATASUM fails instead of quarantining them")
    g.add_argument("--no-group-sectors", action="store_true",
                   help="search every file on its own instead of each star once over all its sectors")
    q = p.add_argument_group("preprocessing")
    q.add_argument("--flux-column", default=None, help="force a flux column (default: the product's best, e.g. PDCSAP_FLUX)")
    q.add_argument("--quality-mask", default="default", choices=["none", "default", "hard", "hardest"])
    q.add_argument("--detrend", default="biweight", choices=["biweight", "savgol", "none"])
    q.add_argument("--window-days", type=float, default=None,
                   help="fix the detrending window in days (default: chosen per star, 0.3-1.5 d, weighing the "
                   "transit depth a window keeps against the red noise it leaves)")
    q.add_argument("--sigma-upper", type=float, default=4.0, help="clip points this many sigma above the trend")
    _add_search_options(p.add_argument_group("transit search"))


def _search_config_from_args(args):
    return SearchConfig(
        max_planets=args.max_planets,
        sde_threshold=args.sde_threshold,
        snr_threshold=args.snr_threshold,
        min_period_days=args.min_period,
        max_period_days=args.max_period,
        toi_catalog=args.toi_catalog,
        eb_catalog=args.eb_catalog,
        use_catalog=not getattr(args, "no_catalog", False),
        rank=not args.no_rank,
        ranker_dir=args.ranker,
        single_events=args.single_events,
        anomaly_method=args.anomaly_method,
        model_registry=args.model_registry,
        max_baseline_days=args.max_baseline_days,
        max_trial_periods=args.max_trial_periods,
        device=parse_device(args.device),
    )


def _config_from_args(args):
    if args.no_search and parse_device(args.device) != "cpu":
        raise ConfigError(f"--device {args.device} chooses where the search runs, and --no-search runs none "
                          "(preprocessing is CPU only); drop one of the two")
    pre = PreprocessConfig(
        quality_mask=args.quality_mask,
        detrend=args.detrend,
        window_days=args.window_days,
        **({"savgol_window_days": args.window_days} if args.window_days else {}),
        sigma_upper=args.sigma_upper,
    )
    return SweepConfig(
        batch_size=args.batch_size,
        workers=args.workers,
        num_cpus=args.num_cpus,
        address=args.address,
        flux_column=args.flux_column,
        resume=not args.no_resume,
        verify_checksums=not args.no_verify,
        group_sectors=not getattr(args, "no_group_sectors", False),
        search_timeout_s=args.search_timeout,
        preprocess=pre,
        search=None if args.no_search else _search_config_from_args(args),
        reports=args.reports,
    )


def _ensure_default_sector(out: str, n: int, seed: int) -> str:
    """Simulate the embedded default sector into OUT/simulated (once)."""
    sim_dir = os.path.join(out, "simulated")
    if not os.path.exists(os.path.join(sim_dir, "truth.csv")):
        print(f"simulating a TESS sector of {n} stars (seed {seed}) into {sim_dir} ...", file=sys.stderr)
        simulate_sector(n, sim_dir, seed=seed)
    return sim_dir


#: Columns of the console's closing summary: it must stay readable in a 100-column terminal.
SUMMARY_WIDTH = 100

#: Stage times of a sweep's closing summary, in the order the stages run (run.json ``timings``).
_STAGE_LABELS = (("read", "read"), ("preprocess", "preprocess"), ("search", "search+vet"), ("rank", "rank"),
                 ("report", "reports"), ("write", "write"))


def _print_items(head: str, items) -> None:
    """``  head item, item, ...`` wrapped at :data:`SUMMARY_WIDTH` columns between items, never inside one."""
    line = "  " + head
    for n, item in enumerate(items):
        piece = item + ("," if n < len(items) - 1 else "")
        if len(line) + 1 + len(piece) > SUMMARY_WIDTH and line.strip():
            print(line)
            line = "   "
        line += " " + piece
    print(line)


def _duration(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1e3:.1f} s"


def _print_timings(t: dict) -> None:
    """Time per light curve of each stage that ran, then CPU time and throughput."""
    # a stage that did not run (no search, ranking or reports asked for; no preprocessing in
    # 'exoray search') sums to exactly 0 ms and is left out
    parts = [f"{label} {_duration(t[f'{st}_ms_per_lc'])}" for st, label in _STAGE_LABELS
             if (t.get(f"{st}_ms_per_lc") or 0) > 0]
    if parts:
        _print_items("per light curve:", parts)
    extra = []
    if t.get("cpu_ms_per_lc") is not None:
        extra.append(f"CPU {_duration(t['cpu_ms_per_lc'])} per light curve")
    if t.get("throughput_lc_per_s"):
        extra.append(f"{t['throughput_lc_per_s']:.2f} light curves/s overall")
    if extra:
        print("  " + ", ".join(extra))


def _print_summary(run: dict) -> None:
    c, t, a = run["counts"], run["timings"], run["accounting"]
    print(
        f"swept {c['inputs']} inputs into {run['out']}: "
        f"{c['preprocessed_total']} preprocessed, {c['quarantined_total']} quarantined "
        f"({c['skipped_resume']} already done), {t['wall_s']:.1f} s"
    )
    if t.get("throughput_lc_per_s"):
        _print_timings(t)
    _print_quarantine(run["out"])
    if not a["accounted"]:
        print(f"  WARNING: {a['n_missing']} inputs missing, {a['n_duplicates']} duplicated", file=sys.stderr)
    if run["config"].get("search") is not None:
        print(
            f"  {_plural(c['candidates_total'], 'candidate')} in {os.path.join(run['out'], 'candidates.parquet')}"
            + (f"; search failed on {c['search_failed_this_run']} curves (see quarantine)" if c["search_failed_this_run"] else "")
        )
    _print_reports(run["out"])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _print_quarantine(out: str) -> None:
    """How many quarantine rows each stage holds, and where the reasons are."""
    import pyarrow.parquet as pq

    path = os.path.join(out, "quarantine.parquet")
    if not os.path.exists(path):
        return
    stages = pq.read_table(path, columns=["stage"]).column("stage").to_pylist()
    if stages:
        counts = {}
        for st in stages:
            counts[st] = counts.get(st, 0) + 1
        _print_items("quarantined:", [f"{n} at {st}" for st, n in sorted(counts.items(), key=lambda x: -x[1])]
                     + [f"reasons in {path}"])


def _print_reports(out: str) -> None:
    reports = os.path.join(out, "reports")
    n = len([f for f in os.listdir(reports) if f.endswith(".pdf")]) if os.path.isdir(reports) else 0
    if n:
        print(f"  {n} vetting reports (PDF + PNG) in {reports}; 'exoray dashboard {out}' to browse")


def _short_known(label) -> str:
    """A catalogue match without the catalogue period (the table shows the candidate's): 'TOI-144.01 (CP)'.

    A match at a period alias keeps its ratio, candidate over catalogue
    period: 'EB TIC 98853987 x1/2'.
    """
    import re

    if not label:
        return ""
    alias = ""
    m = re.match(r"alias (\S+) of (.*)$", label)
    if m:
        alias, label = f" x{m.group(1)}", m.group(2)
    label = re.sub(r",? ?P=[0-9.]+ d", "", label).replace(" ()", "")
    return label + alias


def _ranker_prior(run: dict):
    """The planet prior the ranker's scores are stated at, from the ranker folder the run used."""
    d = ((run.get("fingerprint") or {}).get("_files") or {}).get("ranker")
    try:
        with open(os.path.join(d, "config.json")) as fh:
            return json.load(fh).get("prior")
    except (OSError, TypeError, ValueError):
        return None


def _print_top_candidates(out: str, k: int = 10, run: dict = None) -> list:
    """The best ``k`` candidates (by score, then SNR) as a table at most :data:`SUMMARY_WIDTH` columns wide."""
    import math

    import pyarrow.parquet as pq

    path = os.path.join(out, "candidates.parquet")
    if not os.path.exists(path):
        return []
    rows = pq.read_table(path).to_pylist()
    score = lambda r: (r["score"] if r["score"] is not None else -1.0, r["snr"] or 0.0)  # noqa: E731
    rows.sort(key=score, reverse=True)
    if not rows:
        return rows
    counts = {}
    for r in rows:
        counts[r["disposition"]] = counts.get(r["disposition"], 0) + 1
    _print_items("dispositions:", [f"{n} {d}" for d, n in sorted(counts.items(), key=lambda x: -x[1])])
    prior = _ranker_prior(run or {})
    print(f"\ntop {min(k, len(rows))} of {len(rows)} candidates; score = probability that it is a planet"
          + (f" at a {prior:.0%} prior" if prior else "") + ", [90% interval]:")

    def num(v, fmt, w):
        return f"{'-':>{w}}" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:{w}{fmt}}"

    print(f"{'TIC':>10} {'sec':>3} {'P [d]':>8} {'depth':>7} {'SNR':>5}  {'score [90%]':<16}  "
          f"{'disposition':<16}  known object")
    known_w = SUMMARY_WIDTH - 75
    for r in rows[:k]:
        sc = "-" if r["score"] is None else (
            f"{r['score']:.2f} [{r['score_lo']:.2f},{r['score_hi']:.2f}]" if r["score_lo"] is not None
            else f"{r['score']:.2f}")
        known = _short_known(r.get("known_object"))
        known = known if len(known) <= known_w else known[: known_w - 3] + "..."
        print(f"{r['tic_id']:>10} {r['sector']:>3} {num(r['period_days'], '.4f', 8)} {num(r['depth_ppm'], '.0f', 7)} "
              f"{num(r['snr'], '.1f', 5)}  {sc:<16}  {str(r['disposition'] or '-'):<16}  {known}".rstrip())
    print("(depth in ppm; known object: TOI or TESS EB cross-match, 'xN' = at N times the catalogue period)")
    return rows


def _check_out(out: str) -> None:
    """``--out`` must be a folder (new or existing); say so before any work if it cannot be one."""
    target = p = os.path.abspath(out)
    while not os.path.exists(p):
        up = os.path.dirname(p)
        if up == p:
            return
        p = up
    if os.path.isdir(p):
        return
    if p == target:
        raise InputError(f"{out}: --out must be a folder, and this is an existing file; pass a new or existing "
                         "folder, or move the file away")
    raise InputError(f"{out}: --out cannot be created because {p} is a file, not a folder; pass another --out")


def _nothing_read(run: dict) -> bool:
    """True when the sweep had inputs and not one of them became a light curve."""
    c = run["counts"]
    return c["inputs"] > 0 and c["preprocessed_total"] == 0


def _print_unreadable(out: str, k: int = 3) -> None:
    """The first quarantine reasons, for a sweep where nothing could be read."""
    import pyarrow.parquet as pq

    path = os.path.join(out, QUARANTINE_FILE)
    rows = pq.read_table(path).to_pylist() if os.path.exists(path) else []
    rows = [r for r in rows if r["stage"] in INPUT_STAGES]
    print(f"exoray sweep: error: none of the inputs could be used; {len(rows)} quarantined "
          f"(all reasons: {path}). First reasons:", file=sys.stderr)
    for r in rows[:k]:
        msg = " ".join(str(r["message"]).split())
        print(f"  [{r['stage']}] {r['error']}: {msg}", file=sys.stderr)


def _check_catalogs(config) -> None:
    """Read the known-object catalogues once before any work: a wrong path fails here, in one line."""
    if config.search is not None:
        from ..search.candidates import load_known_catalogs

        load_known_catalogs(config.search)


def cmd_sweep(args) -> int:
    _check_out(args.out)
    config = _config_from_args(args)
    _check_catalogs(config)
    input_spec = args.input or _ensure_default_sector(args.out, DEFAULT_SIM_STARS, DEFAULT_SIM_SEED)
    run = sweep(input_spec, args.out, config, use_ray=not args.no_ray, force=args.force)
    _print_summary(run)
    _print_top_candidates(run["out"], run=run)
    if _nothing_read(run):
        _print_unreadable(run["out"])
        return 1
    return 0 if run["accounting"]["accounted"] else 1


def cmd_demo(args) -> int:
    import csv

    _check_out(args.out)
    config = _config_from_args(args)
    _check_catalogs(config)
    sim_dir = _ensure_default_sector(args.out, args.n, args.seed)
    run = sweep(sim_dir, args.out, config, use_ray=not args.no_ray, force=args.force)
    _print_summary(run)
    rows = _print_top_candidates(args.out, run=run)
    if config.search is not None:
        with open(os.path.join(sim_dir, "truth.csv")) as fh:
            truth = [
                {k: (float(v) if k in ("period_days", "t0_btjd", "duration_hours") and v not in ("", None) else v)
                 for k, v in r.items()}
                for r in csv.DictReader(fh)
            ]
        for r in truth:
            r["tic_id"] = int(r["tic_id"])
            if r.get("period_days") in ("", None):
                r["period_days"] = None
        rec = recovery_summary(match_injections(rows, truth))
        print(f"\nrecovered {rec['recovered']} of {rec['injected']} injected planets "
              "(period within 1%, epoch within one duration)")
    return 0 if run["accounting"]["accounted"] else 1


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="read, preprocess, search and rank a sector of light curves on Ray",
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
    _register_stages(sub)
    _register_report(sub)


def cmd_search(args) -> int:
    config = SweepConfig(workers=args.workers, num_cpus=args.num_cpus, address=args.address,
                         search_timeout_s=args.search_timeout, search=_search_config_from_args(args),
                         reports=args.reports)
    run = search_stage(args.out, config, use_ray=not args.no_ray, force=args.force)
    c, t = run["counts"], run["timings"]
    print(f"searched {c['searched_this_run']} light curves in {c['parts_searched_this_run']} parts of {run['out']} "
          f"({c['skipped_resume']} of {c['parts']} parts already searched), {t['wall_s']:.1f} s: "
          f"{c['candidates_this_run']} candidates; {c['candidates_total']} in "
          f"{os.path.join(run['out'], 'candidates.parquet')}")
    if t.get("throughput_lc_per_s"):
        _print_timings(t)
    if c["search_failed_this_run"]:
        print(f"  search failed on {c['search_failed_this_run']} curves (see quarantine.parquet)")
    _print_reports(run["out"])
    _print_top_candidates(run["out"], run=run)
    return 0 if run["accounting"]["all_parts_searched"] else 1


def cmd_rank(args) -> int:
    run = rank_stage(args.out, args.ranker)
    c = run["counts"]
    print(f"scored {c['scored']} candidates in {c['parts']} parts of {run['out']} with the ranker in "
          f"{run['config']['ranker_dir']}; {c['candidates_total']} in {os.path.join(run['out'], 'candidates.parquet')}")
    return 0


def _register_stages(sub) -> None:
    p = sub.add_parser(
        "search",
        help="search, vet and rank the preprocessed light curves of a sweep's output (resumable)",
        description=(
            "Search OUT/lightcurves/*.parquet (made by 'exoray sweep --no-search', or by a sweep whose search "
            "should be redone with --force) into OUT/candidates/ and OUT/candidates.parquet. Each light-curve "
            "part is one batch; a rerun searches only the parts without a candidate part. The preprocessing "
            "settings come from the sweep's record in OUT/run.json."
        ),
    )
    p.add_argument("out", metavar="OUT", help="a sweep's output folder")
    p.add_argument("--force", action="store_true",
                   help="search every part again (their candidate parts are removed first)")
    _add_ray_options(p.add_argument_group("execution"), batches=False)
    _add_search_options(p.add_argument_group("transit search"), with_no_search=False)
    p.set_defaults(func=cmd_search)

    r = sub.add_parser(
        "rank",
        help="score a sweep's candidates again with another ranker and re-apply the decision",
        description=(
            "Score every periodic candidate of OUT/candidates/ with the ranker in --ranker DIR (default: the "
            "shipped model), decide each disposition again from its vetting rules and the new score, and "
            "rewrite the parts and OUT/candidates.parquet atomically. Rerunning gives the same result."
        ),
    )
    r.add_argument("out", metavar="OUT", help="a sweep's output folder")
    r.add_argument("--ranker", default=None, metavar="DIR",
                   help="ranker folder from 'exoray train ranker' (default: the shipped model)")
    r.set_defaults(func=cmd_rank)


def cmd_report(args) -> int:
    """Render one-page reports for candidates of a finished sweep."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from ..reports import make_report

    cpath = os.path.join(args.out, CANDIDATES_FILE)
    if not os.path.exists(cpath):
        raise InputError(f"{cpath}: no candidates table; run 'exoray sweep ... --out {args.out}' first")
    rows = pq.read_table(cpath).to_pylist()
    if args.tic is not None:
        rows = [r for r in rows if r["tic_id"] == args.tic]
    if args.candidate is not None:
        rows = [r for r in rows if r["candidate_index"] == args.candidate]
    if not rows:
        raise InputError(f"{cpath}: no candidate matches tic={args.tic} candidate={args.candidate}")
    lcs = pads.dataset(os.path.join(args.out, LIGHTCURVES_DIR), format="parquet")
    out_dir = args.report_dir or os.path.join(args.out, REPORTS_DIR)
    for src in sorted({r["source_path"] for r in rows}):
        table = lcs.to_table(filter=pc.field("source_path") == src)
        if table.num_rows != 1:
            print(f"{src}: preprocessed light curve not found in {args.out}; skipped", file=sys.stderr)
            continue
        plc = table_to_preprocessed(table)[0]
        for r in (r for r in rows if r["source_path"] == src):
            paths = make_report(plc, r, out_dir=out_dir)
            print(f"TIC {r['tic_id']} candidate {r['candidate_index']}: {paths.get('pdf')} {paths.get('png')}")
    return 0


def _register_report(sub) -> None:
    r = sub.add_parser(
        "report",
        help="render one-page PNG+PDF vetting reports for a sweep's candidates",
        description="Render reports from OUT/candidates.parquet and OUT/lightcurves (vetting is recomputed).",
    )
    r.add_argument("out", help="a sweep's output folder")
    r.add_argument("--tic", type=int, default=None, help="only this TIC")
    r.add_argument("--candidate", type=int, default=None, help="only this candidate index")
    r.add_argument("--report-dir", default=None, help="where to write (default OUT/reports)")
    r.set_defaults(func=cmd_report)
