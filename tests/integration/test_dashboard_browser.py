"""The Streamlit dashboard driven by a real headless Chromium (Debian's chromium + chromedriver).

A small sweep (WASP-4 from the shared real data plus one truncated file that
must be quarantined) is written to a temporary folder; the dashboard runs
on a free loopback port; Chromium checks the overview and the candidate
table, clicks the WASP-4 b candidate, sees its page (folded light curve and
vetting report), records a label from the queue, and saves screenshots in the
test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WASP4 = "tess2018234235059-s0002-0000000402026209-0121-s_lc.fits"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sweep_out(tmp_path_factory, spoc_files):
    from exoray.config import SweepConfig
    from exoray.pipelines.sweep import sweep

    src = next((p for p in spoc_files if p.name == WASP4), None)
    if src is None:
        pytest.skip(f"{WASP4} not in the shared data")
    root = tmp_path_factory.mktemp("dash")
    inp = root / "in"
    inp.mkdir()
    shutil.copy(src, inp / src.name)
    (inp / "tess-truncated_lc.fits").write_bytes(src.read_bytes()[:50_000])
    out = root / "out"
    sweep(str(inp), str(out), SweepConfig(num_cpus=1, reports="planets"), use_ray=False)
    return out


def test_dashboard_data_views(sweep_out):
    from exoray.dashboard import data as D

    ov = D.sweep_overview(sweep_out)
    assert ov["inputs"] == 2 and ov["preprocessed"] == 1 and ov["quarantined"] == 1
    assert ov["planet_candidates"] >= 1 and ov["accounted"] is True
    q = D.quarantine_reasons(sweep_out)
    assert q["count"].sum() == 1 and q.iloc[0]["stage"] == "read"
    df = D.read_candidates(sweep_out)
    view = D.filter_candidates(df, dispositions=["planet_candidate"], min_score=0.1, tic_query="4020")
    assert view.iloc[0]["period_days"] == pytest.approx(1.33823, rel=1e-3)
    assert D.filter_candidates(df, tic_query="999999999").empty
    row = view.iloc[0].to_dict()
    plc = D.load_lightcurve(sweep_out, row["tic_id"], row["sector"])
    points, bins = D.folded_curve(plc, row["period_days"], row["t0_btjd"], row["duration_hours"])
    # the binned fold is deepest near mid-transit, at about the fitted depth
    deepest = bins.loc[bins["flux_ppm"].idxmin()]
    assert abs(deepest["phase_hours"]) < row["duration_hours"] / 2
    assert -deepest["flux_ppm"] == pytest.approx(row["depth_ppm"], rel=0.3)
    assert D.report_png(sweep_out, row) is not None


@pytest.fixture(scope="module")
def dashboard(sweep_out):
    pytest.importorskip("streamlit")
    from exoray.serve.commands import dashboard_command

    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", HOME=str(sweep_out.parent))
    cmd = dashboard_command(str(sweep_out), port=port, api="http://127.0.0.1:9")
    log = open(sweep_out.parent / "streamlit.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited: {(sweep_out.parent / 'streamlit.log').read_text()[-2000:]}")
            try:
                if requests.get(url + "/_stcore/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            raise RuntimeError("streamlit did not answer /_stcore/health within 90 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1600,1400",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_text(driver, text: str, timeout: float = 60.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(EC.text_to_be_present_in_element((By.TAG_NAME, "body"), text))


def _click(driver, xpath: str, timeout: float = 60.0):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    el = WebDriverWait(driver, timeout).until(EC.element_to_be_clickable((By.XPATH, xpath)))
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
    el.click()
    return el


def test_dashboard_in_chromium(dashboard, browser, sweep_out, tmp_path):
    from exoray.rank.active import read_labels

    d = browser
    d.get(dashboard)
    _wait_text(d, "Sweep overview")
    _wait_text(d, "Quarantine reasons")
    _wait_text(d, "CorruptProductError")  # the truncated file's quarantine reason
    d.save_screenshot(str(tmp_path / "overview.png"))

    _click(d, "//label[.//p[normalize-space()='Candidates']]")
    _wait_text(d, "Open a candidate")
    _wait_text(d, "TIC 402026209 s2 #0")
    button = _click(d, "//button[.//p[contains(., 'TIC 402026209 s2 #0')]]")
    assert "P 1.338" in button.text  # the table shows WASP-4 b at its catalogue period

    _wait_text(d, "TIC 402026209 · sector 2 · candidate 0")
    _wait_text(d, "Folded light curve")
    _wait_text(d, "Vetting report")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    # the interactive fold (Vega-Lite canvas/svg) and the report image are drawn
    WebDriverWait(d, 60).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "[data-testid='stVegaLiteChart'], .vega-embed"))
    WebDriverWait(d, 60).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "[data-testid='stImage'] img, img[src*='media']"))
    shot = tmp_path / "candidate.png"
    d.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"\nscreenshot: {shot}")

    # the labelling queue writes OUT/labels.parquet through exoray.rank.active
    _click(d, "//label[.//p[normalize-space()='Label queue']]")
    _wait_text(d, "Active-learning labelling queue")
    _click(d, "//button[.//p[normalize-space()='planet']]")
    deadline = time.monotonic() + 30
    labels = read_labels(sweep_out / "labels.parquet")
    while len(labels) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
        labels = read_labels(sweep_out / "labels.parquet")
    assert len(labels) == 1
    assert labels.iloc[0]["tic_id"] == 402026209 and labels.iloc[0]["label"] == 1
    assert labels.iloc[0]["labeller"] == "dashboard"
    _wait_text(d, "every scored candidate is labelled")

    # the upload page says plainly when the scoring service is not running (here: a closed port)
    _click(d, "//label[.//p[normalize-space()='Upload & score']]")
    _wait_text(d, "scoring service unreachable at http://127.0.0.1:9")
