"""Planning a sweep star by star: the TIC ID from the first header blocks, batches that never split a star,
and which search of a star stands."""

from __future__ import annotations

import gzip
import pickle
import shutil

import pytest

from exoray.config import SweepConfig
from exoray.pipelines.grouping import current_units, plan_star_batches, star_of
from exoray.pipelines.sweep import _decode_context, _encode_context, _ray_read_fn


@pytest.fixture(scope="module")
def two_sector_files(tmp_path_factory):
    from exoray.simulate import simulate_sector

    d = tmp_path_factory.mktemp("grouping")
    simulate_sector(1, d, seed=1, sectors=[1, 2], mix="planet=1")
    return sorted(str(p) for p in d.glob("*.fits"))


def test_star_of_reads_the_header_not_the_name(two_sector_files, tmp_path):
    a, b = two_sector_files
    renamed = tmp_path / "whatever.fits"
    shutil.copy(a, renamed)
    assert star_of(a) == star_of(b) == star_of(str(renamed)) == ("TESS", 9_000_000_000)
    gz = tmp_path / "x.fits.gz"
    with open(a, "rb") as fh:
        gz.write_bytes(gzip.compress(fh.read()))
    assert star_of(str(gz)) == ("TESS", 9_000_000_000)
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"not a FITS file at all" * 10)
    assert star_of(str(junk)) is None
    assert star_of(str(tmp_path / "missing.fits")) is None


def test_plan_keeps_stars_whole():
    stars = {"a1": ("TESS", 1), "b1": ("TESS", 2), "x": None, "a2": ("TESS", 1), "b2": ("TESS", 2),
             "c1": ("TESS", 3)}
    locs = ["a1", "b1", "x", "a2", "b2", "c1"]
    batches = plan_star_batches(locs, 3, stars, {("TESS", 3): ["c0"]})
    # units in order of their first file (a, b, x, c), each placed whole; the context counts towards the size
    assert batches == [(["a1", "a2"], []), (["b1", "b2", "x"], []), (["c1"], ["c0"])]
    # a star larger than a batch gets a batch of its own
    assert plan_star_batches(["a1", "a2", "x"], 1, stars) == [(["a1", "a2"], []), (["x"], [])]
    # every location exactly once
    for size in (1, 2, 4, 10):
        flat = [loc for b, _ in plan_star_batches(locs, size, stars) for loc in b]
        assert sorted(flat) == sorted(locs)


def test_later_search_over_more_files_supersedes():
    old = {"tic_id": 1, "mission": "TESS", "searched": ["a"], "passed_over": [], "batch": "k1", "searched_at": 1}
    new = {"tic_id": 1, "mission": "TESS", "searched": ["a", "b"], "passed_over": [], "batch": "k2",
           "searched_at": 2}
    other = {"tic_id": 2, "mission": "TESS", "searched": ["c"], "passed_over": [], "batch": "k1", "searched_at": 1}
    split = {"tic_id": 1, "mission": "TESS", "searched": ["z"], "passed_over": [], "batch": "k3", "searched_at": 3}
    current, gone = current_units([old, new, other, split])
    assert gone == [old]
    assert sorted((u["batch"], u["tic_id"]) for u in current) == [("k1", 2), ("k2", 1), ("k3", 1)]
    # the same files searched again: the later search stands
    again = dict(new, batch="k4", searched_at=5)
    current, gone = current_units([new, again])
    assert current == [again] and gone == [new]


def test_context_travels_through_the_ray_read_stage(two_sector_files):
    a, b = two_sector_files
    ctx = [(a, ("TESS", 9_000_000_000))]
    assert _decode_context(_encode_context(ctx)) == ctx
    loaded = pickle.loads(_ray_read_fn({"locations": [b], "context": _encode_context(ctx)},
                                       SweepConfig(search=None))["payload"])
    assert loaded.locations == [b] and [loc for loc, _ in loaded.items] == [b]
    (c,) = loaded.context
    assert c[0] == a and c[1] == ("TESS", 9_000_000_000) and c[2] is not None and c[3] is None
