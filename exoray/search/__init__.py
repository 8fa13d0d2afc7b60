"""Transit search: period/duration grids and batched box least squares.

Public API::

    period_grid, duration_grid, stellar_params          # grids (Ofir 2014)
    bls_power, bls_search, iterative_search             # BLS (torch kernel)
    BLSResult, spectrum_sde, register_backend, available_backends

Called, this package is :func:`exoray.api.search`: ``exoray.search(lc)``
searches one light curve in a notebook.  (The package and the function share
the name ``exoray.search``; Python sets a package's attribute to a subpackage
as soon as it is imported, so the subpackage itself has to be callable.)
"""

import sys as _sys
import types as _types

from .bls import (
    BACKEND_ENV,
    BLSResult,
    available_backends,
    bls_power,
    bls_search,
    get_backend,
    iterative_search,
    prepare_batch,
    register_backend,
    spectrum_sde,
    transit_mask,
)
from .period_grid import central_transit_duration, duration_grid, period_grid, stellar_params

__all__ = [
    "period_grid",
    "duration_grid",
    "central_transit_duration",
    "stellar_params",
    "bls_power",
    "bls_search",
    "iterative_search",
    "prepare_batch",
    "transit_mask",
    "spectrum_sde",
    "BLSResult",
    "register_backend",
    "available_backends",
    "get_backend",
    "BACKEND_ENV",
]


class _CallableSearchPackage(_types.ModuleType):
    def __call__(self, *args, **kwargs):
        # imported at call time: exoray.api imports this package
        from ..api import search

        return search(*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableSearchPackage
