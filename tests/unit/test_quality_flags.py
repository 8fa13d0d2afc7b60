"""Quality-flag presets match lightkurve and mask the right cadences."""

from __future__ import annotations

import numpy as np
import pytest

from exoray.errors import ConfigError
from exoray.ingest import good_cadences, quality_bitmask
from exoray.ingest.quality_flags import (
    KEPLER_FLAGS,
    PRESETS,
    TESS_FLAGS,
    decode_flags,
)


@pytest.fixture(scope="module")
def lk_flags():
    utils = pytest.importorskip("lightkurve.utils")
    return utils.TessQualityFlags, utils.KeplerQualityFlags


def test_tess_presets_equal_lightkurve(lk_flags):
    tess, _ = lk_flags
    assert quality_bitmask("none") == 0
    assert quality_bitmask("default") == tess.DEFAULT_BITMASK == 17087
    assert quality_bitmask("hard") == tess.HARD_BITMASK == 24319
    assert quality_bitmask("hardest") == tess.HARDEST_BITMASK == 65535


def test_kepler_presets_equal_lightkurve(lk_flags):
    _, kepler = lk_flags
    assert quality_bitmask("none", mission="Kepler") == 0
    assert quality_bitmask("default", mission="Kepler") == kepler.DEFAULT_BITMASK
    assert quality_bitmask("hard", mission="kepler") == kepler.HARD_BITMASK
    assert quality_bitmask("hardest", mission="KEPLER") == kepler.HARDEST_BITMASK


def test_bit_names_equal_lightkurve(lk_flags):
    tess, kepler = lk_flags
    for name, value in TESS_FLAGS.items():
        assert getattr(tess, name) == value
    for name, value in KEPLER_FLAGS.items():
        assert getattr(kepler, name) == value
    assert set(tess.STRINGS) == set(TESS_FLAGS.values())
    assert set(kepler.STRINGS) == set(KEPLER_FLAGS.values())


def test_good_cadences_keeps_unflagged_and_unselected_bits():
    q = np.array([0, 1, 32, 64, 2048, 4096, 8192, 1 << 20], dtype=np.int32)
    assert good_cadences(q, "none").all()
    assert good_cadences(q, "default").tolist() == [True, False, False, True, True, True, True, True]
    assert good_cadences(q, "hard").tolist() == [True, False, False, False, False, False, True, True]
    # hardest covers the lower 16 bits only, like lightkurve
    assert good_cadences(q, "hardest").tolist() == [True] + [False] * 6 + [True]
    assert good_cadences(q, 64).tolist() == [True, True, True, False, True, True, True, True]


def test_good_cadences_shape_and_dtype():
    q = np.zeros((3, 4), dtype=np.int16)
    out = good_cadences(q)
    assert out.dtype == bool and out.shape == (3, 4) and out.all()
    assert good_cadences(np.array([], dtype=np.int32)).shape == (0,)
    # float quality (e.g. read back from Parquet with nulls filled) still works
    assert good_cadences(np.array([0.0, 32.0])).tolist() == [True, False]


def test_good_cadences_matches_lightkurve_on_real_quality(lk_flags, lc_files):
    from exoray.ingest import read_lightcurve

    tess, _ = lk_flags
    q = read_lightcurve(lc_files["spoc_2min"]).quality
    for preset in ("none", "default", "hard", "hardest"):
        expected = tess.create_quality_mask(q, bitmask=preset)
        np.testing.assert_array_equal(good_cadences(q, preset), expected)


@pytest.mark.parametrize("bad", ["strict", "DEFAULT", "", None])
def test_unknown_preset_lists_allowed(bad):
    with pytest.raises(ConfigError) as err:
        quality_bitmask(bad)
    for allowed in ("none", "default", "hard", "hardest"):
        assert repr(allowed) in str(err.value)


def test_unknown_mission_and_negative_mask():
    with pytest.raises(ConfigError, match="TESS"):
        quality_bitmask("default", mission="Hubble")
    with pytest.raises(ConfigError):
        quality_bitmask(-1)
    with pytest.raises(ConfigError):
        good_cadences(np.zeros(3, int), "softest")


def test_decode_flags():
    assert decode_flags(0) == []
    assert decode_flags(1 + 32 + 128) == ["AttitudeTweak", "Desat", "ManualExclude"]
    assert decode_flags(1 << 17) == ["Bit17"]
    assert decode_flags(16, mission="Kepler") == ["ZeroCrossing"]
    assert decode_flags(512, mission="Kepler") == ["Bit9"]  # unused Kepler bit
    assert decode_flags(np.int32(4096)) == ["Straylight2"]


def test_preset_names_match_config():
    from exoray.config import QUALITY_PRESETS

    for table in PRESETS.values():
        assert tuple(table) == tuple(QUALITY_PRESETS)


def test_presets_nested():
    for mission, table in PRESETS.items():
        assert table["none"] == 0
        assert table["default"] & ~table["hard"] == 0, mission
        assert table["hard"] & ~table["hardest"] == 0, mission
