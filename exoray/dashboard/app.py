"""exoray dashboard (Streamlit): ``exoray dashboard OUT [--port 8501 --api URL]``.

Pages: sweep overview, candidate table (sortable, filterable), candidate page
(vetting report + interactive folded light curve), upload-and-score through
the service's ``/v1/score``, and the active-learning labelling queue, which
writes ``OUT/labels.parquet`` through :mod:`exoray.rank.active` (the same
table ``exoray label`` and ``exoray train ranker --labels`` use).

Run through ``streamlit run exoray/dashboard/app.py -- --out OUT --api URL``.
"""

import argparse
import sys
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from exoray.dashboard import data as D
from exoray.errors import ExorayError
from exoray.rank.active import append_labels, read_labels, uncertainty_queue
from exoray.reports import make_report

PAGES = ("Overview", "Candidates", "Candidate", "Upload & score", "Label queue")


def _args():
    p = argparse.ArgumentParser(prog="exoray dashboard")
    p.add_argument("--out", required=True)
    p.add_argument("--api", default="http://127.0.0.1:8000")
    a, _ = p.parse_known_args(sys.argv[1:])
    return Path(a.out), a.api.rstrip("/")


OUT, API = _args()

st.set_page_config(page_title="exoray", layout="wide")


@st.cache_data(ttl=10)
def _candidates(out: str) -> pd.DataFrame:
    return D.read_candidates(out)


def _open(key):
    st.session_state["selected"] = key
    st.session_state["page"] = "Candidate"


st.sidebar.title("exoray")
st.sidebar.caption(f"sweep: `{OUT}`")
page = st.sidebar.radio("Page", PAGES, key="page")


# --------------------------------------------------------------------------- overview
def page_overview():
    st.header("Sweep overview")
    if not (OUT / "run.json").exists():
        st.warning(f"{OUT} has no run.json yet: run `exoray sweep INPUT --out {OUT}` first.")
        return
    ov = D.sweep_overview(OUT)
    c = st.columns(5)
    c[0].metric("inputs", ov["inputs"])
    c[1].metric("preprocessed", ov["preprocessed"])
    c[2].metric("quarantined", ov["quarantined"])
    c[3].metric("candidates", ov["candidates"])
    c[4].metric("planet candidates", ov["planet_candidates"])
    c = st.columns(3)
    tp = ov["throughput_lc_per_s"]
    c[0].metric("throughput (light curves/s)", f"{tp:.2f}" if tp else "n/a")
    c[1].metric("wall time (s)", f"{ov['wall_s']:.1f}" if ov["wall_s"] else "n/a")
    c[2].metric("nodes", ov["nodes"])
    st.caption(f"input `{ov['input']}` · finished {ov['finished']} · runs into this folder: {ov['runs']} · "
               f"every input accounted for: {ov['accounted']}")
    ms = {k.replace("_ms_per_lc", ""): v for k, v in ov["ms_per_lc"].items() if v is not None}
    if ms:
        st.subheader("Time per light curve (ms)")
        st.bar_chart(pd.Series(ms, name="ms"))
    if ov["dispositions"]:
        st.subheader("Dispositions")
        st.bar_chart(pd.Series(ov["dispositions"], name="candidates"))
    st.subheader("Quarantine reasons")
    q = D.quarantine_reasons(OUT)
    if q.empty:
        st.success("nothing quarantined")
    else:
        st.table(q)  # small: a static table (readable, copyable)


# --------------------------------------------------------------------------- candidate table
def page_candidates():
    st.header("Candidates")
    df = _candidates(str(OUT))
    if df.empty:
        st.info("no candidates in this sweep")
        return
    disps = sorted(df["disposition"].dropna().unique().tolist())
    # Pills wrap onto new lines instead of clipping long disposition names; an empty
    # selection shows every disposition rather than an empty table.
    c = st.columns([3, 1])
    chosen = c[0].pills("disposition", disps, selection_mode="multi", default=disps, key="disp-filter")
    tic_q = c[1].text_input("TIC contains", "")
    c = st.columns(4)
    min_score = c[0].slider("min score", 0.0, 1.0, 0.0, 0.05)
    min_snr = c[1].number_input("min SNR", 0.0, value=0.0, step=1.0)
    keys = [k for k, col in D.SORT_KEYS.items() if col in df.columns]
    sort_label = c[2].selectbox("sort by", keys, index=keys.index("score") if "score" in keys else 0)
    order = c[3].radio("order", ("descending", "ascending"), horizontal=True)
    view = D.filter_candidates(df, dispositions=chosen or disps, min_score=min_score, min_snr=min_snr,
                               tic_query=tic_q, sort_by=D.SORT_KEYS[sort_label], ascending=order == "ascending")
    st.caption(f"{len(view)} of {len(df)} candidates; score: calibrated planet probability with its 90% "
               "interval (click a column header to re-sort the table)")
    cc = st.column_config
    st.dataframe(
        D.table_view(view), hide_index=True, width="stretch",
        column_config={
            # widths in pixels that fit the longest values ("planet_candidate", "0.73 [0.48, 0.98]",
            # "TOI-144.01 (CP, P=6.268 d)"), so the first six columns fit a 1200-pixel window
            "TIC": cc.NumberColumn(format="%d", pinned=True, width=95),
            "sector": cc.NumberColumn(width=60),
            "#": cc.NumberColumn(width=40),
            "disposition": cc.TextColumn(width=135),
            "score [90%]": cc.TextColumn(width=135, help="planet probability [90% interval]"),
            "known object": cc.TextColumn(width=210),
            "P (d)": cc.NumberColumn(format="%.5f"),
            "depth (ppm)": cc.NumberColumn(format="%.0f"),
            "T14 (h)": cc.NumberColumn(format="%.2f"),
            "SNR": cc.NumberColumn(format="%.1f"),
            "SDE": cc.NumberColumn(format="%.1f"),
            "t0 (BTJD)": cc.NumberColumn(format="%.4f"),
        },
    )
    st.subheader("Open a candidate")
    for _, row in view.head(50).iterrows():
        key = (int(row["tic_id"]), int(row["sector"]), int(row["candidate_index"]))
        st.button(D.candidate_label(row), key=f"open-{key}", on_click=_open, args=(key,))
    if len(view) > 50:
        st.caption("first 50 shown; narrow the filters to reach the others")


# --------------------------------------------------------------------------- candidate page
def page_candidate():
    df = _candidates(str(OUT))
    key = st.session_state.get("selected")
    if key is None and not df.empty:
        key = tuple(int(v) for v in df.sort_values("score", ascending=False).iloc[0][
            ["tic_id", "sector", "candidate_index"]])
    if key is None:
        st.info("no candidate selected")
        return
    tic, sector, k = key
    sel = df[(df["tic_id"] == tic) & (df["sector"] == sector) & (df["candidate_index"] == k)]
    if sel.empty:
        st.error(f"TIC {tic} s{sector} #{k} is not in this sweep's candidates")
        return
    row = sel.iloc[0].to_dict()
    st.header(f"TIC {tic} · sector {sector} · candidate {k}")
    st.caption(f"known object: **{row['known_object']}**" if row.get("known_object") else
               "no known object at this period (TOI / eclipsing-binary catalogues)")
    # The decision and the score first, in columns wide enough for their values.
    sc, lo, hi = (row.get(x) for x in ("score", "score_lo", "score_hi"))
    scored = sc is not None and np.isfinite(sc)
    c = st.columns([1.6, 0.8, 1.2])
    c[0].metric("disposition", str(row.get("disposition")))
    c[1].metric("score", f"{sc:.2f}" if scored else "n/a", help="calibrated planet probability")
    c[2].metric("90% interval", f"{lo:.2f} – {hi:.2f}" if scored and np.isfinite(lo) and np.isfinite(hi) else "n/a")
    c = st.columns(4)
    c[0].metric("period (d)", f"{row['period_days']:.5f}")
    c[1].metric("depth (ppm)", f"{row['depth_ppm']:.0f}")
    c[2].metric("duration (h)", f"{row['duration_hours']:.2f}")
    c[3].metric("SNR", f"{row['snr']:.1f}")

    st.subheader("Folded light curve")
    try:
        plc = D.load_lightcurve(OUT, tic, sector)
        points, bins = D.folded_curve(plc, row["period_days"], row["t0_btjd"], row["duration_hours"])
        # percent for events deeper than 1%, as on the vetting report (ppm ticks would run to six digits)
        col, unit = ("flux_pct", "%") if row["depth_ppm"] > 1e4 else ("flux_ppm", "ppm")
        if col == "flux_pct":
            points["flux_pct"], bins["flux_pct"] = points["flux_ppm"] / 1e4, bins["flux_ppm"] / 1e4
        base = alt.Chart(points).mark_circle(size=8, opacity=0.35, color="#4c78a8").encode(
            x=alt.X("phase_hours:Q", title="hours from mid-transit"),
            y=alt.Y(f"{col}:Q", title=f"flat flux - 1 ({unit})"),
            tooltip=["time:Q", "epoch:Q", "phase_hours:Q", f"{col}:Q"],
        )
        binned = alt.Chart(bins).mark_line(point=True, color="#e45756").encode(x="phase_hours:Q", y=f"{col}:Q")
        st.altair_chart((base + binned).interactive(), use_container_width=True)
        st.caption(f"{len(points)} cadences within ±{3 * row['duration_hours']:.1f} h; red: binned median; "
                   "drag to pan, scroll to zoom")
    except ExorayError as exc:
        st.warning(f"light curve unavailable: {exc}")
        plc = None

    st.subheader("Vetting report")
    png = D.report_png(OUT, row)
    if png is not None:
        st.image(str(png), caption=str(png))
    elif plc is not None:
        st.info("no report rendered for this candidate yet")
        if st.button("Render vetting report"):
            with st.spinner("rendering (re-runs the vetting tests)"):
                paths = make_report(plc, row, out_dir=OUT / "reports", formats=("png",))
            st.image(paths["png"])
    with st.expander("all statistics"):
        st.json({k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()})


# --------------------------------------------------------------------------- upload
def page_upload():
    import requests

    st.header("Upload a light curve and score it")
    st.caption(f"scoring service: `{API}` (start it with `exoray serve`)")
    ready, message = D.service_status(API)
    if not ready:
        st.error(message)
        return
    st.success(message)
    up = st.file_uploader("TESS / Kepler light-curve FITS file", type=["fits", "fit", "fz"])
    anomaly = st.checkbox("also score anomaly windows", value=False)
    if up is None:
        return
    with st.spinner("searching, vetting and ranking..."):
        r = requests.post(API + "/v1/score", files={"file": (up.name, up.getvalue(), "application/fits")},
                          data={"anomaly": str(anomaly).lower()}, timeout=300)
    try:
        body = r.json()
    except ValueError:
        st.error(f"HTTP {r.status_code}: {r.text[:500]}")
        return
    if r.status_code != 200:
        st.error(f"HTTP {r.status_code} {body.get('error')}: {body.get('message')}")
        return
    st.write(f"TIC {body['tic_id']} sector {body['sector']}: {len(body['candidates'])} candidate(s), "
             f"{body['n_used']} of {body['n_cadences']} cadences used, {body['timings_ms']['total']:.0f} ms")
    if body["candidates"]:
        st.dataframe(pd.DataFrame(body["candidates"]), hide_index=True, use_container_width=True)
    if body.get("anomaly"):
        a = body["anomaly"]
        if a.get("available") and a.get("windows"):
            st.subheader("Most anomalous windows")
            st.dataframe(pd.DataFrame(a["windows"]), hide_index=True)
        elif a.get("message"):
            st.info(f"anomaly scoring: {a['message']}")


# --------------------------------------------------------------------------- label queue
def page_labels():
    st.header("Active-learning labelling queue")
    path = D.labels_path(OUT)
    labels = read_labels(path)
    st.caption(f"labels table `{path}`: {len(labels)} label(s) · the queue shows the candidates whose "
               "label would teach the ranker most (score near 0.5 and wide interval)")
    df = _candidates(str(OUT))
    if df.empty or "score" not in df or df["score"].notna().sum() == 0:
        st.info("no scored candidates to label")
        return
    k = st.slider("queue length", 1, 50, 10)
    labeller = st.text_input("your name", value="dashboard")
    queue = uncertainty_queue(df, k, exclude=labels)
    if queue.empty:
        st.success("every scored candidate is labelled")
    for _, row in queue.iterrows():
        key = (int(row["tic_id"]), int(row["sector"]), int(row["candidate_index"]))
        with st.container(border=True):
            st.markdown(f"**{D.candidate_label(row)}** · uncertainty {row['uncertainty']:.2f}")
            c = st.columns([1, 1, 1, 4])
            for col, text, lab in ((c[0], "planet", 1), (c[1], "not planet", 0)):
                if col.button(text, key=f"lab-{lab}-{key}"):
                    append_labels(path, [{"tic_id": key[0], "sector": key[1], "candidate_index": key[2],
                                          "label": lab, "labeller": labeller, "note": "dashboard"}])
                    st.toast(f"TIC {key[0]} #{key[2]}: {text}")
                    st.rerun()
            c[2].button("open", key=f"lab-open-{key}", on_click=_open, args=(key,))
    if len(labels):
        st.subheader("Recorded labels")
        st.dataframe(labels, hide_index=True, use_container_width=True)


{"Overview": page_overview, "Candidates": page_candidates, "Candidate": page_candidate,
 "Upload & score": page_upload, "Label queue": page_labels}[page]()
