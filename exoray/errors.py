"""Exception and warning classes of exoray.

Every error raised on purpose by exoray derives from :class:`ExorayError`, so a
sweep can catch exactly the failures it knows how to quarantine and let
programming errors propagate.  Errors about a file always name the file and say
what to do about it.
"""

from __future__ import annotations

__all__ = [
    "ExorayError",
    "ExorayWarning",
    "ProductError",
    "CorruptProductError",
    "UnsupportedProductError",
    "EmptyLightCurveError",
    "SchemaMismatchError",
    "FetchError",
    "ConfigError",
    "InputError",
    "LimitExceededError",
    "SearchBudgetError",
    "TimeLimitError",
    "WorkCancelledError",
]


class ExorayError(Exception):
    """Base class of every error exoray raises on purpose."""


class ExorayWarning(UserWarning):
    """Base class of exoray warnings (data still usable, but look at it)."""


class ConfigError(ExorayError, ValueError):
    """A configuration value is invalid (unknown method, negative window, ...)."""


class InputError(ExorayError, ValueError):
    """Arrays handed to a function are unusable (length mismatch, too few points, ...)."""


class ProductError(ExorayError):
    """A light-curve product cannot be used.  ``path`` names the file."""

    def __init__(self, path: str, message: str):
        self.path = str(path)
        self.reason = message
        super().__init__(f"{self.path}: {message}")

    def __reduce__(self):  # keep picklable across Ray workers
        return (type(self), (self.path, self.reason))


class CorruptProductError(ProductError):
    """The file is truncated, not FITS, or its FITS structure is broken.

    The remedy is almost always to delete the file and download it again.
    """


class UnsupportedProductError(ProductError):
    """The file is valid FITS but not a light-curve product exoray can read."""


class SchemaMismatchError(ProductError):
    """The product type was recognised but a required column or keyword is missing."""


class EmptyLightCurveError(ProductError):
    """The light curve has no usable cadence (no rows, or all flux NaN/masked)."""


class FetchError(ExorayError):
    """A download failed after all retries; ``url`` names what was asked for."""

    def __init__(self, url: str, message: str):
        self.url = str(url)
        self.reason = message
        super().__init__(f"{self.url}: {message}")

    def __reduce__(self):
        return (type(self), (self.url, self.reason))


class LimitExceededError(ExorayError):
    """A stated resource limit (size, time, work) was reached.

    ``limit`` names the setting that bounds it and ``option`` says where to
    raise it, so the message can tell the user what to change.
    """

    def __init__(self, message: str, *, limit: str = "", option: str = ""):
        self.limit = limit
        self.option = option
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_limit, (type(self), str(self), self.limit, self.option))


def _rebuild_limit(cls, message, limit, option):
    return cls(message, limit=limit, option=option)


class SearchBudgetError(LimitExceededError):
    """A light curve needs more search work than the configured budget allows.

    Raised before the search starts (the period grid is bounded by a maximum
    baseline and a maximum number of trial periods), so a light curve with a
    time jump or an absurd span cannot exhaust memory or hold a worker for hours.
    """


class TimeLimitError(LimitExceededError):
    """A piece of work ran past its wall-clock limit and was stopped."""


class WorkCancelledError(ExorayError):
    """Work was stopped because whoever asked for it is gone (a client disconnected)."""
