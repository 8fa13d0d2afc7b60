"""One star's sectors as one light curve.

Each sector is quality-masked, normalised and detrended on its own (its own
systematics, its own trend), then the sectors are joined in time with the
gaps between them kept as gaps: :func:`stitch`.  A transit search over the
joined light curve stacks transits from every sector coherently, which is
how the SPOC multi-sector search finds small and long-period planets that
no single sector shows (Twicken et al. 2018; Guerrero et al. 2021).

When one sector was observed in several products (20-s and 2-min cadence, or
an FFI light curve), one is chosen per sector by :func:`choose_products`.
"""

from __future__ import annotations

import logging
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..errors import InputError
from ..lightcurve import PreprocessedLightCurve, SectorPart
from .normalize import robust_std

log = logging.getLogger(__name__)

__all__ = ["stitch", "choose_products", "PRODUCT_PREFERENCE", "split_sectors"]

#: Which light curve of a sector to search when there are several, best
#: first (product names of :func:`exoray.ingest.read_lightcurve`): SPOC
#: 20-s, then 2-min cadence (the mission's reference photometry and
#: systematics correction), then the full-frame-image light curves.
PRODUCT_PREFERENCE = ("spoc_fast", "spoc_2min", "tess_spoc_ffi", "qlp", "tasoc", "eleanor")


def _rank(plc) -> Tuple[int, float]:
    prod = (getattr(plc, "product", "") or "").lower()
    i = PRODUCT_PREFERENCE.index(prod) if prod in PRODUCT_PREFERENCE else len(PRODUCT_PREFERENCE)
    return i, float(getattr(plc, "cadence_s", 0.0) or 0.0)


def choose_products(lcs: Sequence) -> Tuple[List, List]:
    """One light curve per sector: ``(chosen, passed_over)``.

    Within a sector the product earliest in :data:`PRODUCT_PREFERENCE` wins,
    then the shorter cadence.  ``passed_over`` lists the others (the caller
    records why they were not searched).
    """
    by_sector: Dict[int, List] = {}
    for lc in lcs:
        by_sector.setdefault(int(lc.sector), []).append(lc)
    chosen, passed = [], []
    for sector in sorted(by_sector):
        group = sorted(by_sector[sector], key=_rank)
        chosen.append(group[0])
        passed.extend(group[1:])
    return chosen, passed


def stitch(plcs: Sequence[PreprocessedLightCurve]) -> PreprocessedLightCurve:
    """Join the preprocessed light curves of one star's sectors in time.

    A single light curve is returned unchanged.  The result has every
    per-cadence array joined, ``segment`` renumbered so that no segment
    spans two sectors, ``cadence_sector`` and ``parts`` (one
    :class:`~exoray.lightcurve.SectorPart` per sector, in time order), and
    ``sector`` the first sector.  Centroids are kept only when every sector
    has them, each sector's centred on its own median (sectors fall on
    different pixels and cameras; a shift *during transit* is what the
    centroid test looks for).

    Raises
    ------
    InputError
        The light curves are of different stars, two share a sector (choose
        one first, see :func:`choose_products`), or they overlap in time.
    """
    plcs = sorted(plcs, key=lambda p: float(p.time[0]) if p.time.size else np.inf)
    if not plcs:
        raise InputError("no light curves to stitch")
    if len(plcs) == 1:
        return plcs[0]
    tics = {int(p.tic_id) for p in plcs}
    if len(tics) > 1:
        raise InputError(f"cannot stitch light curves of different stars (TIC {sorted(tics)}): "
                         + ", ".join(p.source_path for p in plcs))
    sectors = [int(p.sector) for p in plcs]
    if len(set(sectors)) < len(sectors):
        dup = sorted({s for s in sectors if sectors.count(s) > 1})
        raise InputError(f"TIC {tics.pop()}: several light curves of sector(s) {dup}; choose one per sector "
                         "(exoray.preprocess.stitch.choose_products) before stitching")
    for a, b in zip(plcs, plcs[1:]):
        if a.time.size and b.time.size and b.time[0] <= a.time[-1]:
            raise InputError(f"{a.source_path} and {b.source_path} overlap in time "
                             f"({b.time[0]:.3f} <= {a.time[-1]:.3f}); they cannot be stitched")
    cat = {name: np.concatenate([getattr(p, name) for p in plcs])
           for name in ("time", "flux", "flux_err", "trend", "flux_flat")}
    segs, offset = [], 0
    for p in plcs:
        segs.append(p.segment.astype(np.int64) + offset)
        offset += int(p.segment.max()) + 1 if p.segment.size else 0
    cat["segment"] = np.concatenate(segs)
    cat["cadence_sector"] = np.concatenate([np.full(p.time.size, int(p.sector), np.int32) for p in plcs])
    if all(p.centroid_col is not None and p.centroid_row is not None for p in plcs):
        cat["centroid_col"] = np.concatenate([p.centroid_col - np.nanmedian(p.centroid_col) for p in plcs])
        cat["centroid_row"] = np.concatenate([p.centroid_row - np.nanmedian(p.centroid_row) for p in plcs])
    else:
        cat["centroid_col"] = cat["centroid_row"] = None
    dumps = [p.momentum_dump_times for p in plcs if p.momentum_dump_times is not None]
    parts = tuple(SectorPart(int(p.sector), p.source_path, p.detrend_method, float(p.detrend_window_days),
                             float(p.rotation_period_days), float(p.noise_ppm), int(p.time.size)) for p in plcs)
    first = plcs[0]
    windows = [p.detrend_window_days for p in plcs if np.isfinite(p.detrend_window_days)]

    return PreprocessedLightCurve(
        tic_id=first.tic_id, sector=first.sector, **cat,
        mission=first.mission, camera=first.camera, ccd=first.ccd,
        cadence_s=min(float(p.cadence_s) for p in plcs), product=first.product, flux_column=first.flux_column,
        source_path=";".join(p.source_path for p in plcs),
        tmag=first.tmag, teff=first.teff, logg=first.logg, radius=first.radius, mass=first.mass, mh=first.mh,
        ra=first.ra, dec=first.dec, object_name=first.object_name,
        n_raw=sum(p.n_raw for p in plcs), n_quality_masked=sum(p.n_quality_masked for p in plcs),
        n_nan=sum(p.n_nan for p in plcs), n_outliers=sum(p.n_outliers for p in plcs),
        noise_ppm=float(robust_std(cat["flux_flat"]) * 1e6),
        # the search judges how much of a transit the detrender kept by the
        # window: the shortest of the sectors' is the cautious choice
        detrend_method="stitched", detrend_window_days=float(min(windows)) if windows else float("nan"),
        rotation_period_days=float("nan"), preprocess_ms=float(sum(p.preprocess_ms for p in plcs)),
        momentum_dump_times=np.concatenate(dumps) if dumps else None, parts=parts,
    )


def split_sectors(plc: PreprocessedLightCurve) -> List[Tuple[SectorPart, np.ndarray]]:
    """``(part, cadence mask)`` for each sector of a stitched light curve (one pair for a single sector)."""
    if not plc.parts or plc.cadence_sector is None:
        part = SectorPart(int(plc.sector), plc.source_path, plc.detrend_method, float(plc.detrend_window_days),
                          float(plc.rotation_period_days), float(plc.noise_ppm), int(plc.time.size))
        return [(part, np.ones(plc.time.size, bool))]
    return [(p, plc.cadence_sector == p.sector) for p in plc.parts]
