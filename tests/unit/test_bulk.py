"""Bulk-script parsing and the raw FITS CHECKSUM verifier (no network)."""

from __future__ import annotations

import numpy as np
import pytest

from exoray.errors import CorruptProductError, InputError
from exoray.ingest._fits_checksum import (
    BLOCK,
    ChecksumError,
    check_fits,
    ones_complement_sum,
    ones_complement_sum_slow,
    verify_fits,
)
from exoray.ingest.bulk import (
    BulkScriptError,
    bulk_script_url,
    parse_bulk_script,
    parse_tess_filename,
    rewrite_base_url,
)

import fitsdamage as fd

N1 = "tess2018206045859-s0001-0000000008195886-0120-s_lc.fits"
N2 = "tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
URL = "https://mast.stsci.edu/api/v0.1/Download/file/?uri=mast:TESS/product/"
SCRIPT = (
    "#!/bin/sh\r\n"
    f"curl -C - -L -o {N1} {URL}{N1}\r\n"
    "\r\n"
    "# a comment\n"
    f"   curl -C - -L -o {N2} {URL}{N2}   \n"
)


# ---------------------------------------------------------------- bulk script


def test_bulk_script_url(monkeypatch):
    assert bulk_script_url(1) == (
        "https://archive.stsci.edu/missions/tess/download_scripts/sector/tesscurl_sector_1_lc.sh"
    )
    assert bulk_script_url(42, "http://127.0.0.1:8000/").endswith(":8000/missions/tess/"
                                                                  "download_scripts/sector/"
                                                                  "tesscurl_sector_42_lc.sh")
    monkeypatch.setenv("EXORAY_ARCHIVE_URL", "http://mirror.local")
    assert bulk_script_url("3").startswith("http://mirror.local/missions/")
    for bad in (0, -1, 1.5, "x", True):
        with pytest.raises(InputError):
            bulk_script_url(bad)


def test_parse_bulk_script_ignores_shebang_comments_blanks():
    entries = parse_bulk_script(SCRIPT)
    assert [e["filename"] for e in entries] == [N1, N2]
    assert entries[0] == {"url": URL + N1, "filename": N1, "tic_id": 8195886, "sector": 1, "line": 2}
    assert entries[1]["tic_id"] == 261136679 and entries[1]["line"] == 5


def test_parse_bulk_script_rewrites_host():
    (e, _) = parse_bulk_script(SCRIPT, base_url="http://127.0.0.1:8123")
    assert e["url"] == "http://127.0.0.1:8123/api/v0.1/Download/file/?uri=mast:TESS/product/" + N1
    (e, _) = parse_bulk_script(SCRIPT, base_url="https://mirror.example/mast/")
    assert e["url"].startswith("https://mirror.example/mast/api/v0.1/Download/file/?uri=mast:")


def test_rewrite_base_url_edge_cases():
    assert rewrite_base_url(URL + N1, None) == URL + N1
    with pytest.raises(InputError):
        rewrite_base_url(URL + N1, "127.0.0.1:80")


@pytest.mark.parametrize(
    "bad_line, why",
    [
        ("wget http://x/y.fits", "not of the form"),
        (f"curl -C - -L {URL}{N1}", "not of the form"),  # no -o
        (f"curl -o {N1}", "not of the form"),  # no URL
        (f"curl -o ../evil.fits {URL}{N1}", "not a plain file name"),
        (f"curl -o .hidden.fits {URL}{N1}", "not a plain file name"),
        (f"curl -o 'unterminated {URL}", "cannot tokenise"),
    ],
)
def test_malformed_line_named_by_number(bad_line, why):
    text = SCRIPT + bad_line + "\n"
    with pytest.raises(BulkScriptError, match=f"line 6: .*{why}") as info:
        parse_bulk_script(text)
    assert info.value.lines == [6]


def test_many_malformed_lines_all_counted():
    text = "#!/bin/sh\n" + "garbage\n" * 12
    with pytest.raises(BulkScriptError, match=r"12 malformed .* \(and 2 more\)") as info:
        parse_bulk_script(text)
    assert info.value.lines == list(range(2, 14))


def test_empty_script_and_unparsable_names():
    assert parse_bulk_script("#!/bin/sh\n\n") == []
    (e,) = parse_bulk_script(f"curl -o other.fits {URL}other.fits\n", sector=7)
    assert e["tic_id"] is None and e["sector"] == 7


def test_parse_tess_filename_variants():
    assert parse_tess_filename("tess2020186164531-s0027-0000000025155310-0189-a_fast-lc.fits") == {
        "tic_id": 25155310, "sector": 27,
    }
    assert parse_tess_filename("hlsp_qlp_tess_ffi_s0001-0000000261136679_tess_v01_llc.fits") == {
        "tic_id": 261136679, "sector": 1,
    }
    assert parse_tess_filename("kplr011442793-2009350155506_llc.fits") == {"tic_id": None, "sector": None}


# ---------------------------------------------------------------- checksum


@pytest.fixture(scope="module")
def real_fits():
    """Every shared real FITS file, or the committed fixtures where the shared data is absent."""
    from conftest import FITS_FIXTURES, SHARED_REAL

    files = sorted(SHARED_REAL.glob("*/*.fits")) or sorted(FITS_FIXTURES.glob("*.fits"))
    assert files
    return files


def test_fast_sum_matches_slow_reference():
    rng = np.random.default_rng(1)
    for n in (0, 1, 7, 720, 5000):
        data = rng.integers(0, 256, 4 * n, dtype=np.uint8).tobytes()
        assert ones_complement_sum(np.frombuffer(data, ">u4")) == ones_complement_sum_slow(data)
    worst = b"\xff" * 4 * 3000  # maximal carries
    assert ones_complement_sum(np.frombuffer(worst, ">u4")) == ones_complement_sum_slow(worst) == 0xFFFFFFFF


def test_all_real_fits_pass(real_fits):
    for path in real_fits:
        res = check_fits(path)
        assert res.ok, (path, res.reason)
        assert res.n_checksummed >= 2, path  # primary + light-curve HDU at least
        assert all(h.checksum_ok for h in res.hdus if h.has_checksum)
        assert sum(h.size for h in res.hdus) == path.stat().st_size


def test_real_header_block_slow_equals_fast(real_fits):
    data = real_fits[0].read_bytes()[: 2 * BLOCK]
    assert ones_complement_sum(np.frombuffer(data, ">u4")) == ones_complement_sum_slow(data)


@pytest.mark.parametrize("where", ["header", "data", "last"])
def test_one_flipped_byte_fails(real_fits, tmp_path, where):
    src = min(real_fits, key=lambda p: p.stat().st_size)
    data = bytearray(src.read_bytes())
    pos = {"header": 200, "data": len(data) // 2, "last": len(data) - 1}[where]
    data[pos] ^= 0x01
    bad = tmp_path / src.name
    bad.write_bytes(bytes(data))
    res = verify_fits(bad)
    assert not res.ok and res.error == "ChecksumError", res.reason
    with pytest.raises(ChecksumError, match="delete the file and download it again") as info:
        check_fits(bad)
    assert info.value.path == str(bad)
    assert verify_fits(bad, checksum=False).ok  # structure alone cannot see it


def test_structural_failures(real_fits, tmp_path):
    data = min(real_fits, key=lambda p: p.stat().st_size).read_bytes()
    cases = {
        "empty": b"",
        "not fits": b"hello" * 1000,
        "odd size": data[:-100],
        "missing block": data[:-BLOCK],
        "trailing": data + b"\0" * BLOCK,
        "headers only": data[: fd.hdu_spans(data)[1][1]],  # the table's rows are missing
    }
    for label, blob in cases.items():
        res = verify_fits(blob)
        assert not res.ok and res.error == "CorruptProductError", (label, res)
    assert "multiple of 2880" in verify_fits(data[:-100]).reason
    assert "SIMPLE" in verify_fits(b"hello" * 1000).reason
    assert "expected 5" in verify_fits(data, expected_size=5).reason
    p = tmp_path / "t.fits"
    p.write_bytes(data[:-BLOCK])
    with pytest.raises(CorruptProductError, match="truncated"):
        check_fits(p)
    with pytest.raises(FileNotFoundError):
        check_fits(tmp_path / "missing.fits")
