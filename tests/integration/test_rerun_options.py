"""Reruns into the same OUT: reused when the options that shape the output match, refused otherwise."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from exoray.cli import main
from exoray.config import PreprocessConfig, SearchConfig, SweepConfig
from exoray.errors import ConfigError
from exoray.pipelines.fingerprint import FINGERPRINT_FILE
from exoray.pipelines.stages import search_stage
from exoray.pipelines.sweep import sweep

FAST = dict(max_period_days=5, max_planets=2)


def _cfg(**search):
    return SweepConfig(search=SearchConfig(**{**FAST, **search}), reports="none")


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("sim")
    simulate_sector(3, d, seed=11)
    return d


def test_sweep_rerun_reuses_same_options_and_refuses_others(sim_dir, tmp_path):
    out = tmp_path / "out"
    first = sweep(str(sim_dir), out, _cfg(), use_ray=False)
    assert first["counts"]["processed_this_run"] == 3
    assert (out / FINGERPRINT_FILE).exists() and first["fingerprint"]["search.snr_threshold"] == 7.1

    # how the work is spread, the time limit and the reports do not shape the results
    again = sweep(str(sim_dir), out, SweepConfig(search=SearchConfig(**FAST), reports="planets", batch_size=1,
                                                 workers=3, search_timeout_s=30.0), use_ray=False)
    assert again["counts"]["skipped_resume"] == 3 and again["counts"]["processed_this_run"] == 0
    candidates = (out / "candidates.parquet").read_bytes()

    with pytest.raises(ConfigError) as err:
        sweep(str(sim_dir), out, _cfg(snr_threshold=9.0), use_ray=False)
    msg = str(err.value)
    assert "--snr-threshold 7.1 -> 9.0" in msg and "--force" in msg and "new --out" in msg
    assert "\n" not in msg
    with pytest.raises(ConfigError, match=r"--detrend biweight -> savgol"):
        sweep(str(sim_dir), out, SweepConfig(preprocess=PreprocessConfig(detrend="savgol"),
                                             search=SearchConfig(**FAST), reports="none"), use_ray=False)
    assert (out / "candidates.parquet").read_bytes() == candidates, "a refused rerun must not touch OUT"

    forced = sweep(str(sim_dir), out, _cfg(snr_threshold=9.0), use_ray=False, force=True)
    assert forced["counts"]["processed_this_run"] == 3 and forced["counts"]["preprocessed_total"] == 3
    assert all(r["snr"] >= 9.0 for r in pq.read_table(out / "candidates.parquet").to_pylist())
    assert len(json.loads((out / "run.json").read_text())["history"]) == 2
    sweep(str(sim_dir), out, _cfg(snr_threshold=9.0), use_ray=False)  # the new options are now OUT's own


def test_a_run_killed_midway_is_checked_too(sim_dir, tmp_path):
    """The fingerprint is written before any part, so new inputs added later are held to it."""
    out = tmp_path / "out"
    files = sorted(str(p) for p in sim_dir.glob("*.fits"))
    listing = tmp_path / "two.txt"
    listing.write_text("\n".join(files[:2]) + "\n")
    sweep(str(listing), out, _cfg(), use_ray=False)
    (out / "run.json").unlink()  # as if the driver had died before its record
    with pytest.raises(ConfigError, match="--max-period 5 -> 4"):
        sweep(str(sim_dir), out, _cfg(max_period_days=4), use_ray=False)
    run = sweep(str(sim_dir), out, _cfg(), use_ray=False)
    assert run["counts"]["skipped_resume"] == 2 and run["counts"]["processed_this_run"] == 1


def test_search_stage_rerun_and_no_search_sweeps(sim_dir, tmp_path):
    out = tmp_path / "out"
    sweep(str(sim_dir), out, SweepConfig(search=None), use_ray=False)
    # nothing searched yet: any search options are fine, and become OUT's
    search_stage(out, _cfg(sde_threshold=1.0), use_ray=False)
    with pytest.raises(ConfigError, match=r"--sde-threshold 1.0 -> 0.0.*--force to discard the candidates"):
        search_stage(out, _cfg(), use_ray=False)
    redone = search_stage(out, _cfg(), use_ray=False, force=True)
    assert redone["counts"]["searched_this_run"] == 3
    assert redone["fingerprint"]["search.sde_threshold"] == 0.0
    assert redone["fingerprint"]["preprocess.detrend"] == "biweight"

    # a --no-search rerun keeps the recorded search options for the curves it adds...
    kept = sweep(str(sim_dir), out, SweepConfig(search=None), use_ray=False)
    assert kept["fingerprint"]["search"] is True and kept["fingerprint"]["search.sde_threshold"] == 0.0
    # ...and a searching rerun is held to them
    with pytest.raises(ConfigError, match=r"--sde-threshold 0.0 -> 2.0"):
        sweep(str(sim_dir), out, _cfg(sde_threshold=2.0), use_ray=False)
    sweep(str(sim_dir), out, _cfg(), use_ray=False)


def test_cli_refuses_in_one_line(sim_dir, tmp_path, capsys):
    out = str(tmp_path / "out")
    common = ["sweep", str(sim_dir), "--out", out, "--no-ray", "--max-period", "5", "--max-planets", "2",
              "--reports", "none"]
    assert main(common) == 0
    printed = capsys.readouterr()
    assert "top " in printed.out and "score [90%]" in printed.out
    assert max(len(line) for line in printed.out.splitlines() if out not in line) <= 100
    assert main(common + ["--workers", "4", "--batch-size", "1", "--search-timeout", "60"]) == 0
    capsys.readouterr()
    assert main(common + ["--min-period", "0.6"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("exoray sweep: error: ") and "--min-period 0.5 -> 0.6" in err[0]
    assert main(common + ["--min-period", "0.6", "--force"]) == 0
