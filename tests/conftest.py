"""Shared fixtures: real-data paths, temporary copies, one local Ray instance.

Real TESS/Kepler files live in ``../shared/data/real`` beside the repository
(``EXORAY_SHARED_DATA`` overrides).  Tests that need them skip cleanly when the
folder is absent.  Tests of the reader itself take :func:`lc_files` instead,
which falls back to the tiny committed files in ``tests/data/fits`` (one per
product, written by ``make_fixtures.py`` there), so they run on a fresh clone.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = Path(os.environ.get("EXORAY_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))
FITS_FIXTURES = REPO / "tests" / "data" / "fits"
sys.path.insert(0, str(FITS_FIXTURES))  # tests import its table of files: ``from make_fixtures import FIXTURES``

#: One real file per product the shared data has (pi Men and one Kepler quarter).
REAL_BY_PRODUCT = {
    "spoc_2min": "tess_spoc_2min/tess2018206045859-s0001-0000000261136679-0120-s_lc.fits",
    "tess_spoc_ffi": "tess_ffi_hlsp/hlsp_tess-spoc_tess_phot_0000000261136679-s0001_tess_v1_lc.fits",
    "tasoc": "tess_ffi_hlsp/hlsp_tasoc_tess_ffi_tic00261136679-s0001-cam4-ccd2-c1800_tess_v05_ens-lc.fits",
    "eleanor": "tess_ffi_hlsp/hlsp_gsfc-eleanor-lite_tess_ffi_s0001-0000000261136679_tess_v1.0_lc.fits",
    "kepler_lc": "kepler_llc/kplr011442793-2009350155506_llc.fits",
}


@pytest.fixture(scope="session")
def real_dir() -> Path:
    if not SHARED_REAL.is_dir():
        pytest.skip(f"real data folder {SHARED_REAL} not present")
    return SHARED_REAL


@pytest.fixture(scope="session")
def spoc_files(real_dir):
    files = sorted((real_dir / "tess_spoc_2min").glob("*_lc.fits"))
    if not files:
        pytest.skip("no SPOC files in shared data")
    return files


@pytest.fixture(scope="session")
def lc_files() -> Dict[str, Path]:
    """One light-curve file per product: the real ones when the shared data has them, else the fixtures.

    The keys of :data:`REAL_BY_PRODUCT` are always present; the fixtures add
    ``qlp`` and ``spoc_fast``, which the shared data lacks.
    """
    if all((SHARED_REAL / rel).is_file() for rel in REAL_BY_PRODUCT.values()):
        return {product: SHARED_REAL / rel for product, rel in REAL_BY_PRODUCT.items()}
    from make_fixtures import FIXTURES

    files: Dict[str, Path] = {}
    for fx in FIXTURES:
        files.setdefault(fx.product, FITS_FIXTURES / fx.name)
    return files


@pytest.fixture(scope="session")
def ray_local():
    """One local Ray instance for the whole test session (2 CPUs, loopback)."""
    from exoray.runtime.ray_env import init_ray

    import ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()

