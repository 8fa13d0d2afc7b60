"""Dashboard views without a browser: the candidate table as shown, the scoring-service status line."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pandas as pd
import pytest

from exoray.dashboard import data as D


def test_table_view_puts_the_decision_first():
    df = pd.DataFrame({
        "tic_id": [1, 2], "sector": [3, 3], "candidate_index": [0, 1], "period_days": [1.5, 2.5],
        "t0_btjd": [1400.0, 1401.0], "duration_hours": [2.0, 3.0], "depth_ppm": [500.0, 26000.0],
        "snr": [9.0, 230.0], "sde": [8.0, 10.0], "n_transits": [10, 18], "score": [0.734, np.nan],
        "score_lo": [0.48, np.nan], "score_hi": [0.912, np.nan], "disposition": ["planet_candidate", "false_alarm"],
        "known_object": [None, "TOI-232.01 (KP, P=1.338 d)"], "vet_flags": ["known_planet;odd_even", None],
    })
    v = D.table_view(df)
    assert list(v.columns[:6]) == ["TIC", "sector", "#", "disposition", "score [90%]", "known object"]
    assert list(v["score [90%]"]) == ["0.73 [0.48, 0.91]", "n/a"]
    assert list(v["known object"]) == ["-", "TOI-232.01 (KP, P=1.338 d)"]
    assert list(v["vet flags"]) == ["known_planet, odd_even", ""]
    assert v["P (d)"].tolist() == [1.5, 2.5]  # numbers stay numbers (the grid sorts them as such)
    assert set(D.SORT_KEYS.values()) <= set(df.columns)


def test_service_status_says_what_to_do_when_nothing_listens():
    ok, msg = D.service_status("http://127.0.0.1:9", timeout=2)
    assert not ok
    assert msg.startswith("No scoring service answers at http://127.0.0.1:9") and "exoray serve" in msg
    for raw in ("urllib3", "HTTPConnectionPool", "Max retries", "Errno"):
        assert raw not in msg


class _Handler(BaseHTTPRequestHandler):
    status = 200
    body = {"ready": True}

    def do_GET(self):  # noqa: N802 - http.server's name
        data = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("status, body, ready, text", [
    (200, {"ready": True}, True, "ready at"),
    (503, {"error": "not_ready", "message": "search: warming up"}, False, "not ready yet (HTTP 503: search: warming up)"),
])
def test_service_status_of_a_running_service(status, body, ready, text):
    handler = type("H", (_Handler,), {"status": status, "body": body})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ok, msg = D.service_status(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert ok is ready and text in msg
