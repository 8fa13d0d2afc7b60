"""Physical constants and Kepler-orbit relations of exoray.astro."""

from __future__ import annotations

import math

import numpy as np
import pytest

from exoray import astro


def test_constants_equal_astropy():
    c = pytest.importorskip("astropy.constants")
    u = pytest.importorskip("astropy.units")
    assert astro.G == c.G.si.value
    assert astro.GM_SUN == c.GM_sun.si.value
    assert astro.M_SUN == pytest.approx(c.M_sun.si.value, rel=1e-15)
    assert astro.R_SUN == c.R_sun.si.value
    assert astro.R_EARTH == c.R_earth.si.value
    assert astro.R_JUP == c.R_jup.si.value
    assert astro.DAY == (1 * u.day).to_value(u.s)
    rho = (c.M_sun / (4.0 / 3.0 * math.pi * c.R_sun**3)).to_value(u.g / u.cm**3)
    assert astro.RHO_SUN == pytest.approx(rho, rel=1e-14)
    g_sun = (c.G * c.M_sun / c.R_sun**2).to_value(u.cm / u.s**2)
    assert astro.LOGG_SUN == pytest.approx(math.log10(g_sun), abs=1e-13)


def test_solar_mass_is_gm_over_g():
    # IAU 2015 B3 fixes the product; the mass is derived, as in astropy.
    assert astro.M_SUN == pytest.approx(astro.GM_SUN / astro.G, rel=1e-15)


def test_earth_year():
    # 1 au is 215.03 R_sun; the Earth's orbit takes a sidereal year (planet mass neglected: 3e-6).
    au = 1.495978707e11
    assert astro.orbit_period(au / astro.R_SUN) == pytest.approx(365.256, rel=1e-5)
    assert astro.a_over_rstar(365.256363) == pytest.approx(au / astro.R_SUN, rel=1e-5)
    # a central transit of the Sun by the Earth lasts 13 h
    assert 24 * astro.central_transit_duration(365.25) == pytest.approx(12.98, abs=0.01)


def test_kepler_relations_invert_and_agree():
    p = np.array([0.5, 3.0, 27.0, 400.0])
    m, r = 0.6, 0.55
    a = astro.a_over_rstar(p, m, r)
    assert np.allclose(astro.orbit_period(a, m, r), p, rtol=1e-12)
    rho = astro.stellar_density(m, r)
    assert rho == pytest.approx(astro.RHO_SUN * m / r**3, rel=1e-14)
    # a/R* from the density alone is the same orbit, and the transit-implied density is that density
    assert np.allclose(astro.a_over_rstar_from_density(p, rho), a, rtol=1e-12)
    assert np.allclose(astro.density_from_a_over_rstar(p, a), rho, rtol=1e-12)
    t = astro.central_transit_duration(p, m, r)
    assert np.allclose(t, p / math.pi * np.arcsin(1.0 / a), rtol=1e-14)
    assert t.shape == p.shape


def test_orbit_inside_the_star_gives_half_a_period():
    # 0.1 d around a giant: a < R*, the "transit" lasts half the orbit
    assert astro.central_transit_duration(0.1, 1.0, 10.0) == pytest.approx(0.05)


def test_sun_density_and_radii():
    assert astro.stellar_density(1.0, 1.0) == pytest.approx(1.41, abs=1e-3)
    assert astro.radius_earth(1.0, 1.0) == pytest.approx(109.08, abs=0.01)
    assert astro.radius_earth(0.1, 1.0) == pytest.approx(astro.R_JUP_IN_R_EARTH, rel=0.03)  # a hot Jupiter
    assert np.allclose(astro.radius_earth(np.array([0.01, 0.02]), 2.0), [2.1815, 4.3631], atol=1e-4)


def test_reexports_keep_working():
    from exoray.search.period_grid import central_transit_duration, orbit_period
    from exoray.simulate.transit import DAY_S, G_SI, MSUN_KG, RHO_SUN, RSUN_M, a_rs_from_density, density_from_a_rs

    assert (G_SI, RSUN_M, MSUN_KG, DAY_S) == (astro.G, astro.R_SUN, astro.M_SUN, astro.DAY)
    assert RHO_SUN == pytest.approx(1000.0 * astro.RHO_SUN, rel=1e-15)  # the simulator's is in kg m^-3
    assert orbit_period(10.0, 0.8, 0.7) == pytest.approx(float(astro.orbit_period(10.0, 0.8, 0.7)), rel=1e-15)
    assert central_transit_duration(5.0, 0.8, 0.7) == pytest.approx(
        float(astro.central_transit_duration(5.0, 0.8, 0.7)), rel=1e-15)
    assert a_rs_from_density(3.0, 1.0) == astro.a_over_rstar_from_density(3.0, 1.0)
    assert density_from_a_rs(3.0, 10.0) == astro.density_from_a_over_rstar(3.0, 10.0)
