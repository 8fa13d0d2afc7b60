"""Vetting statistics (pure functions) and candidate disposition.

Public API::

    odd_even_test, secondary_eclipse_test, transit_shape, trapezoid_model, model_shift,
    single_event_domination, period_alias_checks, half_double_period_check,
    edge_transit_check, duration_plausibility, stellar_density,
    centroid_shift_test, load_catalogs, crossmatch, crossmatch_details,
    vet_candidate, phase_variability_check, DISPOSITIONS, VET_THRESHOLDS,
    VetResult

Every statistic returns a :class:`VetResult` (a dict readable by attribute)
with ``value``, ``significance``, ``flag``, ``measured`` and ``reason``.
"""

from ._common import VetResult
from .aliases import TESS_ORBIT_DAYS, edge_transit_check, half_double_period_check, period_alias_checks
from .centroid import centroid_shift_test
from .disposition import DISPOSITIONS, VET_THRESHOLDS, phase_variability_check, vet_candidate
from .duration import duration_plausibility, stellar_density
from .known_objects import KnownObjectCatalogs, crossmatch, crossmatch_details, load_catalogs
from .odd_even import odd_even_test
from .secondary_eclipse import secondary_eclipse_test
from .shape import transit_shape, trapezoid_model
from .single_event import single_event_domination
from .uniqueness import model_shift

__all__ = [
    "VetResult",
    "odd_even_test",
    "secondary_eclipse_test",
    "transit_shape",
    "trapezoid_model",
    "single_event_domination",
    "model_shift",
    "period_alias_checks",
    "half_double_period_check",
    "edge_transit_check",
    "TESS_ORBIT_DAYS",
    "duration_plausibility",
    "stellar_density",
    "centroid_shift_test",
    "load_catalogs",
    "crossmatch",
    "crossmatch_details",
    "KnownObjectCatalogs",
    "vet_candidate",
    "phase_variability_check",
    "DISPOSITIONS",
    "VET_THRESHOLDS",
]
