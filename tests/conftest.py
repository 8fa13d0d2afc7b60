"""Shared fixtures: real-data paths, temporary copies, one local Ray instance.

Real TESS/Kepler files live in ``../shared/data/real`` beside the repository
(``EXORAY_SHARED_DATA`` overrides).  Tests that need them skip cleanly when the
folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_REAL = Path(os.environ.get("EXORAY_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))


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
def ray_local():
    """One local Ray instance for the whole test session (2 CPUs, loopback)."""
    from exoray.runtime.ray_env import init_ray

    import ray

    init_ray(num_cpus=2)
    yield ray
    ray.shutdown()

