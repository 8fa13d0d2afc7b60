"""find_candidates: BLS + vetting on preprocessed light curves."""

from __future__ import annotations

import numpy as np
import pytest

from exoray.config import SearchConfig
from exoray.errors import ConfigError
from exoray.preprocess import preprocess_lightcurve
from exoray.schemas import records_to_table
from exoray.vet.records import CANDIDATE_FEATURES, CANDIDATES_SCHEMA
from exoray.search.candidates import find_candidates


def _star(seed):
    from exoray.simulate.stars import draw_star

    return draw_star(np.random.default_rng(seed), 9_000_000_000 + seed, tmag=9.5, variability="quiet")


def _sim(seed, signals, star=None):
    from exoray.simulate import simulate_lightcurve

    rng = np.random.default_rng(seed + 1000)
    return simulate_lightcurve(rng, star or _star(seed), signals, seed=seed)


def test_recovers_injected_planet_and_fills_schema():
    from exoray.simulate import PlanetSignal
    from exoray.simulate.transit import a_rs_from_density

    star = _star(3)
    a_rs = float(a_rs_from_density(3.71, star.density))  # Kepler's law for this star
    planet = PlanetSignal(period=3.71, t0=1326.3, rp_rs=0.05, a_rs=a_rs, b=0.3)
    lc = _sim(3, [planet], star)
    plc = preprocess_lightcurve(lc)
    rows = find_candidates(plc, SearchConfig(max_planets=2))
    assert rows, "no candidate for an injected 2500 ppm planet"
    best = rows[0]
    assert abs(best["period_days"] - 3.71) / 3.71 < 0.01
    ph = ((best["t0_btjd"] - 1326.3) / 3.71 + 0.5) % 1 - 0.5
    assert abs(ph * 3.71) < best["duration_hours"] / 24
    assert 1500 < best["depth_ppm"] < 3500
    assert best["disposition"] == "planet_candidate", best["vet_flags"]
    assert set(CANDIDATE_FEATURES) <= set(best)
    table = records_to_table(rows, CANDIDATES_SCHEMA)
    assert table.num_rows == len(rows)
    assert table.column("candidate_index").to_pylist() == list(range(len(rows)))


def test_quiet_star_gives_no_confident_planet():
    lc = _sim(5, [])
    rows = find_candidates(preprocess_lightcurve(lc), SearchConfig(max_planets=1))
    assert all(r["disposition"] != "planet_candidate" or r["snr"] < 10 for r in rows)


def test_search_config_validation():
    with pytest.raises(ConfigError):
        SearchConfig(max_planets=0)
    with pytest.raises(ConfigError, match="dtype"):
        SearchConfig(dtype="float16")


def test_link_same_period_marks_secondary_eclipse():
    from exoray.search.candidates import link_same_period

    def row(k, p, t0, disp, flags=""):
        return {"candidate_index": k, "period_days": p, "t0_btjd": t0, "disposition": disp, "vet_flags": flags}

    rows = [row(0, 3.0, 1.0, "eclipsing_binary", "odd_even"), row(1, 3.001, 2.52, "planet_candidate"),
            row(2, 7.0, 1.3, "planet_candidate")]
    link_same_period(rows)
    assert rows[1]["disposition"] == "eclipsing_binary"
    assert rows[1]["vet_flags"] == "secondary_of_0"
    assert rows[0]["vet_flags"] == "odd_even;has_secondary_1"
    assert rows[2]["vet_flags"] == "" and rows[2]["disposition"] == "planet_candidate"
    # a planet's occultation is linked but keeps its own disposition; same epoch is not a secondary
    rows = [row(0, 1.2, 5.0, "planet_candidate"), row(1, 1.2, 5.6, "false_alarm"), row(2, 1.2, 6.2005, "x")]
    link_same_period(rows)
    assert rows[1]["vet_flags"] == "secondary_of_0" and rows[1]["disposition"] == "false_alarm"
    assert rows[2]["vet_flags"] == ""
