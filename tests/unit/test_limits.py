"""Work bounds: search budget before the search, wall-clock limit and cancellation while it runs."""

from __future__ import annotations

import asyncio
import dataclasses
import pickle
import threading
import time

import numpy as np
import pytest

from exoray.config import SearchConfig, SweepConfig
from exoray.errors import ConfigError, SearchBudgetError, TimeLimitError, WorkCancelledError
from exoray.limits import Interruptible, call_with_time_limit, check_baseline, check_trial_periods, run_interruptible


def _spin(seconds: float, counter=None) -> str:
    """Pure-Python CPU work (like the search's loop over chunks of trial periods)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        if counter is not None:
            counter[0] += 1
    return "done"


def test_time_limit_stops_the_work_and_names_it():
    t0 = time.perf_counter()
    with pytest.raises(TimeLimitError) as err:
        call_with_time_limit(_spin, 0.3, "search of x.fits", "raise --search-timeout", 30.0)
    elapsed = time.perf_counter() - t0
    assert 0.3 <= elapsed < 1.5
    msg = str(err.value)
    assert "search of x.fits" in msg and "0.3 s" in msg and "--search-timeout" in msg
    assert isinstance(pickle.loads(pickle.dumps(err.value)), TimeLimitError)


def test_time_limit_lets_fast_work_through_and_leaks_nothing():
    assert call_with_time_limit(_spin, 5.0, "w", "", 0.01) == "done"
    assert call_with_time_limit(_spin, None, "w", "", 0.01) == "done"
    # Work that ends right around its limit: each call either returns or raises
    # TimeLimitError, and no interrupt is left pending to fire in later code.
    outcomes = set()
    for i in range(60):
        try:
            outcomes.add(call_with_time_limit(_spin, 0.004, "w", "", 0.002 + 0.0001 * (i % 40)))
        except TimeLimitError:
            outcomes.add("limit")
        _spin(0.003)  # an interrupt still pending would raise here
    assert outcomes <= {"done", "limit"}


def test_interrupt_before_start_and_swallowed_interrupt():
    job = Interruptible("w")
    assert job.interrupt("cancelled: test")
    with pytest.raises(WorkCancelledError, match="cancelled: test"):
        job.run(_spin, 0.01)

    def swallow():
        try:
            _spin(5.0)
        except BaseException:  # noqa: BLE001 - what careless code might do
            return "swallowed"

    job = Interruptible("w", 0.2)
    timer = threading.Timer(0.2, job.interrupt)
    timer.start()
    with pytest.raises(TimeLimitError):
        job.run(swallow)  # still reported: the result of interrupted work is not trusted
    assert not job.interrupt()  # already stopped


def test_cancelling_the_awaiting_task_stops_the_thread():
    counter = [0]

    async def main():
        task = asyncio.ensure_future(run_interruptible(_spin, 30.0, counter, what="w"))
        await asyncio.sleep(0.3)
        assert counter[0] > 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.2)  # the thread stops at its next bytecode
        before = counter[0]
        await asyncio.sleep(0.3)
        return before, counter[0]

    before, after = asyncio.run(main())
    assert after == before  # no more work after the cancellation


def test_async_time_limit():
    async def main():
        with pytest.raises(TimeLimitError, match="0.2 s"):
            await run_interruptible(_spin, 30.0, limit_s=0.2, what="w")
        return await run_interruptible(_spin, 0.01, limit_s=5.0, what="w")

    assert asyncio.run(main()) == "done"


# --------------------------------------------------------------------------- search budget
def test_budget_checks_name_limit_and_option():
    check_baseline(27.0, 400.0)
    check_baseline(1e12, None)
    with pytest.raises(SearchBudgetError) as err:
        check_baseline(1027.9, 400.0, "x.fits")
    assert "x.fits" in str(err.value) and "1027.9 d" in str(err.value) and "--max-baseline-days" in str(err.value)
    assert err.value.limit == "max_baseline_days"
    with pytest.raises(SearchBudgetError):
        check_baseline(float("nan"), 400.0)
    check_trial_periods(10, 10)
    with pytest.raises(SearchBudgetError, match="--max-trial-periods") as err:
        check_trial_periods(11, 10, "x.fits")
    assert pickle.loads(pickle.dumps(err.value)).limit == "max_trial_periods"


def test_config_limits_are_validated():
    assert SearchConfig().max_baseline_days == 400.0 and SearchConfig().max_trial_periods == 300_000
    SearchConfig(max_baseline_days=None, max_trial_periods=None)
    for bad in (dict(max_baseline_days=0.0), dict(max_baseline_days=-1.0), dict(max_trial_periods=0)):
        with pytest.raises(ConfigError):
            SearchConfig(**bad)
    with pytest.raises(ConfigError, match="search_timeout_s"):
        SweepConfig(search_timeout_s=0)
    assert SweepConfig().verify_checksums is True


def _flat_lc(days=27.0, jump_at=None, jump=0.0):
    from exoray.lightcurve import PreprocessedLightCurve

    t = 1000.0 + np.arange(0.0, days, 2.0 / 1440.0)
    if jump_at is not None:
        t[int(jump_at * t.size):] += jump
    f = 1.0 + 1e-4 * np.random.default_rng(0).standard_normal(t.size)
    return PreprocessedLightCurve(tic_id=1, sector=1, time=t, flux=f, flux_err=np.full(t.size, 1e-4),
                                  trend=np.ones(t.size), flux_flat=f, segment=np.zeros(t.size, np.int32),
                                  source_path="shifted.fits")


@pytest.mark.parametrize("jump", [1000.0, 1e9])
def test_search_refuses_a_time_jump_before_building_the_grid(jump):
    """+1000 d made a 135k-period grid and +1e9 d a MemoryError; both are refused at once."""
    from exoray.search.candidates import search_lightcurve

    t0 = time.perf_counter()
    with pytest.raises(SearchBudgetError, match="shifted.fits: the light curve spans"):
        search_lightcurve(_flat_lc(jump_at=0.5, jump=jump), SearchConfig(rank=False))
    assert time.perf_counter() - t0 < 1.0


def test_search_refuses_too_many_trial_periods():
    from exoray.search.candidates import search_lightcurve

    with pytest.raises(SearchBudgetError, match="trial periods"):
        search_lightcurve(_flat_lc(days=5.0), SearchConfig(rank=False, max_trial_periods=50))


def test_time_limit_stops_a_real_search():
    """A +300 d jump keeps a search busy for about a minute; the limit stops it on time."""
    from exoray.search.candidates import find_candidates

    lc = _flat_lc(days=10.0, jump_at=0.5, jump=300.0)
    lc = dataclasses.replace(lc, flux_flat=lc.flux_flat.copy())
    t0, c0 = time.perf_counter(), time.process_time()
    with pytest.raises(TimeLimitError, match="the transit search"):
        call_with_time_limit(find_candidates, 1.0, "shifted.fits: the transit search", "", lc,
                             SearchConfig(rank=False))
    assert time.perf_counter() - t0 < 3.0
    assert time.process_time() - c0 < 3.0
