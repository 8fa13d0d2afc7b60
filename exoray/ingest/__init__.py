"""exoray.ingest: find, fetch and read TESS/Kepler light-curve products.

Readers (:mod:`exoray.ingest.fits_reader`) detect the product from the FITS
headers and return :class:`exoray.lightcurve.LightCurve`; quality-flag presets
live in :mod:`exoray.ingest.quality_flags`.
"""

from .fits_reader import detect_product, read_lightcurve, read_many
from .quality_flags import good_cadences, quality_bitmask

__all__ = [
    "read_lightcurve",
    "detect_product",
    "read_many",
    "good_cadences",
    "quality_bitmask",
]
