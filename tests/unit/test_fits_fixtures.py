"""The committed FITS fixtures in ``tests/data/fits`` are what ``make_fixtures.py`` writes, and valid."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits

from exoray.ingest._fits_checksum import check_fits

from conftest import FITS_FIXTURES
from make_fixtures import FIXTURES, build

IDS = [fx.name for fx in FIXTURES]


def test_every_fixture_is_listed():
    assert sorted(p.name for p in FITS_FIXTURES.glob("*.fits")) == sorted(IDS)
    assert {fx.product for fx in FIXTURES} >= {
        "spoc_2min", "spoc_fast", "tess_spoc_ffi", "qlp", "tasoc", "eleanor", "kepler_lc",
    }


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_script_reproduces_the_committed_file(fx):
    committed = (FITS_FIXTURES / fx.name).read_bytes()
    rebuilt = build(fx)
    if rebuilt == committed:
        return
    # a different astropy may format a card differently: then the content must still agree
    with fits.open(FITS_FIXTURES / fx.name, memmap=False) as old, fits.open(
        io.BytesIO(rebuilt), memmap=False
    ) as new:
        assert len(old) == len(new)
        for a, b in zip(old, new):
            skip = {"CHECKSUM", "DATASUM"}
            assert [(c.keyword, c.value) for c in a.header.cards if c.keyword not in skip] == [
                (c.keyword, c.value) for c in b.header.cards if c.keyword not in skip
            ]
            if isinstance(a, fits.BinTableHDU):
                for name in a.columns.names:
                    np.testing.assert_array_equal(a.data[name], b.data[name], err_msg=name)
            elif a.data is not None:
                np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("fx", FIXTURES, ids=IDS)
def test_fixture_checksums_are_valid(fx):
    path = FITS_FIXTURES / fx.name
    res = check_fits(path)
    assert res.ok and res.n_checksummed == len(res.hdus), res.reason
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy's own check agrees: it warns on a wrong sum
        with fits.open(path, memmap=False, checksum=True) as hdul:
            assert len(hdul) == len(res.hdus)
    assert path.stat().st_size < 40_000  # a few hundred cadences, not a sector
