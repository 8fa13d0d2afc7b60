"""exoray.ingest: find, fetch and read TESS/Kepler light-curve products.

Readers (:mod:`exoray.ingest.fits_reader`) detect the product from the FITS
headers and return :class:`exoray.lightcurve.LightCurve`; quality-flag presets
live in :mod:`exoray.ingest.quality_flags`.
"""

from .quality_flags import good_cadences, quality_bitmask

_READERS = ("read_lightcurve", "detect_product", "read_many")


def __getattr__(name):
    # The FITS readers need astropy; importing them only when asked for lets
    # the quality flags serve preprocessing on a machine without astropy.
    if name in _READERS:
        from . import fits_reader

        return getattr(fits_reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "read_lightcurve",
    "detect_product",
    "read_many",
    "good_cadences",
    "quality_bitmask",
]
