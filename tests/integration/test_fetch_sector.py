"""fetch_sector against a local fault-injecting HTTP server (127.0.0.1 only).

Real FITS files from the shared data folder are copied into ``tmp_path`` and
served under TESS-style names listed in a generated MAST-style bulk script.
Each file gets a fault plan: HTTP 500 for the first requests, a truncated body
(Content-Length announced, connection closed early), a response slower than
the client timeout, a permanent 404, corrupted bytes with the right length, a
429 with ``Retry-After``, a permanent 503.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest

from exoray.ingest import download as dl
from exoray.ingest.bulk import parse_bulk_script
from exoray.schemas import FETCH_MANIFEST_SCHEMA

pytestmark = pytest.mark.ray

CLIENT_TIMEOUT = 0.4
SLOW_SLEEP = 1.2


class FaultServer:
    """ThreadingHTTPServer serving ``files`` with per-file faults.

    ``faults[name]`` is a list consumed one item per request (then "ok"):
    "ok", "500", "503", "429", "404", "truncate", "slow", "corrupt".
    A string instead of a list means "always this fault".
    """

    def __init__(self, files: dict, faults: dict):
        self.files = files  # name -> bytes
        self.faults = faults
        self.requests: dict = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                outer._handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        # clients that time out reset connections; that is the point, not an error
        self.httpd.handle_error = lambda request, client_address: None
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    def _next_fault(self, name):
        with self.lock:
            n = self.requests.get(name, 0)
            self.requests[name] = n + 1
        plan = self.faults.get(name, "ok")
        if isinstance(plan, str):
            return plan
        return plan[n] if n < len(plan) else "ok"

    def _handle(self, h):
        qs = parse_qs(urlsplit(h.path).query)
        name = os.path.basename(qs.get("uri", [""])[0])
        body = self.files.get(name)
        fault = self._next_fault(name)
        try:
            if body is None or fault == "404":
                return self._send(h, 404, b"not found")
            if fault in ("500", "503"):
                return self._send(h, int(fault), b"server error")
            if fault == "429":
                return self._send(h, 429, b"slow down", {"Retry-After": "0"})
            if fault == "slow":
                time.sleep(SLOW_SLEEP)
                return self._send(h, 200, body)
            if fault == "corrupt":
                bad = bytearray(body)
                bad[len(bad) // 2] ^= 0x40
                return self._send(h, 200, bytes(bad))
            if fault == "truncate":
                h.send_response(200)
                h.send_header("Content-Type", "application/octet-stream")
                h.send_header("Content-Length", str(len(body)))
                h.end_headers()
                h.wfile.write(body[: len(body) // 3])
                h.wfile.flush()
                h.close_connection = True
                return None
            return self._send(h, 200, body)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # client gave up (timeout); expected
            return None

    @staticmethod
    def _send(h, code, body, headers=None):
        h.send_response(code)
        h.send_header("Content-Type", "application/octet-stream")
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)


def _tess_name(i: int) -> str:
    return f"tess2018206045859-s0001-{i:016d}-0120-s_lc.fits"


def _script(names, host="https://mast.stsci.edu") -> str:
    lines = ["#!/bin/sh", "# generated for tests", ""]
    for n in names:
        lines.append(
            f"curl -C - -L -o {n} {host}/api/v0.1/Download/file/?uri=mast:TESS/product/{n}"
        )
    return "\n".join(lines) + "\n"


@pytest.fixture()
def sources(real_dir, tmp_path):
    """Real small FITS copied into tmp_path/src, served under TESS-style names."""
    picks = sorted((real_dir / "tess_ffi_hlsp").glob("*.fits")) + sorted(
        (real_dir / "kepler_llc").glob("*.fits")
    )
    if len(picks) < 4:
        pytest.skip("not enough small real FITS files")
    src = tmp_path / "src"
    src.mkdir()
    files = {}
    for i in range(1, 10):
        p = picks[(i - 1) % len(picks)]
        name = _tess_name(1000 + i)
        shutil.copyfile(p, src / name)
        files[name] = (src / name).read_bytes()
    return files


FAULTS = {
    _tess_name(1001): [],  # clean
    _tess_name(1002): ["500", "500"],  # fetched on attempt 3
    _tess_name(1003): ["truncate"],  # fetched on attempt 2
    _tess_name(1004): ["slow"],  # client timeout, then fetched
    _tess_name(1005): "404",  # final at once
    _tess_name(1006): ["corrupt"],  # checksum catches it, then fetched
    _tess_name(1007): "corrupt",  # always corrupt -> failed ChecksumError
    _tess_name(1008): ["429"],  # Retry-After: 0, then fetched
    _tess_name(1009): "503",  # always 503 -> failed after retries
}
OPTS = dict(max_retries=3, backoff_s=0.01, max_backoff_s=0.05, timeout_s=CLIENT_TIMEOUT)


def _by_name(table):
    return {r["filename"]: r for r in table.to_pylist()}


def test_fault_injection_ray_then_resume(sources, tmp_path, ray_local):
    out = tmp_path / "out"
    with FaultServer(sources, FAULTS) as srv:
        script = tmp_path / "tesscurl_sector_1_lc.sh"
        script.write_text(_script(sorted(sources)))
        t0 = time.monotonic()
        table = dl.fetch_sector(
            script, out, base_url=srv.base_url, files_per_task=3, threads_per_task=2,
            concurrency=3, progress_every=2, **OPTS,
        )
        elapsed = time.monotonic() - t0
        assert table.schema.equals(FETCH_MANIFEST_SCHEMA, check_metadata=False)
        on_disk = pq.read_table(out / "manifest.parquet")
        assert on_disk.num_rows == len(sources) == table.num_rows
        rows = _by_name(table)
        assert set(rows) == set(sources)  # every entry exactly once

        failed = {n for n, r in rows.items() if r["status"] == "failed"}
        assert failed == {_tess_name(1005), _tess_name(1007), _tess_name(1009)}
        for n, r in rows.items():
            assert r["tic_id"] == int(n.split("-")[2]) and r["sector"] == 1
            if r["status"] == "fetched":
                data = (out / n).read_bytes()
                assert data == sources[n]  # byte-identical to the source
                assert r["sha256"] == hashlib.sha256(data).hexdigest()
                assert r["bytes"] == len(data) and r["error"] is None
            else:
                assert r["error"] and r["message"]
                assert not (out / n).exists()

        assert rows[_tess_name(1001)]["attempts"] == 1
        assert rows[_tess_name(1002)]["attempts"] == 3
        assert rows[_tess_name(1003)]["attempts"] == 2
        assert rows[_tess_name(1004)]["attempts"] == 2
        assert rows[_tess_name(1006)]["attempts"] == 2
        assert rows[_tess_name(1008)]["attempts"] == 2
        # 404: final, no retries
        r404 = rows[_tess_name(1005)]
        assert r404["attempts"] == 1 and r404["error"] == "HTTPStatusError" and "404" in r404["message"]
        assert srv.requests[_tess_name(1005)] == 1
        # always-corrupt: checksum caught it on every attempt
        rc = rows[_tess_name(1007)]
        assert rc["error"] == "ChecksumError" and rc["attempts"] == 4
        assert "CHECKSUM" in rc["message"]
        r503 = rows[_tess_name(1009)]
        assert r503["error"] == "HTTPStatusError" and r503["attempts"] == 4
        assert srv.requests[_tess_name(1009)] == 4
        # no temp files left behind
        assert not [p for p in os.listdir(out) if p.endswith(".part")]
        assert elapsed < 30

        # rerun: fetched ones are skipped, nothing new is requested for them
        before = dict(srv.requests)
        table2 = dl.fetch_sector(script, out, base_url=srv.base_url, files_per_task=4, **OPTS)
        rows2 = _by_name(table2)
        assert table2.num_rows == len(sources)
        for n, r in rows.items():
            if r["status"] == "fetched":
                assert rows2[n]["status"] == "skipped"
                assert rows2[n]["sha256"] == r["sha256"] and rows2[n]["attempts"] == 0
                assert srv.requests[n] == before[n]
            else:
                assert rows2[n]["status"] == "failed"
        counts = dl.manifest_counts(table2)
        assert counts == {"fetched": 0, "skipped": 6, "failed": 3, "total": 9}


def test_killed_run_leftovers_are_not_done(sources, tmp_path):
    """A stale .part file and a truncated final file (non-atomic writer) are redone."""
    out = tmp_path / "out"
    out.mkdir()
    names = sorted(sources)[:3]
    part = out / f".{names[0]}.{'a' * 32}.part"
    part.write_bytes(sources[names[0]][:5000])
    (out / names[1]).write_bytes(sources[names[1]][: 2880 * 3])  # truncated final file
    good = out / names[2]
    good.write_bytes(sources[names[2]])
    with FaultServer(sources, {}) as srv:
        entries = parse_bulk_script(_script(names), base_url=srv.base_url)
        table = dl.fetch_sector(entries, out, use_ray=False, **OPTS)
        rows = _by_name(table)
        assert rows[names[0]]["status"] == "fetched"
        assert rows[names[1]]["status"] == "fetched"
        assert rows[names[2]]["status"] == "skipped"
        assert names[2] not in srv.requests
        for n in names:
            assert (out / n).read_bytes() == sources[n]
    assert not part.exists()


def test_existing_corrupt_file_is_refetched(sources, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    name = sorted(sources)[0]
    bad = bytearray(sources[name])
    bad[3000] ^= 1  # right size, broken checksum
    (out / name).write_bytes(bytes(bad))
    with FaultServer(sources, {}) as srv:
        table = dl.fetch_sector(_script([name]), out, base_url=srv.base_url, use_ray=False, **OPTS)
    (row,) = table.to_pylist()
    assert row["status"] == "fetched" and (out / name).read_bytes() == sources[name]


def test_duplicates_and_unreachable_host(sources, tmp_path):
    names = sorted(sources)[:2]
    text = _script(names) + _script(names[:1]).split("\n", 3)[3]  # exact duplicate line
    text += f"curl -o {names[1]} http://127.0.0.1:9/other/{names[1]}\n"  # conflicting duplicate
    with FaultServer(sources, {}) as srv:
        table = dl.fetch_sector(text, tmp_path / "o", base_url=srv.base_url, use_ray=False, **OPTS)
    statuses = [(r["filename"], r["status"], r["error"]) for r in table.to_pylist()]
    assert statuses == [
        (names[0], "fetched", None),
        (names[1], "fetched", None),
        (names[1], "failed", "DuplicateEntryError"),
    ]
    # nobody listens on this port: connection refused -> retried, then failed
    port_dead = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    dead = f"http://127.0.0.1:{port_dead.server_address[1]}"
    port_dead.server_close()
    table = dl.fetch_sector(_script(names[:1]), tmp_path / "d", base_url=dead, use_ray=False,
                            max_retries=1, backoff_s=0.01, timeout_s=0.5)
    (row,) = table.to_pylist()
    assert row["status"] == "failed" and row["error"] == "ConnectionError" and row["attempts"] == 2


def test_cli_fetch_sector(sources, tmp_path, ray_local, capsys):
    from exoray.cli import main

    names = sorted(sources)
    script = tmp_path / "s.sh"
    script.write_text(_script(names))
    with FaultServer(sources, {names[0]: "404"}) as srv:
        rc = main([
            "fetch-sector", "--sector", "1", "--out", str(tmp_path / "c"), "--script", str(script),
            "--base-url", srv.base_url, "--limit", "4", "--retries", "1", "--timeout", "2",
        ])
        out = capsys.readouterr().out
        assert rc == 1
        assert "fetched 3" in out and "failed 1" in out and "skipped 0" in out
        rc = main([
            "fetch-sector", "--sector", "1", "--out", str(tmp_path / "c"), "--script", str(script),
            "--base-url", srv.base_url, "--limit", "4", "--retries", "0", "--no-ray",
        ])
        out = capsys.readouterr().out
        assert rc == 1 and "skipped 3" in out
    assert pq.read_table(tmp_path / "c" / "manifest.parquet").num_rows == 4
