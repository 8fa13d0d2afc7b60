"""Progress of a long run: a bar on a terminal, throttled log lines elsewhere.

A sweep counts light curves as its batches finish; a download counts files
as its threads or tasks finish.  Both report the same way: on a terminal a
tqdm bar with rate and ETA, and where a bar would print one line per redraw
(CI logs, files, notebooks' captured stderr) a log line with the same
figures, at most every few seconds (or every so many items) and at the end.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Optional, Tuple

__all__ = ["Progress"]


class Progress:
    """Counts finished items of a run of ``total`` and reports them.

    Parameters
    ----------
    total : int
        Items in the run.
    what : str
        Label of the bar and of each log line (``'sweep'``, ``'search'``).
    every_s : float
        Least seconds between two log lines.
    every_n : int, optional
        Also log once this many items have finished since the last line.
    logger : logging.Logger, optional
        Where the lines go (default: this module's); callers pass their own
        so that a run's lines keep their module's logger name.
    stream : file object, optional
        Where a bar would be drawn (default ``sys.stderr``); the bar is
        drawn only when it is a terminal and ``bar`` is true.
    bar : bool
        Allow a tqdm bar.
    log_when_done : bool
        Log a line when the last item finishes (else the caller ends with
        ``maybe_log(force=True)``).

    ``update`` may be called from several threads.  Subclasses change the
    log line by overriding :meth:`line`.
    """

    def __init__(
        self,
        total: int,
        *,
        what: str = "sweep",
        every_s: float = 5.0,
        every_n: Optional[int] = None,
        logger: Optional[logging.Logger] = None,
        stream=None,
        bar: bool = True,
        log_when_done: bool = True,
    ):
        self.total, self.what, self.every_s, self.every_n = total, what, every_s, every_n
        self.log = logger if logger is not None else logging.getLogger(__name__)
        self.log_when_done = log_when_done
        self.done = 0
        self.t0 = self._last_t = time.monotonic()
        self._last_n = 0
        self._lock = threading.RLock()  # a subclass may hold it around update()
        self.bar = None
        self._redirect = None
        stream = stream if stream is not None else sys.stderr
        if bar and total > 0 and _isatty(stream):
            from tqdm import tqdm
            from tqdm.contrib.logging import logging_redirect_tqdm

            # smoothing 0.3: the rate follows the recent updates, so the start-up (Ray, actors, catalogues),
            # which the first update's time includes, fades from the ETA within a few updates
            self.bar = tqdm(total=total, desc=what, unit="lc", file=stream, dynamic_ncols=True,
                            smoothing=0.3, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                            "light curves [{elapsed}<{remaining}, {rate_fmt}]")
            # log lines printed while the bar is up (Ray starting, a warning) go above it, not into it
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()

    def update(self, n: int = 1) -> None:
        """``n`` more items finished."""
        with self._lock:
            self.done += n
            if self.bar is not None:
                self.bar.update(n)
                if self.done >= self.total:
                    self.close()
                return
            self.maybe_log(force=self.log_when_done and self.done >= self.total)

    def maybe_log(self, force: bool = False) -> None:
        """Log a line if one is due (or ``force``)."""
        now = time.monotonic()
        due = now - self._last_t >= self.every_s
        if self.every_n is not None:
            due = due or self.done - self._last_n >= self.every_n
        if force or due:
            self._last_n, self._last_t = self.done, now
            fmt, args = self.line(self.done / max(now - self.t0, 1e-9))
            self.log.info(fmt, *args)

    def line(self, rate: float) -> Tuple[str, tuple]:
        """The log line as a ``%``-format and its arguments; ``rate`` is items per second so far."""
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        return "%s: %d/%d light curves (%.1f%%), %.1f/s, ETA %.0f s", (
            self.what, self.done, self.total, 100.0 * self.done / max(self.total, 1), rate, eta,
        )

    def close(self) -> None:
        """End the bar (on a failed run too, so the terminal's next line starts clean)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
