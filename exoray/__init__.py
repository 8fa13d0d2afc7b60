"""exoray: distributed transit search in NASA TESS light curves on Ray.

Stages: ingest -> preprocess -> search -> rank -> vet -> serve.  Each stage is a
subpackage with pure functions at its core; :mod:`exoray.schemas` holds the
Arrow contracts between them and :mod:`exoray.pipelines` the Ray wrappers.
"""

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
from .lightcurve import LightCurve, PreprocessedLightCurve

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "LightCurve",
    "PreprocessedLightCurve",
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
