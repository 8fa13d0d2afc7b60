"""The reader refuses damaged files with a message naming the file, the keyword or column, and the fix.

Each case damages one value of an intact SPOC-layout file, byte by byte,
and re-signs CHECKSUM/DATASUM so that the check under test (not the checksum)
is what refuses it.  The intact files are a simulated full sector written
here and a SPOC 2-min product: the real one from the shared data, or the
committed fixture (``tests/data/fits``) where that is absent.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from astropy.io import fits

from exoray.errors import CorruptProductError, EmptyLightCurveError, ProductError, SchemaMismatchError
from exoray.ingest import fits_reader, read_lightcurve, read_many
from exoray.ingest._fits_checksum import ChecksumError, verify_fits

import fitsdamage as fd

@pytest.fixture(scope="module")
def synthetic_raw(tmp_path_factory):
    """A simulated SPOC 2-min file, re-written with CHECKSUM/DATASUM cards like a MAST product."""
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("sim")
    simulate_sector(1, d, seed=11)
    path = next(d.glob("*.fits"))
    buf = io.BytesIO()
    with fits.open(path, memmap=False) as hdul:
        hdul.writeto(buf, checksum=True)
    raw = buf.getvalue()
    assert verify_fits(raw).n_checksummed == 3
    return raw


@pytest.fixture(params=["synthetic", "spoc_file"])
def intact(request, synthetic_raw):
    if request.param == "synthetic":
        return synthetic_raw
    return request.getfixturevalue("lc_files")["spoc_2min"].read_bytes()


def _refused(raw: bytes, exc_type, *fragments, name="damaged_lc.fits", **kw):
    with pytest.raises(exc_type) as err:
        read_lightcurve(raw, name=name, **kw)
    msg = str(err.value)
    assert isinstance(err.value, ProductError) and msg.startswith(name + ":"), msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


# (hdu, keyword, value, error class, message fragments)
HEADER_CASES = [
    (0, "SIMPLE", False, CorruptProductError, ["SIMPLE = 'F'", "download it again"]),
    (0, "SECTOR", "abc", CorruptProductError, ["SECTOR = 'abc' is not an integer", "download it again"]),
    (0, "SECTOR", 3e9, CorruptProductError, ["SECTOR = 3000000000.0", "0..9999"]),
    (0, "SECTOR", 1.5, CorruptProductError, ["SECTOR = 1.5 is not an integer"]),
    (0, "SECTOR", True, CorruptProductError, ["SECTOR = True is a logical"]),
    (0, "CAMERA", 70000, CorruptProductError, ["CAMERA = 70000", "1..4", "header is damaged"]),
    (0, "CCD", -1, CorruptProductError, ["CCD = -1"]),
    (0, "TICID", 2**64, CorruptProductError, ["TICID = 18446744073709551616"]),
    (0, "TICID", b"1" + b"0" * 60, CorruptProductError, ["TICID = 1000000000000"]),
    (0, "TEFF", "hot", CorruptProductError, ["TEFF = 'hot' is not a number"]),
    (0, "TEFF", 1e300, CorruptProductError, ["TEFF = 1e+300"]),
    (0, "RADIUS", -2.0, CorruptProductError, ["RADIUS = -2.0"]),
    (0, "DEC_OBJ", 91.0, CorruptProductError, ["DEC_OBJ = 91.0", "-90..90"]),
    (0, "TESSMAG", b"1E999", CorruptProductError, ["TESSMAG = inf is not a finite number"]),
    (1, "NAXIS2", -1, CorruptProductError, ["NAXIS2 = -1 is negative"]),
    (1, "NAXIS2", 10**9, CorruptProductError, ["declares", "truncated, or a size keyword is damaged"]),
    (1, "BITPIX", 7, CorruptProductError, ["BITPIX = 7"]),
    (1, "TFIELDS", 10**9, CorruptProductError, ["TFIELDS = 1000000000", "0..999"]),
    (1, "TFORM1", "8A", SchemaMismatchError, ["column 'TIME' has TFORM1 = '8A'"]),
    (1, "TIMEDEL", -1.0, CorruptProductError, ["TIMEDEL = -1.0"]),
    (1, "TIMEDEL", "fast", CorruptProductError, ["TIMEDEL = 'fast' is not a number"]),
]


@pytest.mark.parametrize("hdu,key,value,exc_type,fragments", HEADER_CASES,
                         ids=[f"{c[1]}={c[2]!r}"[:40] for c in HEADER_CASES])
def test_damaged_header_value(intact, hdu, key, value, exc_type, fragments):
    damaged = fd.set_card(intact, hdu, key, value)
    if damaged is None:
        pytest.skip(f"no {key} card in this file")
    _refused(damaged, exc_type, *fragments)


def test_removed_end_card_is_named_not_reported_as_an_image(intact):
    msg = _refused(fd.blank_card(intact, 0, "END"), CorruptProductError, "primary header has no END card")
    assert "IMAGE" not in msg
    _refused(fd.blank_card(intact, 1, "END"), CorruptProductError, "header of HDU 1", "no END card")


@pytest.mark.parametrize("kind", ["constant", "decreasing", "jump-1e9", "all-nan"])
def test_damaged_time_column(intact, kind):
    t = fd.column_values(intact, "TIME", ">f8")
    if kind == "constant":
        t[:] = 1400.0
        fragments = ["column TIME is constant", "row 1"]
    elif kind == "decreasing":
        good = np.flatnonzero(np.isfinite(t))
        t[good[100]] = t[good[99]] - 1.0
        fragments = ["not strictly increasing", f"row {good[100]}"]
    elif kind == "jump-1e9":
        t[t.size // 2:] += 1e9
        fragments = ["more than 1e+06 d"]
    else:
        t[:] = np.nan
        fragments = ["TIME has 0 finite values"]
    exc = EmptyLightCurveError if kind == "all-nan" else CorruptProductError
    _refused(fd.set_column(intact, "TIME", t, ">f8"), exc, *fragments)


def test_time_jump_of_1000_days_reads_and_is_left_to_the_search_budget(intact):
    t = fd.column_values(intact, "TIME", ">f8")
    t[t.size // 2:] += 1000.0
    lc = read_lightcurve(fd.set_column(intact, "TIME", t, ">f8"), name="shifted.fits")
    assert np.nanmax(lc.time) - np.nanmin(lc.time) > 1000


def test_altered_bytes_fail_the_checksum_unless_verification_is_off(intact):
    _, data_start, end = fd.hdu_spans(intact)[1]
    flux = next(o for o, _ in fd.column_bytes(intact, "PDCSAP_FLUX"))
    buf = bytearray(intact)
    # invert 200 bytes of flux values in the middle of the table (a spurious "transit")
    rows = list(fd.column_bytes(intact, "PDCSAP_FLUX"))
    rows = rows[len(rows) // 2 : len(rows) // 2 + 50]
    for off, width in rows:
        buf[off:off + width] = bytes(255 - b for b in buf[off:off + width])
    assert flux > data_start
    msg = _refused(bytes(buf), ChecksumError, "HDU 1 (LIGHTCURVE)", "SUM fails", "--no-verify")
    assert "download it again" in msg
    lc = read_lightcurve(bytes(buf), name="damaged_lc.fits", verify=False)
    assert lc.tic_id == read_lightcurve(intact).tic_id
    good, bad = read_many([("a.fits", bytes(buf))], verify=False)
    assert len(good) == 1 and not bad


def test_datasum_is_checked(intact):
    damaged = fd.set_card(intact, 1, "DATASUM", "'12345'", resign=False)
    if damaged is None:
        pytest.skip("no DATASUM card")
    _refused(damaged, ChecksumError, "DATASUM")


def test_gzip_compressed_file_reads_like_the_original(intact, tmp_path):
    path = tmp_path / "x_lc.fits.gz"
    path.write_bytes(fd.gzipped(intact))
    a, b = read_lightcurve(path), read_lightcurve(intact)
    assert (a.tic_id, a.sector, a.product) == (b.tic_id, b.sector, b.product)
    np.testing.assert_array_equal(a.flux, b.flux)
    assert a.source_path == str(path)
    packed = fd.gzipped(intact)
    _refused(packed[: len(packed) // 2], CorruptProductError, "gzip-compressed file cannot be decompressed")
    _refused(fd.gzipped(intact[:-2880]), CorruptProductError, "truncated")


def test_gzip_bomb_is_refused(intact, monkeypatch):
    monkeypatch.setattr(fits_reader, "MAX_GUNZIP_BYTES", len(intact) - 1)
    _refused(fd.gzipped(intact), CorruptProductError, "expands to more than")


def test_every_real_file_passes_the_new_checks(real_dir):
    """The stricter reader refuses none of the 55 unmodified products."""
    files = sorted(real_dir.glob("*/*.fits"))
    good, bad = read_many(files)
    assert not bad, bad[:3]
    assert len(good) == len(files)
