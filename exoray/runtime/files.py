"""Files that readers never see half-written.

A sweep's outputs are read while it runs (the dashboard, a resumed run, a
second sweep of the same folder), and a process can die at any moment, so
every file is written under a temporary name of its own in the destination
folder, flushed to disk, then renamed over the destination: on POSIX the
rename is atomic, and a temporary name unique to the writer means two
writers of one path never write into each other's file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import Any, Iterator, IO

__all__ = ["atomic_open", "write_json_atomic"]


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    The folder is created when missing.  On an exception the temporary file
    is removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_json_atomic(path, obj: Any, **dump_kwargs) -> None:
    """``json.dump(obj, ..., **dump_kwargs)`` into ``path`` through :func:`atomic_open`."""
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, **dump_kwargs)
