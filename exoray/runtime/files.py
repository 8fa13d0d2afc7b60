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
import hashlib
import json
import os
import uuid
from typing import IO, Any, Callable, Iterator, Optional

__all__ = ["atomic_open", "hash_file", "write_json_atomic"]


@contextlib.contextmanager
def atomic_open(
    path,
    mode: str = "wb",
    *,
    suffix: str = ".tmp",
    perms: int = 0o600,
    check: Optional[Callable[[str], None]] = None,
    fsync_dir: bool = False,
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    The folder is created when missing.  On an exception the temporary file
    is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    mode : {'wb', 'w'}
        Binary or text; always a whole new file.
    suffix : str
        Ending of the temporary name, ``.<name>.<32 hex digits><suffix>``: a
        writer that removes what a killed run left behind matches on it.
    perms : int
        Permission bits the file is created with (the umask still applies).
        The default keeps it to its owner, as :func:`tempfile.mkstemp` does;
        ``0o666`` gives a file the usual permissions, like :func:`open`.
    check : callable, optional
        Called with the temporary file's path once it is complete and on
        disk, before the rename: whatever it raises aborts the write (a
        download verified before it may take its final name).
    fsync_dir : bool
        Also sync the folder after the rename, so that the new name itself
        survives a crash, not only the bytes (one more sync per file).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a whole file: mode 'w' or 'wb', got {mode!r}")
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}{suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), perms)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, path)
        if fsync_dir:
            _fsync_dir(folder)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories
    finally:
        os.close(fd)


def write_json_atomic(path, obj: Any, **dump_kwargs) -> None:
    """``json.dump(obj, ..., **dump_kwargs)`` into ``path`` through :func:`atomic_open`."""
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, **dump_kwargs)


def hash_file(path, h=None):
    """Feed the bytes of ``path`` into the hash object ``h`` (a new SHA-256 when ``None``); returns ``h``.

    Read 1 MiB at a time, so a file of any size hashes in constant memory.
    """
    if h is None:
        h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h
