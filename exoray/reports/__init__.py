"""Vetting reports: the one-page picture of a candidate, on screen or in files.

:mod:`exoray.reports.page` draws the page (light curves, periodogram, folds,
odd/even, secondary eclipse, AstroNet views and the statistics table) from a
light curve, a candidate row and its vetting; :mod:`exoray.reports.writer`
saves it as PNG and PDF under a name derived from the candidate.  Reports
only draw: every number on the page comes from the search and the vetting
(:mod:`exoray.search`, :mod:`exoray.vet`).

Public API::

    make_report, make_reports, report_basename, report_figure, fold_figure,
    lightcurve_figure, PAGE_SIZE_IN, DEFAULT_DPI, FORMATS
"""

from .page import DEFAULT_DPI, PAGE_SIZE_IN, fold_figure, lightcurve_figure, report_figure
from .writer import FORMATS, make_report, make_reports, report_basename

__all__ = ["make_report", "make_reports", "report_basename", "report_figure", "fold_figure", "lightcurve_figure",
           "PAGE_SIZE_IN", "DEFAULT_DPI", "FORMATS"]
