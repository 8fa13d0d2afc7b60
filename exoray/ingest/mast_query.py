"""Targeted MAST queries and downloads for one star, through astroquery.mast.

Two steps, kept apart so that a query downloads nothing and a download can
be retried without querying again, and a front for a star's sectors:

* :func:`find_lightcurves` *queries*: ``Observations.query_criteria`` for the
  star's observations of one product kind (collection, pipeline, exposure
  time, sector), then ``get_product_list`` filtered to light-curve files.  It
  returns an astropy Table and downloads nothing.
* :func:`fetch_lightcurves` *downloads*: ``Observations.download_products``
  into a cache folder, verifies each file (size, FITS structure, per-HDU
  CHECKSUM) and copies it atomically into ``out_dir``.  Files already in
  ``out_dir`` and valid are not downloaded again.
* :func:`fetch_all_sectors` does both for every sector of a star (or only
  some sectors, and for several product kinds such as the FFI HLSPs),
  records each file as fetched, skipped, failed or missing instead of
  stopping at the first failure, and :func:`summarize_fetch` reports that per
  sector.

Reading the files is :mod:`exoray.ingest.fits_reader`'s job.

The MAST server is configurable (parameter ``base_url``, else environment
``EXORAY_MAST_URL``, else ``https://mast.stsci.edu``).  astroquery fixes its
portal URLs at import time from ``astroquery.mast.conf.server``, so this
module builds a private ``ObservationsClass`` and points its portal
connection's ``MAST_REQUEST_URL``/``COLUMNS_CONFIG_URL``/``MAST_DOWNLOAD_URL``
at ``base_url`` (private astroquery attributes, checked with astroquery
0.4.11).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import ConfigError, FetchError
from ..runtime.files import atomic_open
from ._fits_checksum import verify_fits
from .download import clean_partial_files

__all__ = [
    "DEFAULT_MAST_URL",
    "ProductSpec",
    "PRODUCTS",
    "mast_base_url",
    "mast_observations",
    "find_lightcurves",
    "fetch_lightcurves",
    "FFI_PRODUCTS",
    "fetch_all_sectors",
    "summarize_fetch",
]

log = logging.getLogger(__name__)

#: Default MAST server; ``EXORAY_MAST_URL`` overrides.
DEFAULT_MAST_URL = "https://mast.stsci.edu"


@dataclasses.dataclass(frozen=True)
class ProductSpec:
    """How to find one kind of light-curve product at MAST.

    Attributes
    ----------
    obs_collection : str
        ``TESS`` (mission products) or ``HLSP`` (high-level science products).
    provenance_name : str
        Pipeline (``SPOC``, ``TESS-SPOC``, ``QLP``, ...).
    exptime_s : tuple of float or None
        ``t_exptime`` range in seconds used in the query, or None.
    subgroups : tuple of str
        ``productSubGroupDescription`` values that mark light curves.
    suffixes : tuple of str
        File-name endings that mark light curves (either test suffices).
    """

    obs_collection: str
    provenance_name: str
    exptime_s: Optional[Tuple[float, float]]
    subgroups: Tuple[str, ...]
    suffixes: Tuple[str, ...]


#: Product kinds accepted by ``product=``.
PRODUCTS: Dict[str, ProductSpec] = {
    "spoc_2min": ProductSpec("TESS", "SPOC", (110.0, 130.0), ("LC",), ("s_lc.fits",)),
    "spoc_20s": ProductSpec("TESS", "SPOC", (15.0, 25.0), ("FAST-LC",), ("fast-lc.fits",)),
    "tess_spoc_ffi": ProductSpec("HLSP", "TESS-SPOC", None, ("LC",), ("_lc.fits",)),
    "qlp": ProductSpec("HLSP", "QLP", None, ("LC", "LLC"), ("_llc.fits",)),
    "tasoc": ProductSpec("HLSP", "TASOC", None, ("LC",), ("-lc.fits", "_lc.fits")),
    "eleanor": ProductSpec("HLSP", "GSFC-ELEANOR-LITE", None, ("LC",), ("_lc.fits",)),
}


def _spec(product: str) -> ProductSpec:
    try:
        return PRODUCTS[product]
    except KeyError:
        raise ConfigError(
            f"unknown product {product!r}; choose one of {', '.join(sorted(PRODUCTS))}"
        ) from None


def mast_base_url(base_url: Optional[str] = None) -> str:
    """The MAST server to use: ``base_url``, else ``$EXORAY_MAST_URL``, else MAST.

    Returns
    -------
    str
        Without trailing slash.
    """
    return (base_url or os.environ.get("EXORAY_MAST_URL") or DEFAULT_MAST_URL).rstrip("/")


def mast_observations(base_url: Optional[str] = None, timeout_s: float = 600.0):
    """An ``astroquery.mast.ObservationsClass`` talking to ``base_url``.

    Parameters
    ----------
    base_url : str, optional
        See :func:`mast_base_url`.
    timeout_s : float, default 600
        astroquery's overall limit for one portal query.

    Returns
    -------
    astroquery.mast.ObservationsClass
    """
    from astroquery.mast import ObservationsClass

    base = mast_base_url(base_url)
    obs = ObservationsClass()
    api = obs._portal_api_connection
    api.MAST_REQUEST_URL = base + "/api/v0/invoke"
    api.COLUMNS_CONFIG_URL = base + "/portal/Mashup/Mashup.asmx/columnsconfig"
    api.MAST_DOWNLOAD_URL = base + "/api/v0.1/Download/file"
    api.MAST_BUNDLE_URL = base + "/api/v0.1/Download/bundle"
    api.TIMEOUT = timeout_s
    return obs


def _query_error(exc: Exception, base: str, what: str) -> FetchError:
    return FetchError(base, f"MAST {what} failed: {type(exc).__name__}: {exc}")


def find_lightcurves(
    tic_id: int,
    sector: Optional[int] = None,
    product: str = "spoc_2min",
    *,
    base_url: Optional[str] = None,
    observations=None,
):
    """Light-curve products of one TIC at MAST (query only, nothing downloaded).

    Parameters
    ----------
    tic_id : int
        TESS Input Catalog ID, e.g. 261136679 (pi Men).
    sector : int, optional
        Restrict to one sector (``sequence_number``); default all sectors.
    product : str, default "spoc_2min"
        One of :data:`PRODUCTS`: ``spoc_2min``, ``spoc_20s``,
        ``tess_spoc_ffi``, ``qlp``, ``tasoc``, ``eleanor``.
    base_url : str, optional
        MAST server (see :func:`mast_base_url`).
    observations : astroquery.mast.ObservationsClass, optional
        Use this instance instead of building one.

    Returns
    -------
    astropy.table.Table
        MAST's product list rows that are light curves (columns such as
        ``obsID``, ``dataURI``, ``productFilename``,
        ``productSubGroupDescription``, ``size``), plus ``tic_id`` and
        ``sector``.  Empty (zero rows) when MAST has nothing.

    Raises
    ------
    exoray.errors.ConfigError
        Unknown ``product``.
    exoray.errors.FetchError
        MAST could not be reached or answered with an error.

    Examples
    --------
    >>> tab = find_lightcurves(261136679, 1)  # doctest: +SKIP
    >>> list(tab["productFilename"])  # doctest: +SKIP
    ['tess2018206045859-s0001-0000000261136679-0120-s_lc.fits']
    """
    import requests
    from astropy.table import Table
    from astroquery.exceptions import NoResultsWarning, RemoteServiceError

    spec = _spec(product)
    base = mast_base_url(base_url)
    if observations is None:
        obs = mast_observations(base)
        try:
            return find_lightcurves(tic_id, sector, product, base_url=base, observations=obs)
        finally:
            obs._session.close()
    obs = observations
    criteria = dict(
        obs_collection=spec.obs_collection,
        provenance_name=spec.provenance_name,
        dataproduct_type="timeseries",
        target_name=str(int(tic_id)),
    )
    if spec.exptime_s is not None:
        criteria["t_exptime"] = list(spec.exptime_s)
    if sector is not None:
        criteria["sequence_number"] = int(sector)
    log.info("querying MAST (%s) for %s TIC %s sector %s", base, product, tic_id, sector)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NoResultsWarning)
            found = obs.query_criteria(**criteria)
            if len(found) == 0:
                log.warning("MAST has no %s observation of TIC %s (sector %s)", product, tic_id, sector)
                return Table(names=("obsID", "productFilename", "dataURI", "tic_id", "sector"),
                             dtype=(str, str, str, "i8", "i4"))
            products = obs.get_product_list(found)
    except (requests.RequestException, RemoteServiceError, TimeoutError, ValueError, KeyError) as exc:
        raise _query_error(exc, base, "query") from exc
    keep = [_is_lightcurve(row, spec) for row in products]
    products = products[keep]
    sectors = {str(o): s for o, s in zip(found["obsid"], _column(found, "sequence_number"))}
    products["tic_id"] = [int(tic_id)] * len(products)
    products["sector"] = [_as_int(sectors.get(str(o))) for o in products["obsID"]]
    log.info("MAST lists %d %s light curve(s) for TIC %s", len(products), product, tic_id)
    return products


def _column(table, name):
    return table[name] if name in table.colnames else [None] * len(table)


def _as_int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return -1


def _text(row, name) -> str:
    import numpy as np

    if name not in row.colnames:
        return ""
    v = row[name]
    if v is None or v is np.ma.masked:
        return ""
    return str(v)


def _is_lightcurve(row, spec: ProductSpec) -> bool:
    fname = _text(row, "productFilename")
    if not fname.endswith((".fits", ".fits.gz")):
        return False
    sub = _text(row, "productSubGroupDescription").upper()
    return sub in spec.subgroups or fname.endswith(spec.suffixes)


def default_cache_dir() -> str:
    """``$EXORAY_CACHE_DIR`` or ``~/.cache/exoray/mast``."""
    return os.environ.get("EXORAY_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "exoray", "mast"
    )


def _copy_atomic(src: str, dest: str) -> None:
    # a .part name, as a download's, so that clean_partial_files removes what a killed copy left
    with open(src, "rb") as fin, atomic_open(dest, "wb", suffix=".part", perms=0o666) as fout:
        shutil.copyfileobj(fin, fout, 1 << 20)


def _expected_size(row) -> Optional[int]:
    import numpy as np

    if "size" not in row.colnames:
        return None
    v = row["size"]
    if v is np.ma.masked or v is None:
        return None
    try:
        v = int(v)
    except (TypeError, ValueError):
        return None
    return v if v > 0 else None


def fetch_lightcurves(
    tic_id: int,
    sector: Optional[int],
    out_dir,
    *,
    product: str = "spoc_2min",
    base_url: Optional[str] = None,
    cache_dir=None,
    products=None,
    checksum: bool = True,
    observations=None,
) -> List[Path]:
    """Download one star's light curves into ``out_dir`` (skipping valid ones).

    Parameters
    ----------
    tic_id : int
        TIC ID.
    sector : int or None
        Sector, or None for all.
    out_dir : path-like
        Destination folder (created).  Files land as ``out_dir/<MAST name>``.
    product : str, default "spoc_2min"
        See :func:`find_lightcurves`.
    base_url : str, optional
        MAST server (see :func:`mast_base_url`).
    cache_dir : path-like, optional
        astroquery download cache (default :func:`default_cache_dir`).
    products : astropy.table.Table, optional
        Result of :func:`find_lightcurves`, to skip the query.
    checksum : bool, default True
        Verify each HDU's CHECKSUM.
    observations : astroquery.mast.ObservationsClass, optional
        Instance to use instead of building one.

    Returns
    -------
    list of pathlib.Path
        The light curves now in ``out_dir``, in product-list order.  Empty
        if MAST has none.

    Raises
    ------
    exoray.errors.FetchError
        MAST could not be queried, or a file could not be downloaded intact
        (after one retry).  Files that did arrive are kept in ``out_dir``, so
        a rerun only fetches the missing ones.
    """
    base = mast_base_url(base_url)
    if observations is None:
        obs = mast_observations(base)
        try:
            return fetch_lightcurves(
                tic_id, sector, out_dir, product=product, base_url=base, cache_dir=cache_dir,
                products=products, checksum=checksum, observations=obs,
            )
        finally:
            obs._session.close()
    obs = observations
    if products is None:
        products = find_lightcurves(tic_id, sector, product, base_url=base, observations=obs)
    out_dir = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out_dir, exist_ok=True)
    cache = os.fspath(cache_dir) if cache_dir else default_cache_dir()
    os.makedirs(cache, exist_ok=True)

    clean_partial_files(out_dir, (os.path.basename(str(n)) for n in products["productFilename"]))

    paths: List[Path] = []
    failures: List[str] = []
    for i in range(len(products)):
        status, path, reason = _fetch_product(obs, products, i, out_dir, cache, checksum)
        if status == "failed":
            failures.append(f"{products[i]['dataURI']}: {reason}")
        else:
            paths.append(path)
    if failures:
        raise FetchError(
            base,
            f"{len(failures)} of {len(products)} file(s) could not be fetched: "
            + "; ".join(failures)
            + " (rerun to retry; files already fetched are kept)",
        )
    return paths


def _fetch_product(obs, products, i: int, out_dir: str, cache: str, checksum: bool):
    """Bring row ``i`` of a product list into ``out_dir``.

    Returns ``(status, path, reason)`` with status ``skipped`` (already there
    and valid), ``fetched`` or ``failed`` (``reason`` says why; ``path`` None).
    A download is tried twice: a file that arrived damaged is usually intact
    the second time, and a second failure is then reported rather than retried
    forever.
    """
    import requests

    row = products[i]
    name = os.path.basename(str(row["productFilename"]))
    dest = os.path.join(out_dir, name)
    expected = _expected_size(row)
    if os.path.exists(dest):
        res = verify_fits(dest, checksum=checksum, expected_size=expected)
        if res.ok:
            log.info("%s already present and valid; not downloading", dest)
            return "skipped", Path(dest), ""
        log.info("%s present but invalid (%s); downloading again", dest, res.reason)
    reason = ""
    for attempt in (1, 2):
        try:
            manifest = obs.download_products(
                products[i : i + 1], download_dir=cache, cache=True, verbose=False
            )
        except requests.RequestException as exc:
            reason = f"{type(exc).__name__}: {exc}"
            continue
        local, status, msg = _manifest_entry(manifest)
        if status != "COMPLETE" or not local or not os.path.exists(local):
            reason = f"astroquery status {status}: {msg}"
            continue
        res = verify_fits(local, checksum=checksum, expected_size=expected)
        if res.ok:
            _copy_atomic(local, dest)
            return "fetched", Path(dest), ""
        reason = f"downloaded file fails verification: {res.reason}"
        log.warning("%s (attempt %d); removing the cached copy", reason, attempt)
        os.unlink(local)
    return "failed", None, reason


#: FFI light-curve products ``fetch_all_sectors(..., products=...)`` adds for
#: ``exoray fetch --ffi``: the two HLSPs that cover most stars in most sectors
#: (TESS-SPOC for up to ~160k stars per sector, QLP for all stars to Tmag 13.5).
FFI_PRODUCTS = ("tess_spoc_ffi", "qlp")


def fetch_all_sectors(
    tic_id: int,
    out_dir,
    *,
    sectors: Optional[Sequence[int]] = None,
    products: Sequence[str] = ("spoc_2min",),
    base_url: Optional[str] = None,
    cache_dir=None,
    checksum: bool = True,
    observations=None,
) -> List[Dict]:
    """Download one star's light curves from every sector MAST has (or the given ones).

    Per product kind, one query lists the star's light curves in all sectors;
    the files are then brought into ``out_dir`` one by one, as
    :func:`fetch_lightcurves` does: a file already there and valid (size from
    the product list, FITS structure, per-HDU CHECKSUM) is skipped, temp files
    left by an interrupted run are removed first, and a failed file is
    recorded and the others still fetched, so a rerun resumes with what is
    missing.

    Parameters
    ----------
    tic_id : int
        TIC ID.
    out_dir : path-like
        Destination folder (created).  Files land flat as
        ``out_dir/<MAST file name>``; the names carry the TIC and the sector.
    sectors : sequence of int, optional
        Only these sectors; default all.
    products : sequence of str, default ("spoc_2min",)
        Product kinds (keys of :data:`PRODUCTS`); add :data:`FFI_PRODUCTS`
        for full-frame-image light curves.
    base_url, cache_dir, checksum, observations
        As for :func:`fetch_lightcurves`.

    Returns
    -------
    list of dict
        One row per file, sorted by sector, product kind and name, with keys
        ``tic_id``, ``sector``, ``product``, ``filename``, ``path`` and
        ``status``: ``fetched``, ``skipped`` (already present and valid),
        ``failed`` (``message`` says why) or ``missing`` (a requested sector
        for which MAST lists no light curve of that kind; ``filename`` and
        ``path`` empty).

    Raises
    ------
    exoray.errors.ConfigError
        Unknown product kind, or a sector that is not a positive integer.
    exoray.errors.FetchError
        MAST could not be queried, or it lists no light curve of the star of
        any asked-for kind (in the asked-for sectors).
    """
    kinds = list(dict.fromkeys(products))
    if not kinds:
        raise ConfigError("no product kind given; choose from " + ", ".join(sorted(PRODUCTS)))
    for k in kinds:
        _spec(k)
    wanted = None
    if sectors is not None:
        wanted = sorted({_sector_number(s) for s in sectors})
        if not wanted:
            raise ConfigError("empty sector list; give sector numbers such as 24,51 or leave it out for all")
    base = mast_base_url(base_url)
    if observations is None:
        obs = mast_observations(base)
        try:
            return fetch_all_sectors(
                tic_id, out_dir, sectors=sectors, products=kinds, base_url=base,
                cache_dir=cache_dir, checksum=checksum, observations=obs,
            )
        finally:
            obs._session.close()
    obs = observations

    # every sector is listed (not only the wanted ones) so that the error and
    # the summary can say which sectors MAST does have
    tables = {k: find_lightcurves(tic_id, None, k, base_url=base, observations=obs) for k in kinds}
    listed = sorted({int(s) for t in tables.values() for s in t["sector"]})
    if wanted is not None:
        tables = {k: t[[int(s) in wanted for s in t["sector"]]] for k, t in tables.items()}
    if not any(len(t) for t in tables.values()):
        where = "" if wanted is None else " in sector(s) " + ", ".join(map(str, wanted))
        has = ("; MAST has sector(s) " + ", ".join(map(str, listed))) if listed else ""
        hint = "" if set(FFI_PRODUCTS) <= set(kinds) else (
            ", or also ask for FFI light curves (products " + ", ".join(FFI_PRODUCTS) + "; exoray fetch --ffi)"
        )
        raise FetchError(
            base,
            f"TIC {int(tic_id)} has no {'/'.join(kinds)} light curve at MAST{where}{has}; "
            f"check the TIC ID{' and the sectors' if wanted else ''}{hint}",
        )

    out = os.path.abspath(os.fspath(out_dir))
    os.makedirs(out, exist_ok=True)
    cache = os.fspath(cache_dir) if cache_dir else default_cache_dir()
    os.makedirs(cache, exist_ok=True)
    clean_partial_files(
        out, (os.path.basename(str(n)) for t in tables.values() for n in t["productFilename"])
    )

    order = {k: j for j, k in enumerate(kinds)}
    todo = sorted(
        ((int(t[i]["sector"]), order[k], os.path.basename(str(t[i]["productFilename"])), k, i)
         for k, t in tables.items() for i in range(len(t))),
    )
    rows: List[Dict] = []
    seen = set()
    for sector, _, name, kind, i in todo:
        if name in seen:  # MAST lists a file under two observations: fetch it once
            continue
        seen.add(name)
        status, path, reason = _fetch_product(obs, tables[kind], i, out, cache, checksum)
        rows.append({
            "tic_id": int(tic_id), "sector": sector, "product": kind, "filename": name,
            "path": os.path.join(out, name), "status": status, "message": reason,
        })
        log.info("TIC %s sector %s %s: %s %s", tic_id, sector, kind, status, reason)
    if wanted is not None:
        for kind, t in tables.items():
            have = {int(s) for s in t["sector"]}
            for s in wanted:
                if s not in have:
                    rows.append({
                        "tic_id": int(tic_id), "sector": s, "product": kind, "filename": "",
                        "path": "", "status": "missing",
                        "message": f"MAST lists no {kind} light curve of this star in sector {s}",
                    })
    rows.sort(key=lambda r: (r["sector"], order[r["product"]], r["filename"]))
    return rows


def _sector_number(s) -> int:
    try:
        v = int(s.strip()) if isinstance(s, str) else int(s)
        ok = v >= 1 and (isinstance(s, str) or float(s) == v)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"sector {s!r} is not a positive integer; give sectors such as 24,51")
    return v


def summarize_fetch(rows: Sequence[Dict]) -> List[str]:
    """Text lines for :func:`fetch_all_sectors` rows: one per sector, then the failures.

    Returns
    -------
    list of str
        ``sector 24: fetched 1, skipped 0, failed 0[, missing 1]``, one per
        sector in order, each followed by ``  failed PRODUCT FILE: reason``
        and ``  missing PRODUCT`` detail lines.
    """
    lines: List[str] = []
    for sector in sorted({r["sector"] for r in rows}):
        here = [r for r in rows if r["sector"] == sector]
        counts = {k: sum(r["status"] == k for r in here) for k in ("fetched", "skipped", "failed", "missing")}
        text = f"sector {sector}: fetched {counts['fetched']}, skipped {counts['skipped']}, failed {counts['failed']}"
        if counts["missing"]:
            text += f", missing {counts['missing']}"
        lines.append(text)
        for r in here:
            if r["status"] == "failed":
                lines.append(f"  failed {r['product']} {r['filename']}: {r['message']}")
            elif r["status"] == "missing":
                lines.append(f"  missing {r['product']}: not listed at MAST")
    return lines


def _manifest_entry(manifest) -> Tuple[str, str, str]:
    if manifest is None or len(manifest) == 0:
        return "", "ERROR", "no manifest"
    r = manifest[0]
    msg = r["Message"] if "Message" in manifest.colnames else ""
    return str(r["Local Path"]), str(r["Status"]), str(msg)
