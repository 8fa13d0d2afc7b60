"""Bounds on the work one light curve may cost: search budget, wall-clock limit, cancellation.

Two kinds of bound:

* **Budget, checked before the work starts.**  The transit search's period
  grid grows with the time span of the data (a few thousand trial periods for
  one sector; a +1000 d time jump makes it 100x larger, a +1e9 d jump exhausts
  memory).  :func:`check_baseline` and :func:`check_trial_periods` refuse such
  a light curve with a :class:`~exoray.errors.SearchBudgetError` that names
  the limit and the option that raises it.

* **Wall-clock limit and cancellation, enforced while the work runs.**
  :class:`Interruptible` runs a callable in the calling thread so that another
  thread can stop it: ``interrupt()`` raises an exception *inside* the working
  thread (``PyThreadState_SetAsyncExc``), at its next Python bytecode.  The
  search spends its time in loops over chunks of trial periods, each a short
  torch/numba call, so the working thread sees the exception within one
  chunk and the CPU work really stops, which a ``Future.cancel()`` or an
  abandoned thread does not achieve.  Limits: a thread inside one long C call
  stops only when that call returns; code that catches ``BaseException``
  could swallow the interrupt, so :meth:`Interruptible.run` still reports an
  interrupted call as failed even if the callable returned.

  :func:`call_with_time_limit` is the synchronous form (sweep workers);
  :func:`run_interruptible` is the asyncio form (Serve replicas), which also
  stops the work when the awaiting task is cancelled (client disconnected).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import threading
from typing import Any, Callable, Optional

from .errors import SearchBudgetError, TimeLimitError, WorkCancelledError

__all__ = [
    "Interruptible",
    "call_with_time_limit",
    "run_interruptible",
    "check_baseline",
    "check_trial_periods",
]

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc


class _Interrupted(BaseException):
    """Raised asynchronously inside work that must stop.

    A ``BaseException`` so that ``except Exception`` blocks in the interrupted
    code (vetting tests that tolerate a failing fit, for instance) do not
    swallow it.
    """


def _inject(tid: int) -> None:
    _set_async_exc(ctypes.c_ulong(tid), ctypes.py_object(_Interrupted))


def _clear(tid: int) -> None:
    # NULL clears a pending asynchronous exception of that thread
    _set_async_exc(ctypes.c_ulong(tid), None)


class Interruptible:
    """One call that another thread may stop (time limit or cancellation).

    Parameters
    ----------
    what : str
        Names the work in error messages, e.g. ``"search of tic123.fits"``.
    limit_s : float, optional
        The wall-clock limit, for the message of :class:`TimeLimitError`.
    hint : str
        What to do when the limit is hit (which option raises it).
    """

    def __init__(self, what: str, limit_s: Optional[float] = None, hint: str = ""):
        self.what = what
        self.limit_s = limit_s
        self.hint = hint
        self.reason: Optional[str] = None  # "timeout" or "cancelled: <why>"
        self._lock = threading.Lock()
        self._tid: Optional[int] = None
        self._state = "new"  # new -> running -> done

    def error(self):
        """The exception that describes why the work was stopped."""
        if self.reason == "timeout":
            limit = f"{self.limit_s:g} s" if self.limit_s is not None else "its"
            msg = f"{self.what} ran past its wall-clock limit of {limit} and was stopped"
            return TimeLimitError(msg + (f"; {self.hint}" if self.hint else ""), limit="time_limit_s",
                                  option=self.hint)
        return WorkCancelledError(f"{self.what} was stopped: {self.reason}")

    def run(self, fn: Callable[..., Any], *args, **kwargs):
        """Call ``fn(*args, **kwargs)`` in this thread; raise :meth:`error` if interrupted."""
        with self._lock:
            if self.reason is not None:  # stopped before it started
                raise self.error()
            self._tid = threading.get_ident()
            self._state = "running"
        try:
            try:
                result = fn(*args, **kwargs)
            finally:
                self._finish()
        except _Interrupted:
            raise self.error() from None
        if self.reason is not None:  # interrupted, but something swallowed it
            raise self.error()
        return result

    def _finish(self) -> None:
        with self._lock:
            self._state = "done"
            if self.reason is not None:
                # The interrupt may still be pending (not yet raised): clear it
                # so it cannot fire later in the caller's own code.
                _clear(self._tid)

    def interrupt(self, reason: str = "timeout") -> bool:
        """Stop the work from another thread; False if it already finished or was stopped."""
        with self._lock:
            if self.reason is not None or self._state == "done":
                return False
            self.reason = reason
            if self._state == "running":
                _inject(self._tid)
            return True


def call_with_time_limit(fn: Callable[..., Any], limit_s: Optional[float], what: str, hint: str = "",
                         *args, **kwargs):
    """``fn(*args, **kwargs)`` in this thread, stopped after ``limit_s`` seconds.

    Raises :class:`~exoray.errors.TimeLimitError` (naming ``what``, the limit
    and ``hint``) when the limit is reached.  ``limit_s`` None or <= 0 means
    no limit.
    """
    if not limit_s or limit_s <= 0:
        return fn(*args, **kwargs)
    job = Interruptible(what, limit_s, hint)
    timer = threading.Timer(float(limit_s), job.interrupt, args=("timeout",))
    timer.daemon = True
    timer.start()
    try:
        return job.run(fn, *args, **kwargs)
    finally:
        timer.cancel()


async def run_interruptible(fn: Callable[..., Any], *args, limit_s: Optional[float] = None, what: str = "work",
                            hint: str = "", executor=None, **kwargs):
    """Await ``fn(*args, **kwargs)`` run in a worker thread that stops when it must.

    The work is interrupted when ``limit_s`` passes (:class:`TimeLimitError`)
    or when the awaiting task is cancelled (the ``CancelledError`` propagates;
    the thread's work stops at its next bytecode instead of running on).
    """
    job = Interruptible(what, limit_s, hint)
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(executor, functools.partial(job.run, fn, *args, **kwargs))
    timer = loop.call_later(float(limit_s), job.interrupt, "timeout") if limit_s and limit_s > 0 else None
    try:
        return await fut
    except asyncio.CancelledError:
        job.interrupt("cancelled: the client is gone")
        raise
    finally:
        if timer is not None:
            timer.cancel()


# --------------------------------------------------------------------------- search budget
def _label(label: Optional[str]) -> str:
    return f"{label}: " if label else ""


def check_baseline(baseline_days: float, max_baseline_days: Optional[float], label: Optional[str] = None,
                   option: str = "max_baseline_days (exoray sweep --max-baseline-days; "
                                 "Serve setting search.max_baseline_days)") -> None:
    """Refuse a light curve whose time span exceeds the search's maximum baseline."""
    if max_baseline_days is None:
        return
    if not baseline_days <= max_baseline_days:  # also catches NaN
        raise SearchBudgetError(
            f"{_label(label)}the light curve spans {baseline_days:.6g} d, more than the transit search's "
            f"maximum baseline of {max_baseline_days:g} d (a TESS sector spans ~27 d); a jump in the TIME "
            f"values is the usual cause, so check them, or raise {option} to search a longer span",
            limit="max_baseline_days", option=option,
        )


def check_trial_periods(n_periods: int, max_trial_periods: Optional[int], label: Optional[str] = None,
                        option: str = "max_trial_periods (exoray sweep --max-trial-periods; "
                                      "Serve setting search.max_trial_periods)") -> None:
    """Refuse a period grid larger than the search's maximum number of trial periods."""
    if max_trial_periods is None:
        return
    if n_periods > max_trial_periods:
        raise SearchBudgetError(
            f"{_label(label)}the period grid for this light curve has {n_periods} trial periods, more than the "
            f"transit search's limit of {max_trial_periods}; raise min_period_days or the limit "
            f"({option}) to search it",
            limit="max_trial_periods", option=option,
        )
