"""Report files: the page of :mod:`exoray.reports.page` saved as PNG and PDF.

:func:`make_report` writes one candidate's report, :func:`make_reports`
those of several candidates of one star, and :func:`report_basename` names
the files, so that a sweep, ``exoray report`` and the dashboard find the
same report for a candidate.  Each file is written under a temporary name and
renamed into place (:func:`exoray.runtime.files.atomic_open`): readers never
see half a report, and two writers of one report never share a file.

Examples
--------
>>> paths = make_report(lc, candidate, bls_result=res, out_dir="reports")  # doctest: +SKIP
>>> paths["png"]  # doctest: +SKIP
'reports/tic261136679_s001_c0.png'
"""

from __future__ import annotations

import logging
import math
import os
import time as _time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from matplotlib.figure import Figure

from ..errors import InputError
from ..lightcurve import PreprocessedLightCurve
from ..plotting import PAGE_SIZE_IN, _ok
from ..runtime.files import atomic_open
from .page import DEFAULT_DPI, _catalogs_arg, _draw, _prepare, _raw_arrays

__all__ = ["make_report", "make_reports", "report_basename", "FORMATS"]

log = logging.getLogger(__name__)

#: Output formats :func:`make_report` can write.
FORMATS = ("png", "pdf")


def report_basename(tic_id, sector, index, product=None, cadence_s=None, source=None) -> str:
    """File stem used for reports.

    ``tic{tic_id}_s{sector:03d}_c{index}``, with the product, cadence and a
    short hash of the source path inserted when given
    (``tic{T}_s{S:03d}_{product}_{cadence}s_{hash6}_c{index}``): one star and
    sector can come as several inputs (a 2-min and a 20-s product, or two
    copies), and each must get reports of its own.
    """
    parts = [f"tic{int(tic_id)}", f"s{int(sector):03d}"]
    if product:
        parts.append("".join(c if c.isalnum() or c in "-_" else "-" for c in str(product)))
    if cadence_s is not None and math.isfinite(float(cadence_s)):
        parts.append(f"{float(cadence_s):g}s")
    if source:
        import hashlib

        parts.append(hashlib.sha1(str(source).encode("utf-8")).hexdigest()[:6])
    return "_".join(parts + [f"c{int(index)}"])


def make_report(
    lc: PreprocessedLightCurve,
    candidate: Mapping[str, Any],
    *,
    bls_result: Optional[Mapping[str, Any]] = None,
    vet: Optional[Mapping[str, Any]] = None,
    out_dir: Union[str, os.PathLike],
    basename: Optional[str] = None,
    formats: Sequence[str] = FORMATS,
    raw_flux=None,
    index: Optional[int] = None,
    dpi: int = DEFAULT_DPI,
    vet_kwargs: Optional[Mapping[str, Any]] = None,
    catalogs=None,
) -> Dict[str, str]:
    """Draw the one-page vetting report of one candidate and save it.

    Parameters
    ----------
    lc : PreprocessedLightCurve
        The star's preprocessed light curve (``time`` in BTJD, ``flux``,
        ``trend``, ``flux_flat``, ``segment``, ``momentum_dump_times``).
    candidate : mapping
        Ephemeris as ``period``/``t0``/``duration`` (days) or the
        :data:`~exoray.vet.records.CANDIDATES_SCHEMA` names ``period_days``,
        ``t0_btjd``, ``duration_hours``; optionally ``snr``, ``sde``,
        ``depth_ppm``, ``candidate_index``, ``score``, ``score_lo``,
        ``score_hi``, ``disposition``, ``known_object``, ``period_err``,
        ``t0_err``.  A :class:`~exoray.search.bls.BLSResult` works too.
    bls_result : mapping, optional
        :class:`~exoray.search.bls.BLSResult` with ``periods`` and
        ``power_spectrum``; without it the periodogram panel shows the
        per-transit SNRs instead.
    vet : mapping, optional
        Output of :func:`~exoray.vet.disposition.vet_candidate` for this
        candidate; computed here when omitted (with the light curve's
        centroids and momentum-dump times, plus ``vet_kwargs``).
    out_dir : str or path-like
        Folder to write into (created if missing).
    basename : str, optional
        File stem; default :func:`report_basename` of the star, sector,
        candidate, product, cadence and source path, so that two inputs of one
        star and sector never write the same file.
    formats : sequence of {'png', 'pdf'}
        Files to write.
    raw_flux : LightCurve or (time, flux), optional
        The unprocessed cadences (as read, including quality-masked ones),
        drawn under the normalised flux after per-segment median scaling.
    index : int, optional
        Candidate number for the title and file name; default
        ``candidate['candidate_index']`` or 0.
    dpi : int
        PNG resolution; the page is :data:`PAGE_SIZE_IN` (A4 landscape), so
        150 dpi gives 1754 x 1240 pixels.
    vet_kwargs : mapping, optional
        Extra keywords for :func:`~exoray.vet.disposition.vet_candidate` (e.g. ``catalogs``,
        ``thresholds``) when ``vet`` is None.
    catalogs : KnownObjectCatalogs or False, optional
        Where the header looks up the star's TOI number (default:
        ``vet_kwargs["catalogs"]``, else the configured or shipped
        known-object catalogue; ``False``: no lookup).

    Returns
    -------
    dict
        ``{format: path}`` of the files written.

    Raises
    ------
    InputError
        Unknown format, missing ephemeris, empty light curve or bad
        ``raw_flux``.
    """
    fmts = [str(f).lower().lstrip(".") for f in formats]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        raise InputError(f"formats {list(formats)!r} not supported; choose from {list(FORMATS)}")
    t_start = _time.perf_counter()
    vet, eph, index, disposition = _prepare(lc, candidate, vet, vet_kwargs, index)
    t_vet = _time.perf_counter() - t_start
    if basename is None:
        basename = report_basename(lc.tic_id, lc.sector, index, lc.product, lc.cadence_s, lc.source_path or None)

    fig = Figure(figsize=PAGE_SIZE_IN, dpi=dpi)
    try:
        _draw(fig, lc, candidate, eph, vet, bls_result, _raw_arrays(raw_flux, lc), disposition, index,
              catalogs=_catalogs_arg(catalogs, vet_kwargs))
        paths: Dict[str, str] = {}
        for f in fmts:
            path = os.path.join(os.fspath(out_dir), f"{basename}.{f}")
            kw = {"pil_kwargs": {"compress_level": 3}} if f == "png" else {}
            # the dashboard and a resumed sweep read reports while others are written
            with atomic_open(path, "wb") as fh:
                fig.savefig(fh, format=f, dpi=dpi, metadata=_metadata(f, lc, index), **kw)
            paths[f] = path
    finally:
        fig.clear()
    # DEBUG: a sweep renders one report per planet candidate and says where they are in its summary
    log.debug("report TIC %s s%s c%s (%s) in %.2f s (vet %.2f s): %s", lc.tic_id, lc.sector, index,
             disposition, _time.perf_counter() - t_start, t_vet, ", ".join(paths.values()))
    return paths


def _metadata(fmt: str, lc, index: int) -> Dict[str, str]:
    title = f"TIC {lc.tic_id} sector {lc.sector} candidate {index}"
    if fmt == "pdf":
        return {"Title": title, "Creator": "exoray.reports"}
    return {"Title": title, "Software": "exoray.reports"}


def make_reports(
    lc: PreprocessedLightCurve,
    candidates: Iterable[Mapping[str, Any]],
    out_dir: Union[str, os.PathLike],
    *,
    bls_results=None,
    vets: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
    **kwargs,
) -> List[Dict[str, str]]:
    """Reports for several candidates of one star.

    Parameters
    ----------
    lc : PreprocessedLightCurve
    candidates : iterable of mappings, or a pyarrow Table / pandas DataFrame
        One per candidate (see :func:`make_report`).  The index in the file
        name is each candidate's ``candidate_index``, else its position.
    out_dir : str or path-like
    bls_results : BLSResult or sequence of them, optional
        One shared periodogram, or one per candidate (e.g. the list returned
        by :func:`~exoray.search.bls.iterative_search`).
    vets : sequence, optional
        :func:`~exoray.vet.disposition.vet_candidate` results aligned with ``candidates`` (None
        entries are computed).
    **kwargs
        Passed to :func:`make_report` (``formats``, ``raw_flux``, ``dpi``,
        ``vet_kwargs``).

    Returns
    -------
    list of dict
        :func:`make_report`'s ``{format: path}`` per candidate, in order.
    """
    if hasattr(candidates, "to_pylist"):
        candidates = candidates.to_pylist()
    elif hasattr(candidates, "to_dict") and hasattr(candidates, "columns"):
        candidates = candidates.to_dict("records")
    cands = list(candidates)
    if isinstance(bls_results, Mapping) or bls_results is None:
        bls_list = [bls_results] * len(cands)
    else:
        bls_list = list(bls_results)
        if len(bls_list) != len(cands):
            raise InputError(f"bls_results has {len(bls_list)} entries for {len(cands)} candidates")
    vet_list = [None] * len(cands) if vets is None else list(vets)
    if len(vet_list) != len(cands):
        raise InputError(f"vets has {len(vet_list)} entries for {len(cands)} candidates")
    out = []
    for pos, (cand, bls, vt) in enumerate(zip(cands, bls_list, vet_list)):
        idx = int(cand["candidate_index"]) if _ok(cand.get("candidate_index")) else pos
        out.append(make_report(lc, cand, bls_result=bls, vet=vt, out_dir=out_dir, index=idx, **kwargs))
    return out
