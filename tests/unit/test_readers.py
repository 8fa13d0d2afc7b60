"""Light-curve readers: every product reads; broken files raise typed errors.

Tests of real-file facts (row counts, pi Men's header values) take the shared
real data and skip without it.  The rest take ``lc_files`` (one file per
product): the real files when present, else the tiny committed fixtures in
``tests/data/fits``, which the first section also checks on their own.
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from astropy.io import fits

from exoray.errors import (
    CorruptProductError,
    EmptyLightCurveError,
    ProductError,
    SchemaMismatchError,
    UnsupportedProductError,
)
from exoray.ingest import detect_product, read_lightcurve, read_many
from exoray.ingest import fits_reader
from exoray.lightcurve import LightCurve

import fitsdamage as fd
from conftest import FITS_FIXTURES
from make_fixtures import FIXTURES, N_ROWS, NAN_EVERY, QUALITY_EVERY, QUALITY_FLAG

SPOC_PI_MEN = "tess_spoc_2min/tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
TASOC = "tess_ffi_hlsp/hlsp_tasoc_tess_ffi_tic00261136679-s0001-cam4-ccd2-c1800_tess_v05_ens-lc.fits"
ELEANOR = "tess_ffi_hlsp/hlsp_gsfc-eleanor-lite_tess_ffi_s0001-0000000261136679_tess_v1.0_lc.fits"
TESS_SPOC = "tess_ffi_hlsp/hlsp_tess-spoc_tess_phot_0000000261136679-s0001_tess_v1_lc.fits"
KEPLER = "kepler_llc/kplr011442793-2009350155506_llc.fits"

# Facts from the shared data's MANIFEST.md:
# (file, TIC/KIC, sector/quarter, rows, product, flux column, finite-flux fraction)
_S = "tess_spoc_2min/tess"
MANIFEST = [
    (f"{_S}2018206045859-s0001-0000000261136679-0120-s_lc.fits", 261136679, 1, 20076, "spoc_2min", "PDCSAP_FLUX", 0.910),
    (f"{_S}2018206045859-s0001-0000000410214986-0120-s_lc.fits", 410214986, 1, 20076, "spoc_2min", "PDCSAP_FLUX", 0.902),
    (f"{_S}2018234235059-s0002-0000000402026209-0121-s_lc.fits", 402026209, 2, 19737, "spoc_2min", "PDCSAP_FLUX", 0.928),
    (f"{_S}2018263035959-s0003-0000000120916706-0123-s_lc.fits", 120916706, 3, 19692, "spoc_2min", "PDCSAP_FLUX", 0.683),
    (f"{_S}2018292075959-s0004-0000000257605131-0124-s_lc.fits", 257605131, 4, 18684, "spoc_2min", "PDCSAP_FLUX", 0.845),
    (f"{_S}2018319095959-s0005-0000000055525572-0125-s_lc.fits", 55525572, 5, 18944, "spoc_2min", "PDCSAP_FLUX", 0.944),
    (f"{_S}2019006130736-s0007-0000000218795833-0131-s_lc.fits", 218795833, 7, 17612, "spoc_2min", "PDCSAP_FLUX", 0.929),
    (f"{_S}2019032160000-s0008-0000000413248763-0136-s_lc.fits", 413248763, 8, 17755, "spoc_2min", "PDCSAP_FLUX", 0.756),
    (f"{_S}2019112060037-s0011-0000000166527623-0143-s_lc.fits", 166527623, 11, 19527, "spoc_2min", "PDCSAP_FLUX", 0.711),
    (f"{_S}2019112060037-s0011-0000000460205581-0143-s_lc.fits", 460205581, 11, 19527, "spoc_2min", "PDCSAP_FLUX", 0.911),
    (f"{_S}2019253231442-s0016-0000000159873822-0152-s_lc.fits", 159873822, 16, 17765, "spoc_2min", "PDCSAP_FLUX", 0.840),
    (f"{_S}2019279210107-s0017-0000000432549364-0161-s_lc.fits", 432549364, 17, 18012, "spoc_2min", "PDCSAP_FLUX", 0.716),
    (f"{_S}2019357164649-s0020-0000000130181866-0165-s_lc.fits", 130181866, 20, 18954, "spoc_2min", "PDCSAP_FLUX", 0.874),
    (f"{_S}2020020091053-s0021-0000000067646988-0167-s_lc.fits", 67646988, 21, 19694, "spoc_2min", "PDCSAP_FLUX", 0.880),
    (f"{_S}2020106103520-s0024-0000000008348911-0180-s_lc.fits", 8348911, 24, 19074, "spoc_2min", "PDCSAP_FLUX", 0.799),
    (f"{_S}2022112184951-s0051-0000000008348911-0223-s_lc.fits", 8348911, 51, 17707, "spoc_2min", "PDCSAP_FLUX", 0.417),
    (f"{_S}2018292075959-s0004-0000000098853987-0124-s_lc.fits", 98853987, 4, 18684, "spoc_2min", "PDCSAP_FLUX", 0.794),
    (f"{_S}2019085135100-s0010-0000000093000166-0140-s_lc.fits", 93000166, 10, 18900, "spoc_2min", "PDCSAP_FLUX", 0.861),
    (f"{_S}2019112060037-s0011-0000000127315102-0143-s_lc.fits", 127315102, 11, 19527, "spoc_2min", "PDCSAP_FLUX", 0.711),
    (f"{_S}2019357164649-s0020-0000000011491822-0165-s_lc.fits", 11491822, 20, 18954, "spoc_2min", "PDCSAP_FLUX", 0.930),
    (f"{_S}2020106103520-s0024-0000000199574208-0180-s_lc.fits", 199574208, 24, 19074, "spoc_2min", "PDCSAP_FLUX", 0.844),
    (f"{_S}2018206045859-s0001-0000000270501383-0120-s_lc.fits", 270501383, 1, 20076, "spoc_2min", "PDCSAP_FLUX", 0.906),
    (f"{_S}2018206045859-s0001-0000000425933644-0120-s_lc.fits", 425933644, 1, 20076, "spoc_2min", "PDCSAP_FLUX", 0.910),
    (ELEANOR, 261136679, 1, 1282, "eleanor", "CORR_FLUX", 1.000),
    (TASOC, 261136679, 1, 1282, "tasoc", "FLUX_CORR", 0.988),
    (TESS_SPOC, 261136679, 1, 1337, "tess_spoc_ffi", "PDCSAP_FLUX", 0.886),
    ("tess_ffi_hlsp/hlsp_tess-spoc_tess_phot_0000000103098373-s0025_tess_v1_lc.fits", 103098373, 25, 1231, "tess_spoc_ffi", "PDCSAP_FLUX", 0.940),
    (KEPLER, 11442793, 3, 4370, "kepler_lc", "PDCSAP_FLUX", 0.946),
    ("kepler_llc/kplr011442793-2010009091648_llc.fits", 11442793, 4, 1021, "kepler_lc", "PDCSAP_FLUX", 0.987),
    ("kepler_llc/kplr011442793-2010174085026_llc.fits", 11442793, 5, 4634, "kepler_lc", "PDCSAP_FLUX", 0.968),
]


# ---------------------------------------------------------------------------
# committed fixtures (tests/data/fits)


@pytest.mark.parametrize("fx", FIXTURES, ids=[fx.name for fx in FIXTURES])
def test_fixture_file_reads(fx):
    path = FITS_FIXTURES / fx.name
    lc = read_lightcurve(path)
    assert (lc.product, lc.tic_id, lc.sector, len(lc), lc.flux_column) == (
        fx.product, fx.target, fx.sector, N_ROWS, fx.flux_column,
    )
    assert lc.meta["flux_err_column"] == fx.err_column and lc.meta["quality_column"] == fx.quality_column
    assert lc.cadence_s == pytest.approx(fx.cadence_s)
    assert lc.mission == ("Kepler" if fx.product == "kepler_lc" else "TESS")
    for arr in (lc.time, lc.flux, lc.flux_err):
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and arr.shape == (N_ROWS,)
    assert lc.quality.dtype == np.int32
    assert np.all(np.diff(lc.time) > 0)
    assert np.isnan(lc.flux[::NAN_EVERY]).all()
    assert np.isfinite(lc.flux).sum() == N_ROWS - len(range(0, N_ROWS, NAN_EVERY))
    assert (lc.quality[5::QUALITY_EVERY] == QUALITY_FLAG).all()
    assert np.count_nonzero(lc.quality) == len(range(5, N_ROWS, QUALITY_EVERY))
    assert (lc.centroid_col is not None) == fx.centroid
    assert lc.ra is not None and lc.dec is not None
    if fx.product == "eleanor":
        assert lc.tmag is None  # eleanor writes TMAG = 999 when unknown
    elif fx.product != "kepler_lc":
        assert lc.tmag == pytest.approx(5.1054) and (lc.camera, lc.ccd) == (4, 2)


@pytest.mark.parametrize("fx", FIXTURES, ids=[fx.name for fx in FIXTURES])
def test_fixture_fast_headers_equal_astropy_headers(fx, monkeypatch):
    path = FITS_FIXTURES / fx.name
    fast = read_lightcurve(path)
    monkeypatch.setattr(fits_reader, "_fast_headers", lambda raw: None)
    slow = read_lightcurve(path)
    row_fast, row_slow = fast.to_row(), slow.to_row()
    for key, value in row_slow.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(row_fast[key], value, err_msg=key)
        else:
            assert row_fast[key] == value, key
    assert fast.meta == slow.meta


# ---------------------------------------------------------------------------
# real files


def test_manifest_table_covers_every_real_file(real_dir):
    on_disk = {
        str(p.relative_to(real_dir))
        for sub in ("tess_spoc_2min", "tess_ffi_hlsp", "kepler_llc")
        for p in (real_dir / sub).glob("*.fits")
    }
    assert on_disk == {row[0] for row in MANIFEST}
    assert len(on_disk) == 30


@pytest.mark.parametrize(
    "rel,tic,sector,rows,product,flux_col,finite", MANIFEST, ids=[os.path.basename(r[0])[:48] for r in MANIFEST]
)
def test_real_file_reads(real_dir, rel, tic, sector, rows, product, flux_col, finite):
    path = real_dir / rel
    lc = read_lightcurve(path)
    assert isinstance(lc, LightCurve)
    assert (lc.tic_id, lc.sector, len(lc), lc.product, lc.flux_column) == (
        tic, sector, rows, product, flux_col,
    )
    assert lc.source_path == str(path)
    assert lc.mission == ("Kepler" if product == "kepler_lc" else "TESS")
    assert np.isfinite(lc.flux).mean() == pytest.approx(finite, abs=0.002)
    for arr in (lc.time, lc.flux, lc.flux_err):
        assert arr.dtype == np.float64 and arr.flags.c_contiguous and arr.shape == (rows,)
    assert lc.quality.dtype == np.int32 and lc.quality.shape == (rows,)
    t = lc.time[np.isfinite(lc.time)]
    assert np.all(np.diff(t) > 0)
    assert lc.ra is not None and lc.dec is not None
    if product == "kepler_lc":
        assert lc.cadence_s == pytest.approx(1765.46, abs=0.01)
        assert lc.camera is None and lc.meta["kepmag"] == pytest.approx(13.804)
        assert 120 < t[0] < 1600  # BKJD
        assert lc.meta["quality_column"] == "SAP_QUALITY"
    else:
        assert lc.cadence_s == (120.0 if product == "spoc_2min" else 1800.0)
        assert lc.camera in (1, 2, 3, 4) and lc.ccd in (1, 2, 3, 4)
        assert 1300 < t[0] < 3500  # BTJD
    if product in ("spoc_2min", "tess_spoc_ffi", "kepler_lc", "tasoc"):
        assert lc.centroid_col is not None and lc.centroid_col.shape == (rows,)
        assert lc.centroid_row is not None
    if product != "eleanor":
        assert lc.teff is not None and lc.teff > 2500


def test_spoc_header_values(real_dir):
    lc = read_lightcurve(real_dir / SPOC_PI_MEN)
    assert lc.label == "TIC 261136679 s1"
    assert (lc.camera, lc.ccd) == (4, 2)
    assert lc.tmag == pytest.approx(5.1054, abs=1e-4)
    assert lc.teff == pytest.approx(5992.1, abs=0.01)
    assert lc.logg == pytest.approx(4.3589, abs=1e-4)
    assert lc.radius == pytest.approx(1.14889, abs=1e-5)
    assert lc.mh == pytest.approx(0.0887839)
    assert lc.mass is None  # SPOC has no MASS keyword
    assert lc.ra == pytest.approx(84.29119, abs=1e-4)
    assert lc.dec == pytest.approx(-80.46912, abs=1e-4)
    assert lc.meta["flux_err_column"] == "PDCSAP_FLUX_ERR"
    assert lc.meta["bjdrefi"] == 2457000


def test_eleanor_sentinel_tmag_and_error_column(real_dir):
    lc = read_lightcurve(real_dir / ELEANOR)
    assert lc.tmag is None  # eleanor writes TMAG = 999 when unknown
    assert lc.meta["flux_err_column"] == "FLUX_ERR"
    assert np.isfinite(lc.flux_err).any()


@pytest.mark.parametrize("product", ["spoc_2min", "eleanor", "kepler_lc"])
def test_fast_columns_equal_astropy(lc_files, product):
    path = lc_files[product]
    lc = read_lightcurve(path)
    with fits.open(path, memmap=False) as hdul:
        data = hdul[1].data
        np.testing.assert_array_equal(lc.time, data["TIME"])
        np.testing.assert_array_equal(lc.flux, data[lc.flux_column].astype(np.float64))
        np.testing.assert_array_equal(lc.flux_err, data[lc.meta["flux_err_column"]].astype(np.float64))
        np.testing.assert_array_equal(lc.quality, data[lc.meta["quality_column"]])
        if lc.centroid_col is not None:
            np.testing.assert_array_equal(lc.centroid_col, data["MOM_CENTR1"].astype(np.float64))
            np.testing.assert_array_equal(lc.centroid_row, data["MOM_CENTR2"].astype(np.float64))


def test_astropy_fallback_path_gives_same_columns(lc_files, monkeypatch):
    path = lc_files["tasoc"]
    fast = read_lightcurve(path)
    monkeypatch.setattr(fits_reader._Table, "_structured", lambda self, offset: None)
    slow = read_lightcurve(path)
    for name in ("time", "flux", "flux_err", "quality", "centroid_col"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))


def test_fast_headers_equal_astropy_headers(real_dir, monkeypatch):
    """The card-level header path must agree with astropy's on every real file."""
    fast = [read_lightcurve(real_dir / row[0]) for row in MANIFEST]
    monkeypatch.setattr(fits_reader, "_fast_headers", lambda raw: None)
    for lc_fast, row in zip(fast, MANIFEST):
        lc_slow = read_lightcurve(real_dir / row[0])
        row_fast, row_slow = lc_fast.to_row(), lc_slow.to_row()
        for key, value in row_slow.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(row_fast[key], value, err_msg=key)
            else:
                assert row_fast[key] == value, (row[0], key)
        assert lc_fast.meta == lc_slow.meta, row[0]


def test_detection_ignores_file_name(lc_files, tmp_path):
    misleading = {
        "tasoc": "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits",
        "spoc_2min": "hlsp_tasoc_tess_ffi_tic00261136679-s0001-cam4-ccd2-c1800_tess_v05_ens-lc.fits",
        "eleanor": "kplr011442793-2009350155506_llc.fits",
        "kepler_lc": "hlsp_qlp_tess_ffi_s0001-0000000261136679_tess_v01_llc.fits",
        "tess_spoc_ffi": "data.bin",
    }
    for expected, fake in misleading.items():
        dst = tmp_path / fake
        shutil.copyfile(lc_files[expected], dst)
        assert read_lightcurve(dst).product == expected
        with fits.open(dst, memmap=False) as hdul:
            assert detect_product(hdul) == expected


# ---------------------------------------------------------------------------
# QLP (no real QLP file in the shared data; the fixtures are laid out as MIT/QLP writes them)


@pytest.mark.parametrize("name,sector,flux_col,err_col", [
    ("qlp_s0001_llc.fits", 1, "KSPSAP_FLUX", "KSPSAP_FLUX_ERR"),
    ("qlp_s0056_llc.fits", 56, "DET_FLUX", "DET_FLUX_ERR"),  # renamed from sector 56 on
])
def test_qlp_reads(tmp_path, name, sector, flux_col, err_col):
    path = tmp_path / "anything.fits"
    shutil.copyfile(FITS_FIXTURES / name, path)
    lc = read_lightcurve(path)
    assert (lc.product, lc.tic_id, lc.sector, lc.camera, lc.ccd) == ("qlp", 261136679, sector, 4, 2)
    assert lc.flux_column == flux_col and lc.meta["flux_err_column"] == err_col
    assert lc.tmag == pytest.approx(5.1054) and lc.radius == pytest.approx(1.14889)
    assert lc.centroid_col is None
    forced = read_lightcurve(path, flux_column="sap_flux")
    assert forced.flux_column == "SAP_FLUX"
    with fits.open(path, memmap=False) as hdul:
        np.testing.assert_array_equal(forced.flux, hdul[1].data["SAP_FLUX"].astype(np.float64))
    assert forced.meta["flux_err_column"] == err_col  # QLP has no SAP_FLUX_ERR


# ---------------------------------------------------------------------------
# sources and flux columns


def test_bytes_and_file_object_sources(lc_files):
    path = lc_files["tess_spoc_ffi"]
    raw = path.read_bytes()
    ref = read_lightcurve(path)
    from_bytes = read_lightcurve(raw, name="upload.fits")
    assert from_bytes.source_path == "upload.fits"
    assert read_lightcurve(bytearray(raw)).source_path == "<bytes>"
    from_buffer = read_lightcurve(io.BytesIO(raw))
    with open(path, "rb") as fh:
        from_handle = read_lightcurve(fh)
    assert from_handle.source_path == str(path)
    for lc in (from_bytes, from_buffer, from_handle):
        assert (lc.tic_id, lc.sector, lc.product) == (ref.tic_id, ref.sector, ref.product)
        np.testing.assert_array_equal(lc.flux, ref.flux)
    with pytest.raises(TypeError):
        read_lightcurve(12345)


def test_forced_flux_column(lc_files):
    path = lc_files["spoc_2min"]
    lc = read_lightcurve(path, flux_column="SAP_FLUX")
    assert lc.flux_column == "SAP_FLUX" and lc.meta["flux_err_column"] == "SAP_FLUX_ERR"
    assert np.isfinite(lc.flux).mean() > 0.9
    with pytest.raises(SchemaMismatchError) as err:
        read_lightcurve(path, flux_column="KSPSAP_FLUX")
    msg = str(err.value)
    assert "KSPSAP_FLUX" in msg and "PDCSAP_FLUX" in msg and "SAP_BKG" in msg  # lists columns
    assert path.name in msg


# ---------------------------------------------------------------------------
# broken files


@pytest.fixture
def spoc_raw(lc_files):
    return lc_files["spoc_2min"].read_bytes()


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _raises(path, exc_type, *fragments):
    with pytest.raises(exc_type) as err:
        read_lightcurve(path)
    assert isinstance(err.value, ProductError)
    assert err.value.path == str(path)
    assert path.name in str(err.value)
    for frag in fragments:
        assert frag in str(err.value)
    return err.value


def _cut(raw: bytes, where: str) -> int:
    """A truncation length inside one part of a PRIMARY + LIGHTCURVE + APERTURE file."""
    (_, _, _), (table, table_data, table_end), _ = fd.hdu_spans(raw)
    return {
        "primary_header": 100,
        "table_header": table + 101,
        "table_header_block": table + fd.BLOCK,
        "table_data": (table_data + table_end) // 2 + 1,
        "table_data_block": table_data + fd.BLOCK,
        "aperture": len(raw) - fd.BLOCK - 17,
    }[where]


@pytest.mark.parametrize(
    "where",
    ["primary_header", "table_header", "table_header_block", "table_data", "table_data_block", "aperture"],
)
def test_truncated_copy_is_corrupt(spoc_raw, tmp_path, where):
    length = _cut(spoc_raw, where)
    path = _write(tmp_path, f"trunc_{length}_lc.fits", spoc_raw[:length])
    err = _raises(path, CorruptProductError, "download it again")
    assert err.__cause__ is not None or "truncated" in str(err) or "multiple" in str(err)


def test_truncated_header_names_the_hdu(spoc_raw, tmp_path):
    path = _write(tmp_path, "hdr_lc.fits", spoc_raw[: _cut(spoc_raw, "table_header_block")])
    _raises(path, CorruptProductError, "header of HDU 1", "truncated", "download it again")


def test_empty_file(tmp_path):
    _raises(_write(tmp_path, "empty_lc.fits", b""), EmptyLightCurveError, "empty")


@pytest.mark.parametrize("size", [5000, 2880 * 4])
def test_garbage_bytes(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    _raises(_write(tmp_path, f"garbage_{size}.fits", data), CorruptProductError, "download it again")


def test_text_file_renamed(tmp_path):
    text = ("<html><body>502 Bad Gateway</body></html>\n" * 200).encode()
    _raises(_write(tmp_path, "html_lc.fits", text), CorruptProductError)
    aligned = (text * 3)[: 2880 * 2]
    _raises(_write(tmp_path, "html2_lc.fits", aligned), CorruptProductError, "download it again")


def test_fits_image_without_table(tmp_path):
    path = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((10, 10), np.float32)).writeto(path)
    _raises(path, UnsupportedProductError, "not a light curve")
    path2 = tmp_path / "image2.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.ones((4, 4)))]).writeto(path2)
    _raises(path2, UnsupportedProductError, "binary table")


def test_unknown_table_product(tmp_path):
    path = tmp_path / "other.fits"
    cols = [fits.Column(name="X", format="E", array=np.ones(3))]
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols)]).writeto(path)
    _raises(path, UnsupportedProductError, "spoc_2min")


def _modified_copy(src, dst, *, drop=None, nan_flux=False, rows=None):
    with fits.open(src, memmap=False) as hdul:
        primary = fits.PrimaryHDU(header=hdul[0].header)
        table = hdul[1]
        cols = [c for c in table.columns if c.name != drop]
        data = table.data if rows is None else table.data[:rows]
        new = fits.BinTableHDU.from_columns(
            fits.ColDefs([fits.Column(name=c.name, format=c.format, array=data[c.name]) for c in cols]),
            header=table.header,
            nrows=len(data),
        )
        if nan_flux:
            new.data["PDCSAP_FLUX"][:] = np.nan
        # checksum=True: the copied headers carry the original CHECKSUM cards,
        # which the reader would (rightly) find wrong for the modified bytes
        fits.HDUList([primary, new]).writeto(dst, checksum=True)
    return dst


def test_flux_column_dropped(lc_files, tmp_path):
    path = _modified_copy(lc_files["tess_spoc_ffi"], tmp_path / "noflux_lc.fits", drop="PDCSAP_FLUX")
    err = _raises(path, SchemaMismatchError, "PDCSAP_FLUX", "SAP_FLUX_ERR")
    assert "available columns" in str(err)


def test_time_column_dropped(lc_files, tmp_path):
    path = _modified_copy(lc_files["tess_spoc_ffi"], tmp_path / "notime_lc.fits", drop="TIME")
    _raises(path, SchemaMismatchError, "TIME")


def test_all_nan_flux(lc_files, tmp_path):
    path = _modified_copy(lc_files["tess_spoc_ffi"], tmp_path / "allnan_lc.fits", nan_flux=True)
    _raises(path, EmptyLightCurveError, "PDCSAP_FLUX")
    rows = len(read_lightcurve(lc_files["tess_spoc_ffi"]))
    assert len(read_lightcurve(path, flux_column="SAP_FLUX")) == rows  # other columns fine


def test_zero_row_table(lc_files, tmp_path):
    path = _modified_copy(lc_files["tess_spoc_ffi"], tmp_path / "zerorows_lc.fits", rows=0)
    _raises(path, EmptyLightCurveError, "no rows")


def test_missing_path_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_lightcurve(tmp_path / "nope.fits")


def test_errors_pickle(spoc_raw, tmp_path):
    import pickle

    path = _write(tmp_path, "t_lc.fits", spoc_raw[:4000])
    with pytest.raises(CorruptProductError) as err:
        read_lightcurve(path)
    back = pickle.loads(pickle.dumps(err.value))
    assert type(back) is CorruptProductError and str(back) == str(err.value)


# ---------------------------------------------------------------------------
# batch reader


def test_read_many_quarantines_bad_files(lc_files, tmp_path, spoc_raw, caplog):
    truncated = _write(tmp_path, "trunc_lc.fits", spoc_raw[: _cut(spoc_raw, "table_data")])
    empty = _write(tmp_path, "empty_lc.fits", b"")
    image = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros((2, 2))).writeto(image)
    sources = [
        lc_files["tasoc"],
        truncated,
        ("upload.fits", lc_files["eleanor"].read_bytes()),
        empty,
        tmp_path / "missing.fits",
        ("junk.fits", b"not fits at all"),
        str(image),
        lc_files["kepler_lc"],
    ]
    with caplog.at_level("WARNING", logger="exoray.ingest.fits_reader"):
        good, bad = read_many(sources)
    assert [lc.product for lc in good] == ["tasoc", "eleanor", "kepler_lc"]
    assert good[1].source_path == "upload.fits"
    assert [(b["path"], b["error"]) for b in bad] == [
        (str(truncated), "CorruptProductError"),
        (str(empty), "EmptyLightCurveError"),
        (str(tmp_path / "missing.fits"), "FileNotFoundError"),
        ("junk.fits", "CorruptProductError"),
        (str(image), "UnsupportedProductError"),
    ]
    for b in bad:
        assert set(b) == {"path", "stage", "error", "message"} and b["stage"] == "read"
        assert os.path.basename(b["path"]) in b["message"]
    assert sum("skipping" in r.message for r in caplog.records) == 5


def test_read_many_passes_flux_column(lc_files):
    good, bad = read_many([lc_files["spoc_2min"], lc_files["tasoc"]], flux_column="SAP_FLUX")
    assert [lc.flux_column for lc in good] == ["SAP_FLUX"]
    assert [b["error"] for b in bad] == ["SchemaMismatchError"]


def test_detect_product_unsupported_names_file(tmp_path):
    path = tmp_path / "img.fits"
    fits.PrimaryHDU(np.zeros(3)).writeto(path)
    with fits.open(path, memmap=False) as hdul:
        with pytest.raises(UnsupportedProductError, match="img.fits"):
            detect_product(hdul)


@pytest.mark.parametrize(
    "card,value",
    [
        (b"'TIC 261136679'      / string version of TICID", "TIC 261136679"),
        (b"'O''Brien '", "O'Brien"),
        (b"                   T / flag", True),
        (b"                   F", False),
        (b"              2457000 / int", 2457000),
        (b"   0.0208333333333333 / [d] float", 0.0208333333333333),
        (b"              1.5D-03", 1.5e-3),
        (b"                      / [dex] blank", None),
    ],
)
def test_card_value_parser(card, value):
    assert fits_reader._card_value(card.ljust(70)) == value
