"""The Streamlit dashboard driven by a real headless Chromium (Debian's chromium + chromedriver).

A small sweep (WASP-4 from the shared real data plus one truncated file that
must be quarantined) is written to a temporary folder; the dashboard runs
on a free loopback port; Chromium checks the overview and the candidate
table, clicks the WASP-4 b candidate, sees its page (folded light curve and
vetting report), records a label from the queue, and saves screenshots in the
test's temporary folder (or ``$EXORAY_DASHBOARD_SHOTS`` when set).

Layout checks run in a 1200-pixel-wide window: the candidate table's first
visible columns are the decision, the score with its interval and the known
object; no filter chip, "ascending" or metric value is cut short (an element
whose text overflows its box is truncated on screen); the upload page says in
words that no scoring service runs.  Stopping ``exoray dashboard`` with
SIGTERM or Ctrl-C also stops its Streamlit child.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
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
                 "--disable-dev-shm-usage", "--window-size=1200,900",
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


def _shots_dir(tmp_path) -> Path:
    d = Path(os.environ.get("EXORAY_DASHBOARD_SHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def _cut_short(driver, css: str):
    """Texts of the visible elements matching ``css`` whose content overflows their box (drawn truncated)."""
    return driver.execute_script(
        """return [...document.querySelectorAll(arguments[0])]
             .filter(e => e.offsetParent !== null && (e.scrollWidth > e.clientWidth + 1))
             .map(e => e.innerText);""", css)


def _scroll_to_heading(driver, text: str) -> None:
    driver.execute_script(
        "[...document.querySelectorAll('h1, h2, h3')].find(h => h.textContent.includes(arguments[0]))"
        ".scrollIntoView({block: 'start'});", text)
    time.sleep(0.5)


def test_dashboard_in_chromium(dashboard, browser, sweep_out, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from exoray.rank.active import read_labels

    shots = _shots_dir(tmp_path)
    d = browser
    d.get(dashboard)
    _wait_text(d, "Sweep overview")
    _wait_text(d, "Quarantine reasons")
    _wait_text(d, "CorruptProductError")  # the truncated file's quarantine reason
    d.save_screenshot(str(shots / "overview.png"))

    _click(d, "//label[.//p[normalize-space()='Candidates']]")
    _wait_text(d, "Open a candidate")
    _wait_text(d, "TIC 402026209 s2 #0")
    # the grid's accessible header row lists the columns it draws: the decision, the score
    # with its interval and the known object are on screen without scrolling sideways
    WebDriverWait(d, 60).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame'] th"))
    heads = [th.get_attribute("textContent").strip()
             for th in d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame'] th[role='columnheader']")]
    assert heads[:6] == ["TIC", "sector", "#", "disposition", "score [90%]", "known object"], heads
    cells = [td.get_attribute("textContent") for td in d.find_elements(By.CSS_SELECTOR, "[data-testid='stDataFrame'] td")]
    assert any(c.startswith("TOI-232.01") for c in cells), cells  # WASP-4 b, from the shipped catalogue
    assert any(c.count("[") == 1 and c.endswith("]") and c[:4].replace(".", "").isdigit() for c in cells), cells
    # the disposition chips and the sort order are shown whole
    pills = d.find_elements(By.CSS_SELECTOR, "[data-testid='stButtonGroup'] button")
    assert pills and all(p.text for p in pills)
    assert _cut_short(d, "[data-testid='stButtonGroup'] button, [data-testid='stButtonGroup'] p") == []
    assert _cut_short(d, "[data-testid='stRadio'] label p, [data-testid='stWidgetLabel'] p") == []
    _wait_text(d, "ascending")
    d.save_screenshot(str(shots / "candidates.png"))

    button = _click(d, "//button[.//p[contains(., 'TIC 402026209 s2 #0')]]")
    assert "P 1.338" in button.text  # the table shows WASP-4 b at its catalogue period

    _wait_text(d, "TIC 402026209 · sector 2 · candidate 0")
    _wait_text(d, "Folded light curve")
    _wait_text(d, "Vetting report")
    _wait_text(d, "90% interval")
    # every metric (disposition, score, its interval, period, ...) is shown whole, e.g. "0.01 – 0.13"
    values = [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-testid='stMetricValue']")]
    assert len(values) == 7 and any(" – " in v for v in values), values
    assert _cut_short(d, "[data-testid='stMetricValue'], [data-testid='stMetricValue'] *") == []

    # the interactive fold (Vega-Lite canvas/svg) and the report image are drawn; the sweep
    # renders reports of planet candidates only, so for another decision the page's button does
    WebDriverWait(d, 60).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "[data-testid='stVegaLiteChart'], .vega-embed"))
    image = "[data-testid='stImage'] img, img[src*='media']"
    render = "//button[.//p[normalize-space()='Render vetting report']]"
    WebDriverWait(d, 60).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, image)
                               or drv.find_elements(By.XPATH, render))
    if not d.find_elements(By.CSS_SELECTOR, image):
        _click(d, render)
    WebDriverWait(d, 120).until(lambda drv: drv.find_elements(By.CSS_SELECTOR, "[data-testid='stImage'] img, img[src*='media']"))
    _scroll_to_heading(d, "TIC 402026209 · sector 2")
    shot = shots / "candidate.png"
    d.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    print(f"\nscreenshots: {shots}")

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
    _wait_text(d, "No scoring service answers at http://127.0.0.1:9")
    _wait_text(d, "exoray serve")
    body = d.find_element(By.TAG_NAME, "body").text
    for raw in ("urllib3", "HTTPConnectionPool", "Max retries", "NewConnectionError", "Errno"):
        assert raw not in body
    d.save_screenshot(str(shots / "upload.png"))


def _children(pid: int):
    """Process ids whose parent is ``pid`` (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    stat = fh.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(name))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_stopping_exoray_dashboard_stops_streamlit(tmp_path, sig):
    pytest.importorskip("streamlit")
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc to find the Streamlit child")
    import requests

    out = tmp_path / "out"
    out.mkdir()
    port = _free_port()
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", HOME=str(tmp_path))
    parent = subprocess.Popen([sys.executable, "-m", "exoray.cli", "dashboard", str(out), "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/_stcore/health"
    kids = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        else:
            raise AssertionError("the dashboard did not start within 90 s")
        kids = _children(parent.pid)
        assert kids, "exoray dashboard runs Streamlit as a child process"
        parent.send_signal(sig)  # to exoray only, not to its process group
        assert parent.wait(timeout=30) == 128 + sig
        deadline = time.monotonic() + 15
        while any(_alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(k) for k in kids), "Streamlit outlived exoray dashboard"
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)  # nothing listens on the port any more
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)
