"""A minimal MAST portal on 127.0.0.1 for astroquery.mast, offline.

It answers astroquery's ``columnsconfig`` and ``invoke`` POSTs with the
hand-made JSON in ``tests/data/mast`` (every ``caom_tic*.json`` /
``products_tic*.json`` pair, see the README there) and serves the FITS bytes
it is given from ``/api/v0.1/Download/file``.  Observation rows are filtered by
the filters astroquery sends, as MAST would, so tests also check the query.

Faults a test can ask for, per file name:

* ``corrupt``: one bit flipped in the middle of the body;
* ``missing``: 404;
* ``truncate``: the full ``Content-Length`` is announced, half the body sent,
  then the connection closed (a transfer cut off);
* ``stall``: like ``truncate``, but the server waits on the given
  ``threading.Event`` before closing, so a test can kill the client mid-file.
  ``stalled`` is set once the half body has been sent.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

DATA = Path(__file__).resolve().parent / "data" / "mast"


def _load(name):
    return json.loads((DATA / name).read_text())


def _merged(pattern):
    out = None
    for p in sorted(DATA.glob(pattern)):
        d = _load(p.name)
        if out is None:
            out = d
        else:
            out["data"].extend(d["data"])
    return out


class FakeMast:
    """Minimal MAST portal on 127.0.0.1 (port 0) serving the hand-made JSON."""

    def __init__(self, files: dict):
        self.files = files  # basename -> bytes
        self.corrupt: set = set()
        self.missing: set = set()
        self.truncate: set = set()
        self.stall: dict = {}  # basename -> threading.Event that releases the stalled transfer
        self.stalled = threading.Event()
        self.fail_invoke = False
        self.invokes: list = []
        self.downloads: dict = {}
        self.lock = threading.Lock()
        self.obs = _merged("caom_tic*.json")
        self.products = _merged("products_tic*.json")
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                outer._post(self, self.rfile.read(n).decode())

            def do_GET(self):
                outer._file(self, head=False)

            def do_HEAD(self):
                outer._file(self, head=True)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        for ev in self.stall.values():
            ev.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    @staticmethod
    def _send(h, code, body: bytes, ctype="application/json", head=False):
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _post(self, h, body):
        path = urlsplit(h.path).path
        if path.endswith("/columnsconfig"):
            name = parse_qs(body).get("colConfigId", [""])[0]
            cfg = {
                "Mast.Caom.Cone": "columnsconfig_caom_cone.json",
                "Mast.Caom.Products": "columnsconfig_caom_products.json",
            }.get(name)
            return self._send(h, 200, (DATA / cfg).read_bytes() if cfg else b"{}")
        if path.endswith("/api/v0/invoke"):
            req = json.loads(parse_qs(body)["request"][0])
            with self.lock:
                self.invokes.append(req)
            if self.fail_invoke:
                return self._send(h, 500, b"internal error", "text/plain")
            if req["service"] == "Mast.Caom.Filtered":
                out = copy.deepcopy(self.obs)
                out["data"] = [r for r in out["data"] if _matches(r, req["params"]["filters"])]
            elif req["service"] == "Mast.Caom.Products":
                ids = set(req["params"]["obsid"].split(","))
                out = copy.deepcopy(self.products)
                out["data"] = [r for r in out["data"] if r["obsID"] in ids]
            else:
                return self._send(h, 200, json.dumps({"status": "ERROR", "msg": "unknown service"}).encode())
            out["paging"].update(rows=len(out["data"]), rowsFiltered=len(out["data"]))
            return self._send(h, 200, json.dumps(out).encode())
        return self._send(h, 404, b"{}")

    def _file(self, h, head):
        uri = parse_qs(urlsplit(h.path).query).get("uri", [""])[0]
        name = os.path.basename(uri)
        body = self.files.get(name)
        if body is None or name in self.missing:
            return self._send(h, 404, b"not found", "text/plain", head)
        if not head:
            with self.lock:
                self.downloads[name] = self.downloads.get(name, 0) + 1
        if name in self.corrupt:
            bad = bytearray(body)
            bad[len(bad) // 2] ^= 0x01
            body = bytes(bad)
        if head or (name not in self.truncate and name not in self.stall):
            return self._send(h, 200, body, "application/fits", head)
        h.send_response(200)
        h.send_header("Content-Type", "application/fits")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.wfile.flush()
        if name in self.stall:
            self.stalled.set()
            self.stall[name].wait(60)
        h.close_connection = True


def _matches(row, filters) -> bool:
    for f in filters:
        v = row.get(f["paramName"])
        vals = f["values"]
        if vals and isinstance(vals[0], dict):
            if v is None or not vals[0]["min"] <= float(v) <= vals[0]["max"]:
                return False
        elif str(v) not in vals:
            return False
    return True


def serving(real_dir: Path, entries):
    """A :class:`FakeMast` serving shared real files, ``entries`` = ``(folder, file name)`` pairs.

    A generator for a pytest fixture: skips the test when a file is absent
    from the shared data, and closes the server after it.
    """
    import pytest

    files = {}
    for sub, name in entries:
        p = real_dir / sub / name
        if not p.exists():
            pytest.skip(f"{p} missing")
        files[name] = p.read_bytes()
    srv = FakeMast(files)
    yield srv
    srv.close()
