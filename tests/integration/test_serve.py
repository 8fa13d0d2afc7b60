"""The scoring service over real HTTP on loopback (Ray Serve on the shared local Ray).

One application serves the whole module (startup compiles the search
kernels, ~30-50 s on a busy 2-core box).  Its anomaly registry starts empty,
so the 'model missing' answers are checked first; a tiny untrained
autoencoder is then registered and picked up without a restart.
"""

from __future__ import annotations

import concurrent.futures as cf
import io
import json
import socket
import time
from collections import Counter

import numpy as np
import pytest

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

requests = pytest.importorskip("requests")
pytest.importorskip("python_multipart", reason="python-multipart is needed for FITS uploads")

WASP4 = "tess2018234235059-s0002-0000000402026209-0121-s_lc.fits"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="module")
def service(ray_local, registry):
    from ray import serve

    from exoray.serve.commands import start_service, wait_ready

    port = _free_port()
    settings = {
        "model_registry": str(registry),
        "anomaly_retry_s": 0.5,
        "max_request_bytes": 4 * 1024 * 1024,
        "deployments": {"Searcher": {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0.5}}},
    }
    start_service(settings, "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout_s=240)
        yield url
    finally:
        serve.shutdown()


def _box_lightcurve(period=3.1, t0=1001.3, depth=0.01, dur_h=3.0, days=27.0, seed=1):
    rng = np.random.default_rng(seed)
    t = 1000.0 + np.arange(0, days, 2.0 / 1440.0)
    flux = 1000.0 * (1 + rng.normal(0, 1e-3, t.size))
    phase = (t - t0 + 0.5 * period) % period - 0.5 * period
    flux[np.abs(phase) < dur_h / 48.0] *= 1 - depth
    return t, flux


# --------------------------------------------------------------------------- health and models
def test_health_ready_and_models_report_missing_anomaly_model(service):
    r = requests.get(service + "/healthz", timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = requests.get(service + "/readyz", timeout=10)
    assert r.status_code == 200, r.text
    models = {m["kind"]: m for m in r.json()["models"]}
    assert models["ranker"]["ready"] and models["search"]["ready"]
    assert models["anomaly"]["ready"] is False
    assert "exoray train autoencoder" in models["anomaly"]["message"]
    m = requests.get(service + "/v1/models", timeout=10).json()["models"]
    ranker = next(x for x in m if x["kind"] == "ranker")
    assert ranker["version"] and ranker["details"]["members"] >= 2


def test_anomaly_without_model_is_503_not_a_fake_score(service):
    windows = np.ones((2, 192)).tolist()
    r = requests.post(service + "/v1/anomaly", json={"windows": windows}, timeout=30)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["error"] == "model_missing" and "exoray train autoencoder" in body["message"]


def test_openapi_docs(service):
    assert requests.get(service + "/docs", timeout=10).status_code == 200
    spec = requests.get(service + "/openapi.json", timeout=10).json()
    for path in ("/v1/score", "/v1/rank", "/v1/anomaly", "/v1/models", "/healthz", "/readyz"):
        assert path in spec["paths"]
    content = spec["paths"]["/v1/score"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert "ScoreRequest" in spec["components"]["schemas"]


# --------------------------------------------------------------------------- scoring
def test_score_json_finds_injected_box_transit(service):
    t, f = _box_lightcurve()
    body = {"time": t.tolist(), "flux": f.tolist(), "tic_id": 42, "sector": 7, "radius": 1.0, "mass": 1.0}
    r = requests.post(service + "/v1/score", json=body, timeout=120)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tic_id"] == 42 and out["sector"] == 7 and out["n_cadences"] == t.size
    best = out["candidates"][0]
    assert best["period_days"] == pytest.approx(3.1, rel=2e-3)
    assert best["depth_ppm"] == pytest.approx(1e4, rel=0.25)
    for c in out["candidates"]:
        assert set(("period_days", "t0_btjd", "duration_hours", "depth_ppm", "snr", "score", "score_lo",
                    "score_hi", "disposition")) <= set(c)
        assert 0 <= c["score_lo"] <= c["score"] <= c["score_hi"] <= 1


def test_score_period_range_per_request(service):
    """min/max_period_days narrow the search for one request (JSON and form fields)."""
    t, f = _box_lightcurve()
    body = {"time": t.tolist(), "flux": f.tolist(), "radius": 1.0, "mass": 1.0}
    r = requests.post(service + "/v1/score", json=dict(body, max_period_days=2.5), timeout=120)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["models"]["search"]["max_period_days"] == 2.5
    assert all(c["period_days"] <= 2.5 for c in out["candidates"])
    assert not any(abs(c["period_days"] / 3.1 - 1) < 2e-3 for c in out["candidates"])
    bad = requests.post(service + "/v1/score", json=dict(body, min_period_days=5.0, max_period_days=2.0), timeout=30)
    assert bad.status_code == 422 and "max_period_days" in bad.json()["message"]
    for v in ("-1", "abc", "1e400"):
        r = requests.post(service + "/v1/score", files={"file": ("x.fits", b"SIMPLE", "application/fits")},
                          data={"max_period_days": v}, timeout=30)
        assert r.status_code == 422 and r.json()["details"][0]["loc"] == "max_period_days", (v, r.text)


def test_score_real_fits_upload_finds_wasp4b(service, spoc_files):
    path = next((p for p in spoc_files if p.name == WASP4), None)
    if path is None:
        pytest.skip(f"{WASP4} not in the shared data")
    with open(path, "rb") as fh:
        r = requests.post(service + "/v1/score", files={"file": (path.name, fh, "application/fits")}, timeout=120)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tic_id"] == 402026209 and out["sector"] == 2
    best = out["candidates"][0]
    assert best["period_days"] == pytest.approx(1.33823, rel=1e-3)  # WASP-4 b, P = 1.338231 d
    assert best["depth_ppm"] > 15000
    assert best["disposition"] == "planet_candidate"
    assert best["score"] > 0.5


def test_score_several_uploads_of_one_star_are_stitched(service, tmp_path):
    from exoray.simulate import simulate_sector

    simulate_sector(2, tmp_path, seed=3, sectors=[24, 51], mix="planet=1", snr_range=(25.0, 40.0))
    star = sorted(tmp_path.glob("*0000009000000000*.fits"))
    other = sorted(tmp_path.glob("*0000009000000001*.fits"))

    def post(paths):
        files = [("file", (p.name, p.read_bytes(), "application/fits")) for p in paths]
        return requests.post(service + "/v1/score", files=files, data={"max_period_days": "5"}, timeout=300)

    r = post(star)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tic_id"] == 9000000000 and out["sectors"] == [24, 51] and out["passed_over"] == []
    assert out["candidates"] and out["n_cadences"] > 30000  # both sectors' cadences
    r = post([star[0], other[1]])
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "different_stars" and "9000000000" in err["message"] and "9000000001" in err["message"]


# --------------------------------------------------------------------------- ranking
def _record(**kw):
    rec = {"period_days": 3.2, "duration_hours": 2.5, "depth_ppm": 900.0, "snr": 25.0, "sde": 15.0,
           "n_transits": 7, "odd_even_sigma": 0.3, "secondary_sigma": 0.5, "disposition": "planet_candidate",
           "vet_flags": "", "radius": 1.0, "teff": 5700.0, "tmag": 10.0}
    rec.update(kw)
    return rec


def test_rank_sorted_with_intervals_and_echoed_ids(service):
    recs = [
        _record(id="eb", depth_ppm=150000.0, secondary_sigma=40.0, odd_even_sigma=12.0, disposition="eclipsing_binary",
                vet_flags="v_shaped;secondary_eclipse"),
        _record(id="pc", tic_id=123, sector=4, candidate_index=0),
        _record(id="fa", snr=7.1, sde=7.2, disposition="false_alarm", vet_flags="low_snr", n_transits=2),
        dict(_record(id="extra"), comment="ignored"),
    ]
    r = requests.post(service + "/v1/rank", json={"candidates": recs}, timeout=30)
    assert r.status_code == 200, r.text
    out = r.json()
    scores = [x["score"] for x in out["results"]]
    assert scores == sorted(scores, reverse=True)
    assert sorted(x["index"] for x in out["results"]) == [0, 1, 2, 3]
    for x in out["results"]:
        assert 0 <= x["score_lo"] <= x["score"] <= x["score_hi"] <= 1
    by_id = {x["id"]: x for x in out["results"]}
    assert by_id["pc"]["tic_id"] == 123 and by_id["pc"]["candidate_index"] == 0
    assert by_id["pc"]["score"] > by_id["eb"]["score"]
    for x in out["results"]:  # one decision: the disposition follows the score
        assert (x["disposition"] == "planet_candidate") == (x["score"] >= 0.5)
    assert by_id["eb"]["score"] >= 0.5 or by_id["eb"]["disposition"] == "eclipsing_binary"
    assert out["ignored_fields"] == ["comment"]
    # batching must not change a record's score: alone == inside a batch of concurrent requests
    alone = requests.post(service + "/v1/rank", json={"candidates": [recs[1]]}, timeout=30).json()["results"][0]
    with cf.ThreadPoolExecutor(8) as pool:
        many = list(pool.map(lambda _: requests.post(service + "/v1/rank", json={"candidates": [recs[1]]},
                                                     timeout=30).json(), range(16)))
    for m in many:
        assert m["results"][0]["score"] == pytest.approx(alone["score"], abs=1e-12)


# --------------------------------------------------------------------------- bad input
def _bad_requests(spoc_files):
    """(label, method, path, requests kwargs) for malformed requests; every one must get a 4xx."""
    t, f = _box_lightcurve(days=2.0)
    tl, fl = t.tolist(), f.tolist()
    ok = {"time": tl, "flux": fl}
    J = {"content-type": "application/json"}
    cases = []

    def js(label, body, path="/v1/score"):
        cases.append((label, "POST", path, {"json": body}))

    def raw(label, data, headers=J, path="/v1/score"):
        cases.append((label, "POST", path, {"data": data, "headers": headers}))

    # malformed JSON
    for i, d in enumerate([b"{", b"{'time': [1]}", b"nul", b"", b"[1, 2", b'{"time": [1, 2,]}', b"\xff\xfe\x00",
                           b'{"time": [1, 2], "flux": [1, 2]', b"}{"]):
        raw(f"malformed-json-{i}", d)
        raw(f"malformed-json-rank-{i}", d, path="/v1/rank")
        raw(f"malformed-json-anomaly-{i}", d, path="/v1/anomaly")
    # not an object / missing fields / wrong types
    for i, body in enumerate([[], 1, "text", None, {}, {"time": tl}, {"flux": fl}]):
        js(f"shape-{i}", body)
    wrong = [
        ("time-str", {"time": "abc", "flux": fl}), ("flux-dict", {"time": tl, "flux": {"a": 1}}),
        ("time-strs", {"time": [str(x) for x in tl], "flux": fl}), ("flux-bools", {"time": tl, "flux": [True] * len(tl)}),
        ("tic-str", {**ok, "tic_id": "abc"}), ("tic-neg", {**ok, "tic_id": -1}), ("tic-float", {**ok, "tic_id": 1.5}),
        ("quality-float", {**ok, "quality": [1.5] * len(tl)}), ("quality-neg", {**ok, "quality": [-1] * len(tl)}),
        ("quality-huge", {**ok, "quality": [2**40] * len(tl)}), ("anomaly-str", {**ok, "anomaly": "yes"}),
        ("cadence-neg", {**ok, "cadence_s": -5}), ("unknown-field", {**ok, "fluxes": fl}),
        ("teff-str", {**ok, "teff": "hot"}), ("nested", {"time": [[1, 2]], "flux": [[1, 2]]}),
        ("empty-arrays", {"time": [], "flux": []}),
    ]
    for label, body in wrong:
        js(label, body)
    # semantic problems
    n = len(tl)
    sem = [
        ("len-flux", {"time": tl, "flux": fl[:-1]}), ("len-flux-err", {**ok, "flux_err": [1.0] * (n + 3)}),
        ("len-quality", {**ok, "quality": [0] * (n // 2)}),
        ("nan-only-null", {"time": tl, "flux": [None] * n}),
        ("few-points-10", {"time": tl[:10], "flux": fl[:10]}), ("few-points-99", {"time": tl[:99], "flux": fl[:99]}),
        ("few-finite", {"time": tl, "flux": fl[:50] + [None] * (n - 50)}),
        ("unsorted", {"time": tl[::-1], "flux": fl}), ("duplicate-time", {"time": tl[:1] + tl[:-1], "flux": fl}),
        ("shuffled", {"time": list(np.random.default_rng(0).permutation(tl)), "flux": fl}),
        ("negative-flux", {"time": tl, "flux": [-x for x in fl]}), ("zero-flux", {"time": tl, "flux": [0.0] * n}),
    ]
    for label, body in sem:
        js(label, body)
    raw("nan-literal-flux", json.dumps({"time": tl, "flux": [float("nan")] * n}).encode())
    raw("nan-literal-time", json.dumps({"time": [float("nan")] + tl[1:], "flux": fl}).encode())
    raw("inf-time", json.dumps({"time": tl[:-1] + [float("inf")], "flux": fl}).encode())
    # media types
    for ct in ("text/plain", "application/xml", "application/x-www-form-urlencoded", "image/png", ""):
        raw(f"media-score-{ct or 'none'}", b'{"time": [1], "flux": [1]}', {"content-type": ct} if ct else {})
        raw(f"media-rank-{ct or 'none'}", b'{"candidates": []}', {"content-type": ct} if ct else {}, path="/v1/rank")
    cases.append(("media-rank-multipart", "POST", "/v1/rank", {"files": {"file": ("a.json", b"{}")}}))
    cases.append(("media-anomaly-multipart", "POST", "/v1/anomaly", {"files": {"file": ("a.json", b"{}")}}))
    # oversized (limit 4 MiB here): Content-Length, and chunked without a length
    big = b'{"time": [' + b"1.0, " * (1024 * 1024) + b"1.0]}"
    raw("oversize-json", big)
    raw("oversize-rank", big, path="/v1/rank")

    def chunks():
        for _ in range(80):
            yield b" " * 65536

    cases.append(("oversize-chunked", "POST", "/v1/score", {"data": chunks(), "headers": J}))
    cases.append(("oversize-multipart", "POST", "/v1/score", {"files": {"file": ("big.fits", b"\0" * (5 * 2**20))}}))
    # uploads that are not FITS light curves
    not_fits = [
        ("text", b"time,flux\n1,2\n"), ("empty", b""), ("zeros-2880", b"\0" * 2880),
        ("random", np.random.default_rng(1).bytes(5760)), ("png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
        ("fits-header-only", b"SIMPLE  =                    T" + b" " * (2880 - 30)),
    ]
    from astropy.io import fits

    buf = io.BytesIO()
    fits.PrimaryHDU(np.zeros((4, 4))).writeto(buf)
    not_fits.append(("fits-image", buf.getvalue()))
    buf = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(
        [fits.Column(name="X", format="E", array=np.arange(5.0))])]).writeto(buf)
    not_fits.append(("fits-wrong-table", buf.getvalue()))
    real = next((p for p in spoc_files if p.name == WASP4), spoc_files[0]) if spoc_files else None
    if real is not None:
        data = real.read_bytes()
        not_fits.append(("truncated-real", data[:100_000]))
        not_fits.append(("truncated-real-block", data[: 2880 * 20]))
    for label, data in not_fits:
        cases.append((f"upload-{label}", "POST", "/v1/score", {"files": {"file": ("lc.fits", data)}}))
    cases.append(("upload-wrong-field", "POST", "/v1/score", {"files": {"lightcurve": ("lc.fits", b"x")}}))
    cases.append(("upload-text-field", "POST", "/v1/score", {"data": {"file": "not a file"}, "files": {"x": ("a", b"")}}))
    cases.append(("upload-extra-field", "POST", "/v1/score", {"files": {"file": ("lc.fits", b"x"), "zzz": ("b", b"y")}}))
    cases.append(("multipart-no-boundary", "POST", "/v1/score",
                  {"data": b"--abc\r\nbroken", "headers": {"content-type": "multipart/form-data"}}))
    cases.append(("multipart-garbage", "POST", "/v1/score",
                  {"data": b"garbage", "headers": {"content-type": "multipart/form-data; boundary=xyz"}}))
    # /v1/rank
    rank_bad = [
        ("no-candidates", {}), ("empty", {"candidates": []}), ("not-list", {"candidates": {"a": 1}}),
        ("missing-snr", {"candidates": [{"period_days": 1, "duration_hours": 2, "depth_ppm": 3}]}),
        ("snr-str", {"candidates": [_record(snr="high")]}), ("snr-bool", {"candidates": [_record(snr=True)]}),
        ("disp-bogus", {"candidates": [_record(disposition="planet")]}),
        ("flags-int", {"candidates": [_record(vet_flags=3)]}), ("nested-dict", {"candidates": [_record(snr={"a": 1})]}),
        ("too-many", {"candidates": [_record()] * 1001}), ("extra-top", {"candidates": [_record()], "x": 1}),
        ("tic-float", {"candidates": [_record(tic_id=1.5)]}), ("records-not-objects", {"candidates": [1, 2]}),
    ]
    for label, body in rank_bad:
        js(f"rank-{label}", body, "/v1/rank")
    raw("rank-nan", b'{"candidates": [{"period_days": NaN, "duration_hours": 2, "depth_ppm": 3, "snr": 9}]}',
        path="/v1/rank")
    # /v1/anomaly (structural errors: rejected before the model is consulted)
    for label, body in [("empty", {"windows": []}), ("str", {"windows": "abc"}), ("strs", {"windows": [["a"] * 192]}),
                        ("flat", {"windows": [1.0] * 192}), ("model-int", {"windows": [[1.0] * 192], "model": 3}),
                        ("extra", {"windows": [[1.0] * 192], "x": 1}), ("none", {})]:
        js(f"anomaly-{label}", body, "/v1/anomaly")
    # methods and paths
    for p in ("/v1/score", "/v1/rank", "/v1/anomaly"):
        cases.append((f"get-{p}", "GET", p, {}))
    cases.append(("post-healthz", "POST", "/healthz", {"json": {}}))
    cases.append(("unknown-path", "GET", "/v2/score", {}))
    cases.append(("unknown-post", "POST", "/v1/nope", {"json": {}}))
    return cases


def test_malformed_requests_all_get_4xx_json_and_service_stays_up(service, request):
    try:
        spoc = request.getfixturevalue("spoc_files")
    except pytest.skip.Exception:
        spoc = []
    cases = _bad_requests(spoc)
    # every generator is single-use: the chunked case is sent once, the rest three times
    sends = [c for c in cases] + [c for c in cases if c[0] != "oversize-chunked"] * 2
    assert len(sends) >= 200

    def send(case):
        label, method, path, kw = case
        try:
            r = requests.request(method, service + path, timeout=120, **kw)
        except requests.ConnectionError as exc:  # the server may close while we still stream an oversized body
            return label, None, str(exc)
        try:
            body = r.json()
        except ValueError:
            body = None
        return label, r.status_code, body

    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, sends))
    by_status = Counter(code for _, code, _ in results)
    print("\nmalformed requests by status:", dict(sorted(by_status.items(), key=lambda kv: str(kv[0]))))
    problems = []
    for label, code, body in results:
        if code is None:
            if not label.startswith("oversize"):
                problems.append((label, "connection error", body))
            continue
        if not 400 <= code < 500:
            problems.append((label, code, body))
        elif not (isinstance(body, dict) and body.get("error") and body.get("message")):
            problems.append((label, code, "body is not a JSON error", body))
    assert not problems, problems[:10]
    # a few exact codes
    codes = {label: code for label, code, _ in results}
    assert codes["malformed-json-0"] == 400 and codes["oversize-json"] == 413
    assert codes["media-score-text/plain"] == 415 and codes["len-flux"] == 422 and codes["unsorted"] == 422
    assert codes["upload-text"] == 422 and codes["get-/v1/score"] == 405
    assert requests.get(service + "/healthz", timeout=10).status_code == 200
    assert requests.get(service + "/readyz", timeout=10).status_code == 200


# --------------------------------------------------------------------------- anomaly with a model
def test_anomaly_scores_after_a_model_is_registered(service, registry):
    from exoray.models.registry import build_model, default_config, save_model

    import torch

    torch.manual_seed(0)
    cfg = default_config("autoencoder")
    save_model(build_model("autoencoder", cfg), "autoencoder", cfg, {"note": "untrained test model"},
               registry=registry)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        m = requests.get(service + "/v1/models", timeout=10).json()["models"]
        anom = next(x for x in m if x["kind"] == "anomaly")
        if anom["ready"]:
            break
        time.sleep(0.5)
    assert anom["ready"] and anom["version"] == "v0001", anom
    rng = np.random.default_rng(0)
    w = 1 + rng.normal(0, 1e-3, (5, 192))
    w[2, 90:100] -= 0.02  # a transit-like dip
    r = requests.post(service + "/v1/anomaly", json={"windows": w.tolist()}, timeout=30)
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out["scores"]) == 5 and all(np.isfinite(out["scores"]))
    assert out["model"] == {"name": "autoencoder", "version": "v0001"}
    # now a wrong window length is a 422 naming the expected length
    r = requests.post(service + "/v1/anomaly", json={"windows": [[1.0] * 50]}, timeout=30)
    assert r.status_code == 422 and "192" in r.json()["message"]
    # and /v1/score returns the highest-scoring windows of the light curve
    t, f = _box_lightcurve(days=6.0)
    r = requests.post(service + "/v1/score", json={"time": t.tolist(), "flux": f.tolist(), "anomaly": True},
                      timeout=120)
    assert r.status_code == 200, r.text
    anomaly = r.json()["anomaly"]
    assert anomaly["available"] and anomaly["n_windows"] > 0 and anomaly["windows"]
    scores = [x["anomaly_score"] for x in anomaly["windows"]]
    assert scores == sorted(scores, reverse=True)
