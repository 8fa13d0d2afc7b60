"""Progress of a run: a bar on a terminal, throttled log lines elsewhere (the sweep's and the download's)."""

from __future__ import annotations

import io
import logging
import threading

from exoray.ingest.download import _FetchProgress
from exoray.pipelines import sweep
from exoray.runtime.progress import Progress


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_log_line_elsewhere(caplog):
    tty = _Tty()
    p = Progress(10, stream=tty, logger=sweep.log)
    p.update(4)
    p.update(6)
    p.close()
    text = tty.getvalue()
    assert "10/10 light curves" in text and "sweep" in text

    plain = io.StringIO()
    with caplog.at_level(logging.INFO, logger="exoray.pipelines.sweep"):
        p = Progress(10, every_s=0.0, stream=plain, what="search", logger=sweep.log)
        p.update(4)
        p.update(6)
        p.close()
    assert plain.getvalue() == ""
    lines = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("search: 4/10 light curves (40.0%)") and "ETA" in m for m in lines)
    assert any(m.startswith("search: 10/10 light curves") for m in lines)


def test_time_throttled_lines_still_log_the_last_item(caplog):
    with caplog.at_level(logging.INFO, logger="exoray.runtime.progress"):
        p = Progress(3, every_s=3600.0, stream=io.StringIO())
        for _ in range(3):
            p.update()
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["sweep: 3/3 light curves (100.0%)"]


def test_fetch_progress_counts_by_status_every_n_files(caplog):
    with caplog.at_level(logging.INFO, logger="exoray.ingest.download"):
        p = _FetchProgress(7, every_n=3, every_s=3600.0)
        rows = [{"status": "fetched", "bytes": 2_000_000}] * 4 + [{"status": "skipped"}] * 2 + [{"status": "failed"}]
        threads = [threading.Thread(target=p.add, args=(r,)) for r in rows]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 2  # after 3 and 6 files; the last is the caller's to force
        p.maybe_log(force=True)
    last = caplog.records[-1].getMessage()
    assert last.startswith("fetch progress: 7/7 done (fetched 4, skipped 2, failed 1), 8.0 MB, ")
    assert last.endswith(" files/s")
    assert p.bar is None
