"""Whole-sector downloads: parallel, retried, verified, atomic and resumable.

:func:`fetch_sector` takes the entries of a MAST bulk script (see
:mod:`exoray.ingest.bulk`) and downloads them into one folder:

* **Parallel.**  Entries are cut into batches; each batch is one Ray task
  (a Ray task costs ~30 ms, so one file per task would waste time), and inside
  a task a small thread pool downloads the batch's files (I/O bound, so
  threads are fine).  ``use_ray=False`` runs one thread pool in-process.
  On a multi-node cluster ``out_dir`` must be a filesystem shared by all nodes.
* **Retried.**  Connection errors, timeouts, truncated bodies, HTTP 5xx, 408
  and 429, and files that fail FITS verification are retried up to
  ``max_retries`` times with exponential backoff and jitter (a ``Retry-After``
  header in seconds is honoured, capped at ``max_backoff_s``).  Any other 4xx
  (404 in particular) is final at once.
* **Atomic.**  Bytes stream into ``.NAME.<hex>.part`` in the destination
  folder, are fsynced, verified, then renamed with :func:`os.replace`; a
  killed run therefore never leaves a file under its final name that was not
  verified.  Stale ``.part`` files of the listed names are removed at start.
* **Verified.**  Size against ``Content-Length`` (and the entry's ``size`` if
  known), then FITS structure and every HDU's raw CHECKSUM
  (:mod:`exoray.ingest._fits_checksum`).
* **Resumable.**  A file already present and valid is not fetched again and
  is recorded as ``skipped``; an invalid one is fetched again.
* **Nothing lost.**  Every entry appears exactly once in the manifest
  (``OUT/manifest.parquet``, :data:`~exoray.schemas.FETCH_MANIFEST_SCHEMA`)
  with status ``fetched``, ``skipped`` or ``failed`` (+ error class and
  message).  Exact duplicate entries (same URL and name) are collapsed with a
  warning; a second entry that wants the same file name from another URL is
  recorded as failed (``DuplicateEntryError``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from ..errors import CorruptProductError, FetchError, InputError
from ..runtime.files import atomic_open
from ..runtime.progress import Progress
from ..runtime.ray_env import init_ray
from ..schemas import FETCH_MANIFEST_SCHEMA, records_to_table, write_parquet_atomic
from ._fits_checksum import ChecksumError, verify_fits
from .bulk import parse_bulk_script, rewrite_base_url

__all__ = [
    "DownloadOptions",
    "HTTPStatusError",
    "IncompleteDownloadError",
    "DuplicateEntryError",
    "load_entries",
    "fetch_file",
    "fetch_batch",
    "fetch_sector",
    "manifest_counts",
    "clean_partial_files",
]

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.parquet"
_PART_RE = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{32}\.part$")
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504}) | frozenset(range(505, 600))
_USER_AGENT = "exoray-fetch/0.1 (+python-requests)"


class HTTPStatusError(FetchError):
    """The server answered with a non-200 status.

    ``status`` is the HTTP code; ``retryable`` says whether the fetch loop
    retries it (5xx, 408, 425, 429) or gives up at once (404 and other 4xx).
    """

    def __init__(self, url: str, status: int, message: str = "", retry_after: Optional[float] = None):
        self.status = int(status)
        self.retry_after = retry_after
        self.retryable = self.status in _RETRY_STATUS
        super().__init__(url, message or f"HTTP {status}")

    def __reduce__(self):
        return (type(self), (self.url, self.status, self.reason, self.retry_after))


class IncompleteDownloadError(FetchError):
    """Fewer (or more) bytes arrived than ``Content-Length`` announced."""


class DuplicateEntryError(FetchError):
    """Two entries want the same file name from different URLs."""


@dataclasses.dataclass(frozen=True)
class DownloadOptions:
    """Knobs of the per-file fetch loop.

    Attributes
    ----------
    max_retries : int
        Retries after the first attempt (so at most ``max_retries + 1`` tries).
    backoff_s : float
        First backoff delay in seconds; doubles each retry, times a random
        factor in [0.5, 1.5) (jitter), capped at ``max_backoff_s``.
    max_backoff_s : float
        Upper bound of one delay (also caps ``Retry-After``).
    timeout_s : float
        Connect and per-read socket timeout in seconds (requests semantics:
        not a limit on the whole transfer).
    checksum : bool
        Verify each HDU's CHECKSUM (structure and size are always checked).
    threads : int
        Download threads per batch (per Ray task).
    chunk_bytes : int
        Streaming chunk size.
    """

    max_retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    timeout_s: float = 60.0
    checksum: bool = True
    threads: int = 4
    chunk_bytes: int = 1 << 20

    def __post_init__(self):
        if self.max_retries < 0:
            raise InputError(f"max_retries must be >= 0, got {self.max_retries}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise InputError("backoff_s and max_backoff_s must be >= 0")
        if self.timeout_s <= 0:
            raise InputError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.threads < 1:
            raise InputError(f"threads must be >= 1, got {self.threads}")


# --------------------------------------------------------------------------- entries


def load_entries(
    entries_or_script,
    base_url: Optional[str] = None,
    *,
    sector: Optional[int] = None,
    timeout_s: float = 60.0,
    max_retries: int = 4,
) -> List[Dict]:
    """Turn what the caller has into a list of download entries.

    Parameters
    ----------
    entries_or_script : list of dict, path-like, or str
        Entries (dicts with at least ``url`` and ``filename``), the path of a
        bulk script, its URL (``http(s)://...``, fetched with retries), or the
        script text itself (a string containing a newline).
    base_url : str, optional
        Replace the download host of every entry (mirror / test server).
    sector : int, optional
        Sector recorded when a filename does not encode one.
    timeout_s, max_retries
        Used when the script itself has to be downloaded.

    Returns
    -------
    list of dict

    Raises
    ------
    exoray.ingest.bulk.BulkScriptError
        The script has malformed lines.
    exoray.errors.FetchError
        The script URL could not be fetched.
    FileNotFoundError
        The script path does not exist.
    exoray.errors.InputError
        An entry lacks ``url`` or ``filename``.
    """
    if isinstance(entries_or_script, (str, os.PathLike)):
        src = os.fspath(entries_or_script)
        if src.startswith(("http://", "https://")):
            text = _get_text(src, timeout_s=timeout_s, max_retries=max_retries)
        elif "\n" in src:
            text = src
        else:
            with open(src, "r", encoding="utf-8") as fh:
                text = fh.read()
        return parse_bulk_script(text, base_url=base_url, sector=sector)
    entries = []
    for i, e in enumerate(entries_or_script):
        if not e.get("url") or not e.get("filename"):
            raise InputError(f"entry {i} lacks 'url' or 'filename': {e!r}")
        e = dict(e)
        e["url"] = rewrite_base_url(e["url"], base_url)
        if e.get("sector") is None and sector is not None:
            e["sector"] = sector
        entries.append(e)
    return entries


def _get_text(url: str, *, timeout_s: float, max_retries: int) -> str:
    """GET a small text document with the same retry policy as files."""
    import requests

    opts = DownloadOptions(max_retries=max_retries, timeout_s=timeout_s)
    last: Optional[BaseException] = None
    with requests.Session() as session:
        session.headers["User-Agent"] = _USER_AGENT
        for attempt in range(1, opts.max_retries + 2):
            try:
                with session.get(url, timeout=opts.timeout_s) as resp:
                    if resp.status_code != 200:
                        raise _status_error(url, resp)
                    return resp.text
            except HTTPStatusError as exc:
                if not exc.retryable:
                    raise
                last = exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = exc
            if attempt <= opts.max_retries:
                time.sleep(_backoff_delay(attempt, opts, getattr(last, "retry_after", None)))
    raise FetchError(url, f"gave up after {opts.max_retries + 1} attempts: {last}") from last


# --------------------------------------------------------------------------- one file


def _status_error(url: str, resp) -> HTTPStatusError:
    retry_after = None
    ra = resp.headers.get("Retry-After")
    if ra is not None:
        try:
            retry_after = max(0.0, float(ra))
        except ValueError:
            retry_after = None  # HTTP-date form: fall back to our own backoff
    final = "" if resp.status_code in _RETRY_STATUS else "; not retried"
    return HTTPStatusError(url, resp.status_code, f"HTTP {resp.status_code} {resp.reason}{final}", retry_after)


def _backoff_delay(attempt: int, opts: DownloadOptions, retry_after: Optional[float] = None) -> float:
    """Exponential backoff with jitter; ``attempt`` is the 1-based try that failed."""
    delay = min(opts.max_backoff_s, opts.backoff_s * (2 ** (attempt - 1)))
    delay *= random.uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, min(retry_after, opts.max_backoff_s))
    return min(delay, opts.max_backoff_s)


def _retryable_exceptions():
    import requests

    return (
        requests.ConnectionError,  # includes ConnectTimeout
        requests.Timeout,
        requests.exceptions.ChunkedEncodingError,
        requests.exceptions.ContentDecodingError,
        IncompleteDownloadError,
        CorruptProductError,  # incl. ChecksumError: bytes damaged in transit
    )


def _download_once(url: str, dest: str, opts: DownloadOptions, session, expected_size: Optional[int]):
    """One GET into a temp file, verified, then renamed; returns (bytes, sha256)."""

    def verify(tmp: str) -> None:
        check = verify_fits(tmp, checksum=opts.checksum)
        if not check.ok:
            cls = ChecksumError if check.error == "ChecksumError" else CorruptProductError
            raise cls(os.path.basename(dest), f"downloaded bytes fail verification: {check.reason}")

    h = hashlib.sha256()
    n = 0
    # a .part name (clean_partial_files removes those a killed run left) with the usual permissions
    with atomic_open(dest, "wb", suffix=".part", perms=0o666, check=verify, fsync_dir=True) as fh:
        with session.get(
            url,
            stream=True,
            timeout=(opts.timeout_s, opts.timeout_s),
            headers={"Accept-Encoding": "identity"},
        ) as resp:
            if resp.status_code != 200:
                raise _status_error(url, resp)
            length = resp.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            for chunk in resp.iter_content(opts.chunk_bytes):
                fh.write(chunk)
                h.update(chunk)
                n += len(chunk)
        if length is not None and n != length:
            raise IncompleteDownloadError(url, f"received {n} of {length} bytes (Content-Length)")
        if expected_size is not None and n != expected_size:
            raise IncompleteDownloadError(url, f"received {n} bytes, the listing says {expected_size}")
    return n, h.hexdigest()


def _check_existing(dest: str, opts: DownloadOptions, expected_size: Optional[int]):
    """(ok, reason, bytes, sha256) for a file already at ``dest``."""
    with open(dest, "rb") as fh:
        data = fh.read()
    check = verify_fits(data, checksum=opts.checksum, expected_size=expected_size)
    if not check.ok:
        return False, check.reason, len(data), None
    return True, "", len(data), hashlib.sha256(data).hexdigest()


def _new_session():
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = _USER_AGENT
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=4, max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def fetch_file(entry: Dict, out_dir, opts: Optional[DownloadOptions] = None, session=None) -> Dict:
    """Fetch one entry into ``out_dir`` (or recognise it as already there).

    Never raises for a failed download: the failure is recorded in the
    returned row, so a batch can never lose an entry.

    Parameters
    ----------
    entry : dict
        ``url``, ``filename`` and optionally ``tic_id``, ``sector``, ``size``
        (expected bytes).
    out_dir : path-like
        Destination folder (must exist).
    opts : DownloadOptions, optional
    session : requests.Session, optional
        Reused connection pool; a private one is made (and closed) if None.

    Returns
    -------
    dict
        A manifest row (keys of :data:`~exoray.schemas.FETCH_MANIFEST_SCHEMA`).
    """
    opts = opts or DownloadOptions()
    t0 = time.monotonic()
    name = str(entry.get("filename", ""))
    url = str(entry.get("url", ""))
    dest = os.path.join(os.fspath(out_dir), name)
    row = {
        "url": url,
        "filename": name,
        "path": dest,
        "tic_id": entry.get("tic_id"),
        "sector": entry.get("sector"),
        "status": "failed",
        "bytes": None,
        "sha256": None,
        "attempts": 0,
        "error": None,
        "message": None,
    }
    expected = entry.get("size")
    expected = int(expected) if expected is not None else None
    own_session = session is None
    try:
        if not name or os.path.basename(name) != name or name.startswith("."):
            raise InputError(f"unsafe file name {name!r}")
        if os.path.exists(dest):
            ok, reason, nbytes, sha = _check_existing(dest, opts, expected)
            if ok:
                row.update(status="skipped", bytes=nbytes, sha256=sha)
                return row
            log.info("%s exists but is invalid (%s); fetching it again", dest, reason)
        if own_session:
            session = _new_session()
        _fetch_with_retries(row, url, dest, opts, session, expected)
    except Exception as exc:  # noqa: BLE001 - record every failure, never lose an entry
        row.update(status="failed", error=type(exc).__name__, message=str(exc))
        if not isinstance(exc, FetchError):
            log.warning("fetching %s failed: %s: %s", url, type(exc).__name__, exc)
    finally:
        if own_session and session is not None:
            session.close()
        row["elapsed_s"] = time.monotonic() - t0
    return row


def _fetch_with_retries(row, url, dest, opts, session, expected) -> None:
    retryable = _retryable_exceptions()
    last: Optional[BaseException] = None
    tries = opts.max_retries + 1
    for attempt in range(1, tries + 1):
        row["attempts"] = attempt
        try:
            nbytes, sha = _download_once(url, dest, opts, session, expected)
        except HTTPStatusError as exc:
            if not exc.retryable:
                log.warning("%s: %s (final)", row["filename"], exc.reason)
                raise
            last = exc
        except retryable as exc:
            last = exc
        else:
            row.update(status="fetched", bytes=nbytes, sha256=sha, error=None, message=None)
            if attempt > 1:
                log.info("%s fetched on attempt %d", row["filename"], attempt)
            return
        if attempt < tries:
            delay = _backoff_delay(attempt, opts, getattr(last, "retry_after", None))
            log.info(
                "%s attempt %d/%d failed (%s: %s); retrying in %.2fs",
                row["filename"], attempt, tries, type(last).__name__, last, delay,
            )
            time.sleep(delay)
    log.warning("%s failed after %d attempts: %s: %s", row["filename"], tries, type(last).__name__, last)
    row.update(status="failed", error=type(last).__name__, message=f"gave up after {tries} attempts: {last}")


# --------------------------------------------------------------------------- batches


def fetch_batch(
    entries: Sequence[Dict],
    out_dir,
    opts: Optional[DownloadOptions] = None,
    progress: Optional[Callable[[Dict], None]] = None,
) -> List[Dict]:
    """Fetch several entries with a thread pool; one row per entry, in order.

    This is the body of one Ray task in :func:`fetch_sector`.

    Parameters
    ----------
    entries : sequence of dict
    out_dir : path-like
    opts : DownloadOptions, optional
    progress : callable, optional
        Called with each finished row (from worker threads).

    Returns
    -------
    list of dict
        Manifest rows, same order and length as ``entries``.
    """
    opts = opts or DownloadOptions()
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    rows: List[Optional[Dict]] = [None] * len(entries)
    lock = threading.Lock()
    todo = iter(range(len(entries)))

    def worker():
        session = _new_session()
        try:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                rows[i] = fetch_file(entries[i], out_dir, opts, session)
                if progress is not None:
                    progress(rows[i])
        finally:
            session.close()

    nthreads = max(1, min(opts.threads, len(entries)))
    with ThreadPoolExecutor(nthreads, thread_name_prefix="exoray-fetch") as pool:
        futures = [pool.submit(worker) for _ in range(nthreads)]
        for f in futures:
            f.result()
    for i, r in enumerate(rows):  # defensive: a row can only be missing after a bug
        if r is None:
            rows[i] = _failed_row(entries[i], out_dir, "InternalError", "no result recorded")
    return rows  # type: ignore[return-value]


def _failed_row(entry: Dict, out_dir: str, error: str, message: str) -> Dict:
    return {
        "url": str(entry.get("url", "")),
        "filename": str(entry.get("filename", "")),
        "path": os.path.join(out_dir, str(entry.get("filename", ""))),
        "tic_id": entry.get("tic_id"),
        "sector": entry.get("sector"),
        "status": "failed",
        "attempts": 0,
        "error": error,
        "message": message,
        "elapsed_s": 0.0,
    }


def clean_partial_files(out_dir, names: Iterable[str]) -> int:
    """Remove ``.NAME.<hex>.part`` temp files left by a killed run.

    Only temp files of the given names are touched.

    Returns
    -------
    int
        Number of files removed.
    """
    out_dir = os.fspath(out_dir)
    wanted = set(names)
    removed = 0
    try:
        listing = os.listdir(out_dir)
    except FileNotFoundError:
        return 0
    for fn in listing:
        m = _PART_RE.match(fn)
        if m and m.group("name") in wanted:
            try:
                os.unlink(os.path.join(out_dir, fn))
                removed += 1
            except FileNotFoundError:
                pass
    if removed:
        log.info("removed %d partial file(s) left by an earlier run in %s", removed, out_dir)
    return removed


class _FetchProgress(Progress):
    """Counts finished rows by status; logs every ``every_n`` files or ``every_s`` seconds."""

    def __init__(self, total: int, every_n: int, every_s: float):
        super().__init__(total, what="fetch", every_s=every_s, every_n=max(1, every_n), logger=log, bar=False,
                         log_when_done=False)
        self.counts = {"fetched": 0, "skipped": 0, "failed": 0}
        self.bytes = 0

    def add(self, row: Dict) -> None:
        with self._lock:  # counts and count move together, so a line never shows one without the other
            self.counts[row["status"]] = self.counts.get(row["status"], 0) + 1
            if row["status"] == "fetched":
                self.bytes += row.get("bytes") or 0
            self.update(1)

    def line(self, rate: float):
        return "fetch progress: %d/%d done (fetched %d, skipped %d, failed %d), %.1f MB, %.1f files/s", (
            self.done, self.total, self.counts["fetched"], self.counts["skipped"],
            self.counts["failed"], self.bytes / 1e6, rate,
        )


def _dedupe(entries: List[Dict], out_dir: str):
    """Split into (unique entries to fetch, rows for conflicting duplicates)."""
    seen: Dict[str, str] = {}
    unique: List[Dict] = []
    conflicts: List[Dict] = []
    for e in entries:
        name, url = e["filename"], e["url"]
        if name not in seen:
            seen[name] = url
            unique.append(e)
        elif seen[name] == url:
            log.warning("duplicate entry %s (same URL) listed more than once; fetching it once", name)
        else:
            conflicts.append(
                _failed_row(
                    e, out_dir, "DuplicateEntryError",
                    f"file name {name} already requested from {seen[name]}; not fetched from {url}",
                )
            )
    return unique, conflicts


def _batches(items: List, size: int) -> List[List]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def fetch_sector(
    entries_or_script,
    out_dir,
    *,
    base_url: Optional[str] = None,
    max_retries: int = 4,
    backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
    timeout_s: float = 60.0,
    concurrency: Optional[int] = None,
    use_ray: bool = True,
    files_per_task: Optional[int] = None,
    threads_per_task: int = 4,
    task_cpus: float = 0.5,
    checksum: bool = True,
    limit: Optional[int] = None,
    sector: Optional[int] = None,
    manifest_path=None,
    ray_address: Optional[str] = None,
    progress_every: int = 100,
    progress_interval_s: float = 10.0,
):
    """Download every file of a bulk script into ``out_dir``; write the manifest.

    Parameters
    ----------
    entries_or_script : list of dict, path-like or str
        See :func:`load_entries` (entries, script path, script URL or text).
    out_dir : path-like
        Destination folder (created).  Must be shared by all nodes when Ray
        runs on several machines.
    base_url : str, optional
        Replace the download host of every entry (mirror / test server).
    max_retries : int, default 4
        Retries per file after the first attempt.
    backoff_s, max_backoff_s : float
        Backoff schedule, see :class:`DownloadOptions`.
    timeout_s : float, default 60
        Socket connect/read timeout in seconds.
    concurrency : int, optional
        Ray tasks in flight at once (default: cluster CPUs / ``task_cpus``);
        with ``use_ray=False`` the number of download threads is
        ``concurrency * threads_per_task``.
    use_ray : bool, default True
        Download in Ray tasks (Ray is started locally if not initialised).
    files_per_task : int, optional
        Batch size of one Ray task (default: enough batches for 4 per slot,
        between 1 and 32 files each).
    threads_per_task : int, default 4
        Download threads inside each task.
    task_cpus : float, default 0.5
        CPUs reserved per Ray task (downloads are I/O bound).
    checksum : bool, default True
        Verify each HDU's CHECKSUM.
    limit : int, optional
        Only the first ``limit`` entries (the manifest then lists only those).
    sector : int, optional
        Sector recorded for entries whose filename does not encode one.
    manifest_path : path-like, optional
        Default ``out_dir/manifest.parquet``.
    ray_address : str, optional
        Cluster to join if Ray is not yet initialised.
    progress_every, progress_interval_s
        Log progress every that many files or seconds.

    Returns
    -------
    pyarrow.Table
        The manifest (:data:`~exoray.schemas.FETCH_MANIFEST_SCHEMA`), one row
        per entry, in script order.  Also written to ``manifest_path``.

    Raises
    ------
    exoray.ingest.bulk.BulkScriptError, exoray.errors.FetchError, FileNotFoundError
        When the script itself cannot be read (see :func:`load_entries`).
        Per-file failures never raise; they are rows with status ``failed``.
    """
    opts = DownloadOptions(
        max_retries=max_retries,
        backoff_s=backoff_s,
        max_backoff_s=max_backoff_s,
        timeout_s=timeout_s,
        checksum=checksum,
        threads=threads_per_task,
    )
    entries = load_entries(
        entries_or_script, base_url, sector=sector, timeout_s=timeout_s, max_retries=max_retries
    )
    if limit is not None:
        if limit < 0:
            raise InputError(f"limit must be >= 0, got {limit}")
        entries = entries[:limit]
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.fspath(manifest_path) if manifest_path else os.path.join(out_dir, MANIFEST_NAME)

    unique, conflicts = _dedupe(entries, out_dir)
    clean_partial_files(out_dir, (e["filename"] for e in unique))
    progress = _FetchProgress(len(unique) + len(conflicts), progress_every, progress_interval_s)
    for r in conflicts:
        progress.add(r)
    results: Dict[str, Dict] = {}
    log.info(
        "fetching %d file(s) into %s (%s)", len(unique), out_dir,
        "Ray tasks" if use_ray else "local threads",
    )
    try:
        if not unique:
            pass
        elif use_ray:
            _run_ray(unique, out_dir, opts, results, progress, concurrency, files_per_task, task_cpus, ray_address)
        else:
            threads = (concurrency or 1) * threads_per_task
            local = dataclasses.replace(opts, threads=threads)

            def on_row(row):
                results[row["filename"]] = row
                progress.add(row)

            fetch_batch(unique, out_dir, local, progress=on_row)
    finally:
        rows = _assemble(entries, unique, conflicts, results, out_dir)
        table = records_to_table(rows, FETCH_MANIFEST_SCHEMA)
        write_parquet_atomic(table, manifest_path)
        progress.maybe_log(force=True)
        log.info("manifest written to %s", manifest_path)
    return table


def _assemble(entries, unique, conflicts, results, out_dir) -> List[Dict]:
    """One row per entry in script order; anything without a result is failed."""
    conflict_rows: Dict[tuple, List[Dict]] = {}
    for r in conflicts:
        conflict_rows.setdefault((r["filename"], r["url"]), []).append(r)
    rows: List[Dict] = []
    emitted = set()
    for e in entries:
        name, url = e["filename"], e["url"]
        key = (name, url)
        if key in emitted:
            continue  # exact duplicate collapsed (warned in _dedupe)
        if results.get(name) is not None and results[name]["url"] == url:
            rows.append(results[name])
        elif conflict_rows.get(key):
            rows.append(conflict_rows[key].pop())
        else:
            rows.append(_failed_row(e, out_dir, "Interrupted", "run stopped before this file finished; rerun to resume"))
        emitted.add(key)
    return rows


def _run_ray(unique, out_dir, opts, results, progress, concurrency, files_per_task, task_cpus, ray_address):
    ray = init_ray(ray_address)
    if concurrency is None:
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        concurrency = max(1, int(cpus / max(task_cpus, 1e-3)))
    if files_per_task is None:
        files_per_task = min(32, max(1, math.ceil(len(unique) / (4 * concurrency))))
    batches = _batches(unique, files_per_task)
    remote = ray.remote(num_cpus=task_cpus, max_retries=2, retry_exceptions=False)(fetch_batch)
    pending: Dict = {}
    queue = list(reversed(batches))
    log.info("%d Ray task(s) of up to %d file(s), %d in flight", len(batches), files_per_task, concurrency)
    try:
        while queue or pending:
            while queue and len(pending) < concurrency:
                batch = queue.pop()
                pending[remote.remote(batch, out_dir, opts)] = batch
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=progress.every_s)
            if not ready:
                progress.maybe_log()
                continue
            for ref in ready:
                batch = pending.pop(ref)
                try:
                    rows = ray.get(ref)
                except ray.exceptions.RayError as exc:  # worker died etc.: record, keep going
                    log.warning("a fetch task failed (%s); its %d file(s) are marked failed", exc, len(batch))
                    rows = [_failed_row(e, out_dir, type(exc).__name__, str(exc)[:2000]) for e in batch]
                for row in rows:
                    results[row["filename"]] = row
                    progress.add(row)
    finally:
        for ref in pending:
            ray.cancel(ref)


def manifest_counts(table) -> Dict[str, int]:
    """Count manifest rows per status.

    Parameters
    ----------
    table : pyarrow.Table
        A fetch manifest.

    Returns
    -------
    dict
        ``{"fetched": n, "skipped": n, "failed": n, "total": n}``.
    """
    statuses = table.column("status").to_pylist()
    out = {s: statuses.count(s) for s in ("fetched", "skipped", "failed")}
    out["total"] = len(statuses)
    return out
