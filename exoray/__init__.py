"""exoray: distributed transit search in NASA TESS light curves on Ray.

Stages: ingest -> preprocess -> search -> rank -> vet -> serve.  Each stage is a
subpackage with pure functions at its core; :mod:`exoray.schemas` holds the
Arrow contracts between them and :mod:`exoray.pipelines` the Ray wrappers.

In a notebook (:mod:`exoray.api`): ``read_candidates``, ``read_preprocessed``,
``candidate`` / ``plot_candidate`` and ``search``; light curves convert to and
from lightkurve (``LightCurve.to_lightkurve``, ``from_lightkurve``).
"""

from ._version import __version__
from .config import PreprocessConfig, SweepConfig
from .errors import (
    ConfigError,
    CorruptProductError,
    EmptyLightCurveError,
    ExorayError,
    ExorayWarning,
    FetchError,
    InputError,
    ProductError,
    SchemaMismatchError,
    UnsupportedProductError,
)
from .lightcurve import LightCurve, PreprocessedLightCurve, from_lightkurve

#: Notebook functions of :mod:`exoray.api`, imported on first use: they need pandas and
#: pyarrow, which ``exoray --help`` and the Ray workers' imports should not pay for.
_API = ("Candidate", "candidate", "plot_candidate", "read_candidates", "read_preprocessed", "search")


def __getattr__(name):
    if name == "search":
        # the subpackage exoray.search, which is callable as exoray.api.search
        import importlib

        return importlib.import_module(".search", __name__)
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'exoray' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))


__all__ = [
    "__version__",
    "LightCurve",
    "PreprocessedLightCurve",
    "from_lightkurve",
    "read_candidates",
    "read_preprocessed",
    "search",
    "candidate",
    "plot_candidate",
    "Candidate",
    "PreprocessConfig",
    "SweepConfig",
    "ExorayError",
    "ExorayWarning",
    "ConfigError",
    "InputError",
    "ProductError",
    "CorruptProductError",
    "UnsupportedProductError",
    "SchemaMismatchError",
    "EmptyLightCurveError",
    "FetchError",
]
