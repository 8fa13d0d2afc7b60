"""Write the tiny light-curve FITS fixtures in this folder (run: ``python make_fixtures.py``).

One small file per product the reader detects, laid out as the real archive
products are (the same HDUs, extension names, header keywords and column
names and formats) but with a few hundred simulated cadences instead of a
sector, so the reader tests run on a fresh clone without the real data.
Every HDU carries ``CHECKSUM``/``DATASUM`` cards, signed after writing.

The output is deterministic: fixed seeds, fixed header values, no creation
dates, and checksum cards with fixed comments (astropy's own signing would
stamp the current time into them).  ``tests/unit/test_fits_fixtures.py``
checks that this script reproduces the committed files.

:data:`FIXTURES` lists the files with the facts the tests check against.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple, Tuple

import numpy as np
from astropy.io import fits

from exoray.ingest._fits_checksum import update_checksums

HERE = Path(__file__).resolve().parent
N_ROWS = 200
_PI_MEN = dict(tic=261136679, ra=84.2911879979852, dec=-80.4691197969941, tmag=5.1054, teff=5992.1,
               logg=4.3589, mh=0.0887839, radius=1.14889)


class Fixture(NamedTuple):
    name: str
    product: str
    target: int  # TIC or KIC
    sector: int  # sector, or quarter for Kepler
    cadence_s: float
    flux_column: str
    err_column: str
    quality_column: str
    centroid: bool  # has MOM_CENTR1/2


FIXTURES: Tuple[Fixture, ...] = (
    Fixture("spoc_2min_lc.fits", "spoc_2min", 261136679, 1, 120.0, "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "QUALITY", True),
    Fixture("spoc_fast_lc.fits", "spoc_fast", 261136679, 27, 20.0, "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "QUALITY", True),
    Fixture("tess_spoc_ffi_lc.fits", "tess_spoc_ffi", 261136679, 1, 1800.0, "PDCSAP_FLUX", "PDCSAP_FLUX_ERR",
            "QUALITY", True),
    Fixture("qlp_s0001_llc.fits", "qlp", 261136679, 1, 1800.0, "KSPSAP_FLUX", "KSPSAP_FLUX_ERR", "QUALITY", False),
    Fixture("qlp_s0056_llc.fits", "qlp", 261136679, 56, 200.0, "DET_FLUX", "DET_FLUX_ERR", "QUALITY", False),
    Fixture("tasoc_lc.fits", "tasoc", 261136679, 1, 1800.0, "FLUX_CORR", "FLUX_CORR_ERR", "QUALITY", True),
    Fixture("eleanor_lc.fits", "eleanor", 261136679, 1, 1800.0, "CORR_FLUX", "FLUX_ERR", "QUALITY", False),
    Fixture("kepler_llc.fits", "kepler_lc", 11442793, 3, 1765.46, "PDCSAP_FLUX", "PDCSAP_FLUX_ERR", "SAP_QUALITY",
            True),
)

#: Every NAN_EVERY-th flux value is NaN (the reader keeps them; masking comes later).
NAN_EVERY = 37
#: QUALITY is set to QUALITY_FLAG on every QUALITY_EVERY-th cadence from the fifth on.
QUALITY_EVERY, QUALITY_FLAG = 29, 4096

Cards = List[Tuple[str, object, str]]

# SPOC layout (2-min, 20-s and TESS-SPOC FFI files share it; Kepler differs in SAP_QUALITY)
_SPOC_COLUMNS = [
    ("TIME", "D"), ("TIMECORR", "E"), ("CADENCENO", "J"), ("SAP_FLUX", "E"), ("SAP_FLUX_ERR", "E"),
    ("SAP_BKG", "E"), ("SAP_BKG_ERR", "E"), ("PDCSAP_FLUX", "E"), ("PDCSAP_FLUX_ERR", "E"), ("QUALITY", "J"),
    ("PSF_CENTR1", "D"), ("PSF_CENTR1_ERR", "E"), ("PSF_CENTR2", "D"), ("PSF_CENTR2_ERR", "E"),
    ("MOM_CENTR1", "D"), ("MOM_CENTR1_ERR", "E"), ("MOM_CENTR2", "D"), ("MOM_CENTR2_ERR", "E"),
    ("POS_CORR1", "E"), ("POS_CORR2", "E"),
]
_TASOC_COLUMNS = [
    ("TIME", "D"), ("TIMECORR", "E"), ("CADENCENO", "J"), ("FLUX_RAW", "D"), ("FLUX_RAW_ERR", "D"),
    ("FLUX_BKG", "D"), ("FLUX_CORR", "D"), ("FLUX_CORR_ERR", "D"), ("QUALITY", "J"), ("PIXEL_QUALITY", "J"),
    ("MOM_CENTR1", "D"), ("MOM_CENTR2", "D"), ("POS_CORR1", "D"), ("POS_CORR2", "D"),
]
_ELEANOR_COLUMNS = [
    ("TIME", "D"), ("BARYCORR", "E"), ("RAW_FLUX", "E"), ("CORR_FLUX", "E"), ("FLUX_ERR", "E"), ("QUALITY", "J"),
    ("X_CENTROID", "E"), ("Y_CENTROID", "E"), ("X_COM", "E"), ("Y_COM", "E"), ("FLUX_BKG", "E"),
    ("FFIINDEX", "J"), ("PCA_FLUX", "E"),
]
_QLP_COLUMNS = {
    1: [("TIME", "D"), ("CADENCENO", "J"), ("SAP_FLUX", "E"), ("KSPSAP_FLUX", "E"), ("KSPSAP_FLUX_ERR", "E"),
        ("KSPSAP_FLUX_SML", "E"), ("KSPSAP_FLUX_LAG", "E"), ("QUALITY", "J"), ("ORBITID", "J"), ("SAP_X", "E"),
        ("SAP_Y", "E"), ("SAP_BKG", "E"), ("SAP_BKG_ERR", "E")],
    # QLP renamed KSPSAP_* to DET_* from sector 56 on
    56: [("TIME", "D"), ("CADENCENO", "J"), ("SAP_FLUX", "E"), ("DET_FLUX", "E"), ("DET_FLUX_ERR", "E"),
         ("SYS_RM_FLUX", "E"), ("QUALITY", "J"), ("ORBITID", "J"), ("SAP_X", "E"), ("SAP_Y", "E"),
         ("SAP_BKG", "E"), ("SAP_BKG_ERR", "E")],
}


def _columns(fx: Fixture, layout, t0: float) -> List[fits.Column]:
    """Simulated columns: a flat star with white noise, one box transit, NaNs and flagged cadences."""
    rng = np.random.default_rng(fx.target % 1000 + fx.sector)
    n = N_ROWS
    time = t0 + np.arange(n) * (fx.cadence_s / 86400.0)
    flux = 1.0 + 2e-4 * rng.standard_normal(n)
    flux[n // 2 : n // 2 + 6] -= 2e-3
    flux[::NAN_EVERY] = np.nan
    quality = np.zeros(n, np.int32)
    quality[5::QUALITY_EVERY] = QUALITY_FLAG
    scale = 1.0 if fx.product in ("qlp", "eleanor") else 25000.0  # relative vs e-/s
    values: Dict[str, np.ndarray] = {
        "TIME": time,
        "CADENCENO": np.arange(n) + 4000,
        "QUALITY": quality,
        "SAP_QUALITY": quality,
        "PIXEL_QUALITY": np.zeros(n, np.int32),
        "ORBITID": np.where(np.arange(n) < n // 2, 9, 10),
        "FFIINDEX": np.arange(n) + 100,
        "MOM_CENTR1": 1632.3 + 0.01 * rng.standard_normal(n),
        "MOM_CENTR2": 259.8 + 0.01 * rng.standard_normal(n),
    }
    out = []
    for name, form in layout:
        if name in values:
            arr = values[name]
        elif name.endswith("_ERR"):
            arr = np.full(n, 2e-4 * scale)
        elif "FLUX" in name:
            arr = flux * scale * (1.0 if name in (fx.flux_column, "PDCSAP_FLUX") else 1.001)
        elif name in ("TIMECORR", "BARYCORR"):
            arr = np.full(n, 7.0e-4)
        elif "BKG" in name:
            arr = np.full(n, 12.0)
        else:  # other centroids and position corrections
            arr = 0.01 * rng.standard_normal(n)
        dtype = {"D": np.float64, "E": np.float32, "J": np.int32}[form]
        out.append(fits.Column(name=name, format=form, array=np.asarray(arr).astype(dtype)))
    return out


def _tess_target_cards(fx: Fixture, with_stars: bool = True) -> Cards:
    cards: Cards = [
        ("TELESCOP", "TESS", "telescope"),
        ("INSTRUME", "TESS Photometer", "detector type"),
        ("OBJECT", f"TIC {fx.target}", "string version of target id"),
        ("TICID", fx.target, "unique tess target identifier"),
        ("SECTOR", fx.sector, "Observing sector"),
        ("CAMERA", 4, "Camera number"),
        ("CCD", 2, "CCD chip number"),
        ("RADESYS", "ICRS", "reference frame of celestial coordinates"),
        ("RA_OBJ", _PI_MEN["ra"], "[deg] right ascension"),
        ("DEC_OBJ", _PI_MEN["dec"], "[deg] declination"),
        ("EQUINOX", 2000.0, "equinox of celestial coordinate system"),
        ("TESSMAG", _PI_MEN["tmag"], "[mag] TESS magnitude"),
        ("TEFF", _PI_MEN["teff"], "[K] Effective temperature"),
    ]
    if with_stars:
        cards += [
            ("LOGG", _PI_MEN["logg"], "[cm/s2] log10 surface gravity"),
            ("MH", _PI_MEN["mh"], "[log10([M/H])] metallicity"),
            ("RADIUS", _PI_MEN["radius"], "[solar radii] stellar radius"),
        ]
    return cards


def _time_cards(fx: Fixture, t0: float, bjdrefi: int = 2457000) -> Cards:
    cad_d = fx.cadence_s / 86400.0
    return [
        ("TIMEREF", "SOLARSYSTEM", "barycentric correction applied to times"),
        ("TASSIGN", "SPACECRAFT", "where time is assigned"),
        ("TIMESYS", "TDB", "Barycentric Dynamical Time"),
        ("BJDREFI", bjdrefi, "integer part of BTJD reference date"),
        ("BJDREFF", 0.0, "fraction of the day in BTJD reference date"),
        ("TIMEUNIT", "d", "time unit for TIME, TSTART and TSTOP"),
        ("TSTART", t0, "observation start time in BTJD"),
        ("TSTOP", t0 + N_ROWS * cad_d, "observation stop time in BTJD"),
        ("TIMEDEL", cad_d, "[d] time resolution of data"),
        ("NUM_FRM", max(1, int(round(fx.cadence_s / 2.0))), "number of frames per time stamp"),
    ]


def _spoc_like(fx: Fixture):
    """SPOC 2-min / 20-s, TESS-SPOC FFI and Kepler: PRIMARY, LIGHTCURVE, APERTURE."""
    kepler = fx.product == "kepler_lc"
    t0 = 260.21395547 if kepler else 1325.29487730636
    if kepler:
        target: Cards = [
            ("TELESCOP", "Kepler", "telescope"),
            ("INSTRUME", "Kepler Photometer", "detector type"),
            ("OBJECT", f"KIC {fx.target}", "string version of KEPLERID"),
            ("KEPLERID", fx.target, "unique Kepler target identifier"),
            ("CHANNEL", 51, "CCD channel"),
            ("MODULE", 15, "CCD module"),
            ("OUTPUT", 3, "CCD output"),
            ("QUARTER", fx.sector, "Observing quarter"),
            ("OBSMODE", "long cadence", "observing mode"),
            ("MISSION", "Kepler", "Mission name"),
            ("RADESYS", "ICRS", "reference frame of celestial coordinates"),
            ("RA_OBJ", 284.433491, "[deg] right ascension"),
            ("DEC_OBJ", 49.30516, "[deg] declination"),
            ("EQUINOX", 2000.0, "equinox of celestial coordinate system"),
            ("KEPMAG", 13.804, "[mag] Kepler magnitude (Kp)"),
            ("TEFF", 5970, "[K] Effective temperature"),
            ("LOGG", 4.317, "[cm/s2] log10 surface gravity"),
            ("FEH", 0.1, "[log10([Fe/H])]  metallicity"),
            ("RADIUS", 1.2, "[solar radii] stellar radius"),
        ]
        creator = "824670 FluxExporter2PipelineModule"
    else:
        target = _tess_target_cards(fx)
        creator = "26493 LightCurveExporterPipelineModule"
    primary = fits.PrimaryHDU()
    _set(primary.header, [
        ("NEXTEND", 2, "number of standard extensions"),
        ("EXTNAME", "PRIMARY", "name of extension"),
        ("EXTVER", 1, "extension version number (not format version)"),
        ("SIMDATA", True, "file is based on simulated data"),
        ("ORIGIN", "NASA/Ames", "institution that made this file"),
        ("CREATOR", creator, "pipeline job and program"),
        ("PROCVER", "exoray-fixture-1.0", "SW version"),
        ("FILEVER", "1.0", "file format version"),
        *target,
    ])
    layout = [("SAP_QUALITY", "J") if (kepler and c == "QUALITY") else (c, f) for c, f in _SPOC_COLUMNS]
    table = fits.BinTableHDU.from_columns(_columns(fx, layout, t0), name="LIGHTCURVE")
    _set(table.header, [
        ("INHERIT", True, "inherit the primary header"),
        *target[:4],
        *_time_cards(fx, t0, 2454833 if kepler else 2457000),
        ("CROWDSAP", 0.99965841, "Ratio of target flux to total flux in op. ap."),
        ("FLFRCSAP", 0.9800123, "Frac. of target flux w/in the op. aperture"),
    ])
    aperture = fits.ImageHDU(np.full((5, 5), 1 | 2, np.int32), name="APERTURE")
    return [primary, table, aperture]


def _qlp(fx: Fixture):
    primary = fits.PrimaryHDU()
    _set(primary.header, [
        ("NEXTEND", 1, "number of standard extensions"),
        ("EXTNAME", "PRIMARY", "name of extension"),
        ("ORIGIN", "MIT/QLP", "institution that made this file"),
        ("FILTER", "TESS", "filter"),
        *_tess_target_cards(fx),
        ("HLSPLEAD", "Chelsea X. Huang", "HLSP project lead"),
        ("HLSPVER", "v01", "HLSP version"),
    ])
    t0 = 1325.3 if fx.sector < 56 else 2826.5
    table = fits.BinTableHDU.from_columns(_columns(fx, _QLP_COLUMNS[1 if fx.sector < 56 else 56], t0),
                                          name="LIGHTCURVE")
    _set(table.header, _time_cards(fx, t0))
    return [primary, table]


def _tasoc(fx: Fixture):
    t0 = 1325.314321113595
    primary = fits.PrimaryHDU()
    _set(primary.header, [
        ("NEXTEND", 2, "number of standard extensions"),
        ("EXTNAME", "PRIMARY", "name of extension"),
        ("ORIGIN", "TASOC/Aarhus", "institution that made this file"),
        ("FILTER", "TESS", "filter"),
        *_tess_target_cards(fx, with_stars=False),
        ("PROCVER", "exoray-fixture-1.0", "SW version"),
    ])
    table = fits.BinTableHDU.from_columns(_columns(fx, _TASOC_COLUMNS, t0), name="LIGHTCURVE")
    _set(table.header, [("INHERIT", True, "inherit the primary header"), *_time_cards(fx, t0)])
    sumimage = fits.ImageHDU(np.ones((5, 5), np.float64), name="SUMIMAGE")
    return [primary, table, sumimage]


def _eleanor(fx: Fixture):
    """eleanor-lite: the target is in the primary header only (TIC_ID, TMAG = 999 for unknown)."""
    t0 = 1325.31384463669
    primary = fits.PrimaryHDU()
    _set(primary.header, [
        ("INHERIT", True, "inherit the primary header"),
        ("TELESCOP", "TESS", "telescope"),
        ("INSTRUME", "TESS Photometer", "detector type"),
        ("CAMERA", 4, "Camera number"),
        ("CCD", 2, "CCD chip number"),
        *_time_cards(fx, t0),
        ("FILTER", "TESS", "filter"),
        ("VERSION", "2.0.3", "eleanor version"),
        ("LITE", True, "eleanor-lite product"),
        ("TIC_ID", fx.target, "TIC ID"),
        ("TMAG", 999, "TESS magnitude (999 = unknown)"),
        ("SECTOR", fx.sector, "Observing sector"),
        ("RA_OBJ", _PI_MEN["ra"], "[deg] right ascension"),
        ("DEC_OBJ", _PI_MEN["dec"], "[deg] declination"),
        ("PCORIGIN", "Local_Postcard", "postcard origin"),
    ])
    table = fits.BinTableHDU.from_columns(_columns(fx, _ELEANOR_COLUMNS, t0))
    return [primary, table]


_BUILDERS = {
    "spoc_2min": _spoc_like, "spoc_fast": _spoc_like, "tess_spoc_ffi": _spoc_like, "kepler_lc": _spoc_like,
    "qlp": _qlp, "tasoc": _tasoc, "eleanor": _eleanor,
}


def _set(header: fits.Header, cards: Cards) -> None:
    for key, value, comment in cards:
        header[key] = (value, comment)


def build(fx: Fixture) -> bytes:
    """The bytes of one fixture file, signed."""
    hdus = _BUILDERS[fx.product](fx)
    for hdu in hdus:
        hdu.header["CHECKSUM"] = ("0000000000000000", "HDU checksum")
        hdu.header["DATASUM"] = ("0", "data unit checksum")
    buf = io.BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return update_checksums(buf.getvalue())


def main(out: Path = HERE) -> List[Path]:
    written = []
    for fx in FIXTURES:
        path = out / fx.name
        path.write_bytes(build(fx))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(f"{p.name}: {p.stat().st_size} bytes")
