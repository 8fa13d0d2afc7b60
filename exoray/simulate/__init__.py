"""exoray.simulate: physically realistic TESS SPOC 2-min light curves.

The embedded default data set (``exoray demo``) and the engine of
injection-recovery tests.  Modules:

* :mod:`~exoray.simulate.transit` - limb-darkened transits (Mandel & Agol 2002),
  Kepler geometry, eclipsing binaries, dilution;
* :mod:`~exoray.simulate.noise` - TESS noise budget (Sullivan et al. 2015),
  correlated noise, rotation, flares;
* :mod:`~exoray.simulate.stars` - stellar parameters and photometric set-up;
* :mod:`~exoray.simulate.signals` - planet / EB descriptions and draws;
* :mod:`~exoray.simulate.instrument` - sector timing, QUALITY flags, systematics;
* :mod:`~exoray.simulate.sector` - :func:`simulate_sector` (FITS + truth.csv),
  :func:`simulate_lightcurve`, :func:`inject_transit`;
* :mod:`~exoray.simulate.multisector` - one star in several sectors:
  :func:`simulate_multisector_star` (in memory), :func:`multisector_timings`,
  duo-transit planets (``simulate_sector(..., sectors=[...])`` writes files).
"""

from .instrument import Q, SectorTiming, sector_timing
from .multisector import multisector_timings, parse_sectors, simulate_multisector_star
from .noise import white_noise_ppm, white_noise_rel
from .sector import (
    CLASSES,
    DEFAULT_MIX,
    TRUTH_COLUMNS,
    inject_transit,
    parse_mix,
    simulate_lightcurve,
    simulate_sector,
    spoc_filename,
)
from .signals import EBSignal, PlanetSignal
from .stars import TIC_BASE, Star, draw_star
from .transit import (
    a_rs_from_density,
    dilute,
    eb_model,
    full_duration,
    inclination_from_b,
    limb_darkening_tess,
    occult_quadratic,
    occult_quadratic_numeric,
    secondary_eclipse_phase,
    transit_duration,
    transit_model,
)

__all__ = [
    "simulate_sector",
    "simulate_lightcurve",
    "simulate_multisector_star",
    "multisector_timings",
    "parse_sectors",
    "inject_transit",
    "spoc_filename",
    "parse_mix",
    "CLASSES",
    "DEFAULT_MIX",
    "TRUTH_COLUMNS",
    "Star",
    "draw_star",
    "TIC_BASE",
    "PlanetSignal",
    "EBSignal",
    "SectorTiming",
    "sector_timing",
    "Q",
    "white_noise_ppm",
    "white_noise_rel",
    "transit_model",
    "eb_model",
    "occult_quadratic",
    "occult_quadratic_numeric",
    "a_rs_from_density",
    "inclination_from_b",
    "transit_duration",
    "full_duration",
    "secondary_eclipse_phase",
    "limb_darkening_tess",
    "dilute",
]
