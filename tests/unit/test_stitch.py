"""Multi-sector light curves: stitching, the semi-coherent search, per-sector depths and duo-transits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exoray.config import SearchConfig
from exoray.errors import InputError
from exoray.lightcurve import LightCurve
from exoray.preprocess import choose_products, preprocess_lightcurve, redetrend, stitch
from exoray.search.bls import transit_mask
from exoray.search.candidates import find_candidates, search_grid
from exoray.search.duo import allowed_periods, single_events
from exoray.vet.sectors import sector_depths


def _sector(sector, start, rng, transits=(), depth=3e-3, dur=5.0 / 24, noise=1e-3, tic=77):
    t = start + np.arange(0, 27, 2 / 1440)
    t = t[(t - start < 13) | (t - start > 14)]
    f = 1 + noise * rng.standard_normal(t.size)
    for tc in transits:
        f[np.abs(t - tc) < 0.5 * dur] -= depth
    lc = LightCurve(tic, sector, t, 1000 * f, np.full(t.size, 1000 * noise), None)
    lc.radius, lc.mass = 1.0, 1.0
    lc.source_path = f"s{sector}.fits"
    return preprocess_lightcurve(lc)


def test_stitch_joins_sectors_and_keeps_them_apart():
    rng = np.random.default_rng(1)
    a, b = _sector(10, 1000.0, rng), _sector(12, 1060.0, rng)
    st = stitch([b, a])  # order does not matter
    assert st.sectors == (10, 12) and st.time.size == a.time.size + b.time.size
    assert np.all(np.diff(st.time) > 0)
    assert set(st.segment[st.cadence_sector == 10]).isdisjoint(st.segment[st.cadence_sector == 12])
    assert st.source_path == "s10.fits;s12.fits" and st.detrend_method == "stitched"
    with pytest.raises(ValueError, match="stitched"):
        st.to_row()
    assert stitch([a]) is a
    with pytest.raises(InputError, match="different stars"):
        stitch([a, dataclasses.replace(b, tic_id=5)])
    with pytest.raises(InputError, match="sector"):
        stitch([a, dataclasses.replace(b, sector=10)])
    with pytest.raises(InputError, match="overlap"):
        stitch([a, dataclasses.replace(b, sector=11, time=b.time - 55.0)])


def test_choose_products_prefers_the_shortest_spoc_cadence():
    lcs = [LightCurve(1, 5, np.arange(3.0), np.ones(3), np.ones(3), None) for _ in range(3)]
    lcs[0].product, lcs[1].product, lcs[2].product = "qlp", "spoc_fast", "spoc_2min"
    chosen, passed = choose_products(lcs)
    assert [c.product for c in chosen] == ["spoc_fast"] and {p.product for p in passed} == {"qlp", "spoc_2min"}


def test_redetrend_of_stitched_uses_each_sectors_trend():
    rng = np.random.default_rng(2)
    a, b = _sector(10, 1000.0, rng, transits=(1005.0,)), _sector(12, 1060.0, rng, transits=(1065.0,))
    st = stitch([a, b])
    m = transit_mask(st.time, 60.0, 1005.0, 0.4)
    out = redetrend(st, m)
    for part, sel in ((a, st.cadence_sector == 10), (b, st.cadence_sector == 12)):
        np.testing.assert_allclose(out.trend[sel], redetrend(part, m[sel]).trend)


def test_semicoherent_search_gains_from_both_sectors():
    """A planet too shallow for either sector alone is found in the two together."""
    rng = np.random.default_rng(3)
    p, t0, depth = 3.3, 1000.7, 0.28e-3
    tr = lambda s: np.arange(s, s + 27, p)  # noqa: E731
    a = _sector(10, 1000.0, rng, transits=t0 + p * np.arange(0, 9), depth=depth, dur=2.5 / 24)
    b = _sector(11, 1027.5, rng, transits=t0 + p * np.arange(8, 17), depth=depth, dur=2.5 / 24)
    del tr
    cfg = SearchConfig(rank=False, max_planets=1)
    alone = [r["snr"] for x in (a, b) for r in find_candidates(x, cfg) if abs(r["period_days"] / p - 1) < 0.01]
    st = stitch([a, b])
    g = search_grid(st, cfg)
    assert g.periods[-1] < 30  # the grid of one sector: the joined data are searched around peaks only
    rows = find_candidates(st, cfg)
    hit = [r for r in rows if abs(r["period_days"] / p - 1) < 1e-3]
    assert hit, rows
    assert hit[0]["sectors"] == "10,11" and hit[0]["n_sectors"] == 2
    assert all(hit[0]["snr"] > s for s in alone)
    assert len(hit[0]["sector_depth_ppm"]) == 2 and hit[0]["sector_depth_p"] > 1e-3


def test_sector_depths_flag_a_depth_that_changes():
    rng = np.random.default_rng(4)
    t = np.concatenate([np.arange(0, 27, 2 / 1440), 60 + np.arange(0, 27, 2 / 1440)])
    sec = np.where(t < 50, 1, 2)
    f = 1 + 1e-3 * rng.standard_normal(t.size)
    m = transit_mask(t, 4.1, 1.0, 0.15)
    same = f - 3e-3 * m
    diff = f - np.where(sec == 1, 3e-3, 1e-3) * m
    ok = sector_depths(t, same, np.full(t.size, 1e-3), sec, 4.1, 1.0, 0.15)
    bad = sector_depths(t, diff, np.full(t.size, 1e-3), sec, 4.1, 1.0, 0.15)
    assert ok["sectors"] == [1, 2] and not ok["flag"] and ok["p_value"] > 1e-3
    assert bad["flag"] and bad["value"] > 2


def test_duo_transit_found_with_the_allowed_periods():
    rng = np.random.default_rng(5)
    a = _sector(10, 1000.0, rng, transits=(1010.3,))
    b = _sector(14, 1108.0, rng, transits=(1114.3,))
    rows = find_candidates(stitch([a, b]), SearchConfig(rank=False))
    duo = [r for r in rows if "duo_transit" in r["vet_flags"]]
    assert len(duo) == 1, rows
    per = duo[0]["alias_periods_days"]
    assert per[0] == pytest.approx(104.0, abs=0.05) and duo[0]["period_days"] == per[0]
    # every allowed alias puts its other transits where there are no data
    for p in per:
        k = np.arange(-30, 30)
        centres = 1010.3 + k * p
        for lc in (a, b):
            inside = (centres > lc.time[0] + 0.2) & (centres < lc.time[-1] - 0.2)
            for c in centres[inside]:
                if abs(c - 1010.3) > 0.2 and abs(c - 1114.3) > 0.2:
                    assert not np.any(np.abs(lc.time - c) < 0.05), (p, c)
    assert 52.0 == pytest.approx(per[1], abs=0.05)


def test_duo_needs_events_in_two_sectors_and_data_rule_aliases_out():
    rng = np.random.default_rng(6)
    t = np.arange(0, 27, 2 / 1440)
    f = 1 + 1e-3 * rng.standard_normal(t.size)
    f[np.abs(t - 5.0) < 0.1] -= 4e-3
    ev = single_events(t, f, np.full(t.size, 1e6), [0.1, 0.2, 0.3])
    assert ev and abs(ev[0].t0 - 5.0) < 0.05 and ev[0].snr > 20
    # an alias whose predicted transit lands on data without a dip is ruled out
    t2 = np.concatenate([t, 40 + t])
    f2 = np.concatenate([f, f])
    e1, e2 = ev[0], dataclasses.replace(ev[0], t0=45.0)
    per = allowed_periods(t2, f2, np.full(t2.size, 1e6), e1, e2, min_period=1.0)
    assert 40.0 == pytest.approx(per[0]) and not np.any(np.isclose(per, 20.0))


def test_duo_events_are_compared_at_one_duration():
    """Red noise smears one event into a longer, shallower box; the pair is judged at a shared duration."""
    from exoray.search.duo import duo_transits

    rng = np.random.default_rng(8)
    t = np.arange(0, 27, 2 / 1440)
    tt = np.concatenate([t, 40 + t])
    sigma = 1.2e-3
    f = 1 + sigma * rng.standard_normal(tt.size)
    f[np.abs(tt - 10.0) < 0.23] -= 0.65e-3  # smeared: longer and shallower than the other
    f[np.abs(tt - 44.8) < 0.135] -= 0.9e-3
    sec = np.where(tt < 30, 1, 2)
    iv = np.full(tt.size, sigma**-2)
    durations = np.geomspace(0.05, 0.47, 6)
    ev1 = single_events(tt[sec == 1], f[sec == 1], iv[sec == 1], durations)
    ev2 = single_events(tt[sec == 2], f[sec == 2], iv[sec == 2], durations)
    assert ev1[0].duration > 1.5 * ev2[0].duration  # alone, the events disagree on duration
    duos = duo_transits(tt, f, iv, sec, durations, min_event_snr=7.1, min_snr=10.0, min_period=13.0)
    assert duos and duos[0].periods[0] == pytest.approx(34.8, abs=0.1)
    assert duos[0].first.duration == duos[0].second.duration
