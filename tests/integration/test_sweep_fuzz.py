"""Fault injection: a sweep over damaged copies of light curves finishes and accounts for every input.

The damaged files are built here, byte by byte, from two intact SPOC-layout
files: one simulated (so the test runs on a fresh clone) and one real SPOC
product from the shared data (skipped when absent).  Kinds: a random value
in every header keyword the reader uses (re-signed, so the value check and
not the checksum refuses it), random truncations, altered bytes (checksum),
broken structure (END removed, SIMPLE = F, trailing garbage), damaged TIME
and flux columns (constant, a +1000 d or +1e9 d jump, NaN, 1e300), and gzip
variants.  Intact copies ride along (a second copy and a .fits.gz of one
star and sector, whose reports must not collide).

The sweep must finish, account for each input exactly once (preprocessed or
quarantined, never both, never neither), name the file in every quarantine
message, and leave the intact files' candidates exactly as a sweep of the
intact files alone finds them.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

import fitsdamage as fd
from exoray.config import SearchConfig, SweepConfig
from exoray.pipelines.sweep import INPUT_STAGES, LIGHTCURVES_DIR, sweep

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

SPOC_PI_MEN = "tess_spoc_2min/tess2018206045859-s0001-0000000261136679-0120-s_lc.fits"
# Every file here is a copy of one of three stars in one sector: grouped by
# star, the copies would be one unit of work with one product searched.
# These tests are about what each *file* does to a sweep, so each is its
# own unit (group_sectors=False); grouping is tested in test_sweep_multisector.
SEARCH = SearchConfig(max_planets=2)

#: Header keywords the reader uses, by HDU.
READER_CARDS = {
    0: ["SIMPLE", "BITPIX", "NAXIS", "TICID", "OBJECT", "SECTOR", "CAMERA", "CCD", "TESSMAG", "TEFF", "LOGG",
        "MH", "RADIUS", "RA_OBJ", "DEC_OBJ", "ORIGIN", "TELESCOP", "CREATOR", "CHECKSUM"],
    1: ["XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "TFIELDS", "TTYPE1", "TFORM1",
        "TTYPE8", "TFORM8", "TTYPE10", "TFORM10", "TIMEDEL", "EXTNAME", "CHECKSUM", "DATASUM"],
}
VALUES = [0, -1, 1, 4, 5, 2**31, 2**63, 2**64, 10**30, -10**20, 0.0, -1.0, 1.5, 1e300, -1e300, 1e-300, 3e9,
          6000.0, "abc", "", " ", "X" * 60, "1", True, False, b"1E999", b"", b"'unterminated", b"NaN"]


def _with_checksums(path: Path) -> bytes:
    """The simulated file re-written with CHECKSUM/DATASUM, as MAST products carry them."""
    buf = io.BytesIO()
    with fits.open(path, memmap=False) as hdul:
        hdul.writeto(buf, checksum=True)
    return buf.getvalue()


def _damaged(raw: bytes, rng: np.random.Generator, n_header: int, n_trunc: int):
    """(kind, name suffix, bytes) of damaged copies of ``raw``."""
    out = []
    cards = [(h, k) for h, keys in READER_CARDS.items() for k in keys]
    for i in range(n_header):
        hdu, key = cards[i % len(cards)] if i < len(cards) else cards[int(rng.integers(len(cards)))]
        value = VALUES[int(rng.integers(len(VALUES)))]
        data = fd.set_card(raw, hdu, key, value)
        if data is not None:
            out.append(("header-value", f"h{hdu}-{key}-{i}", data))
    # the values that used to abort the whole sweep (ArrowInvalid / OverflowError when stored)
    for key, value in (("CAMERA", 70000), ("SECTOR", 3e9), ("TICID", 2**63 + 1), ("SECTOR", "abc")):
        out.append(("header-value", f"h0-{key}-{value}"[:40], fd.set_card(raw, 0, key, value)))
    for i, n in enumerate(sorted(rng.integers(1, len(raw), n_trunc)) + [2880, 2880 * 2, len(raw) - 2880]):
        out.append(("truncated", f"trunc-{i}", raw[: int(n)]))
    _, data_start, _ = fd.hdu_spans(raw)[1]
    for i in range(3):
        buf = bytearray(raw)
        pos = int(rng.integers(data_start, len(raw) - 200))
        buf[pos:pos + 200] = bytes(255 - b for b in buf[pos:pos + 200])
        out.append(("altered-bytes", f"flip-{i}", bytes(buf)))
    out.append(("structure", "no-end-primary", fd.blank_card(raw, 0, "END")))
    out.append(("structure", "no-end-table", fd.blank_card(raw, 1, "END")))
    out.append(("structure", "simple-false", fd.set_card(raw, 0, "SIMPLE", False)))
    out.append(("structure", "trailing-garbage", raw + rng.bytes(2880)))
    out.append(("structure", "empty", b""))
    t = fd.column_values(raw, "TIME", ">f8")
    for label, values in [("constant", np.full(t.size, 1400.0)), ("jump-1000d", _jump(t, 1000.0)),
                          ("jump-1e9d", _jump(t, 1e9)), ("all-nan", np.full(t.size, np.nan)),
                          ("reversed", t[::-1].copy())]:
        out.append(("time-column", f"time-{label}", fd.set_column(raw, "TIME", values, ">f8")))
    f = fd.column_values(raw, "PDCSAP_FLUX", ">f4")
    for label, values in [("all-nan", np.full(f.size, np.nan)), ("huge", np.where(np.isfinite(f), 3e38, f)),
                          ("zero", np.where(np.isfinite(f), 0.0, f)), ("negative", -f)]:
        out.append(("flux-column", f"flux-{label}", fd.set_column(raw, "PDCSAP_FLUX", values, ">f4")))
    gz = fd.gzipped(raw)
    out.append(("gzip", "gz-truncated", gz[: len(gz) // 2]))
    out.append(("gzip", "gz-of-truncated", fd.gzipped(raw[: len(raw) // 3])))
    out.append(("gzip", "gz-garbage", b"\x1f\x8b" + rng.bytes(5000)))
    return out


def _jump(t, days):
    t = t.copy()
    t[t.size // 2:] += days
    return t


@pytest.fixture(scope="module")
def fuzz_input(tmp_path_factory, request):
    from exoray.simulate import simulate_sector

    root = tmp_path_factory.mktemp("fuzz")
    sim = tmp_path_factory.mktemp("sim")
    simulate_sector(2, sim, seed=21, mix="planet=1.0", single_fraction=0.0, snr_range=(15.0, 60.0))
    bases = {f"sim{i}": _with_checksums(p) for i, p in enumerate(sorted(sim.glob("*.fits")))}
    try:
        real_dir = request.getfixturevalue("real_dir")
        path = real_dir / SPOC_PI_MEN
        if path.exists():
            bases["real"] = path.read_bytes()
    except pytest.skip.Exception:
        pass
    intact_dir, bad_dir = root / "intact", root / "damaged"
    intact_dir.mkdir()
    bad_dir.mkdir()
    intact, damaged = [], {}
    for name, raw in bases.items():
        p = intact_dir / f"{name}_lc.fits"
        p.write_bytes(raw)
        intact.append(str(p))
    # two more inputs of one star and sector: their reports and rows must stay apart
    first = next(iter(bases))
    for extra, data in ((f"{first}_copy_lc.fits", bases[first]), (f"{first}_lc.fits.gz", fd.gzipped(bases[first]))):
        (intact_dir / extra).write_bytes(data)
        intact.append(str(intact_dir / extra))
    rng = np.random.default_rng(2026)
    for name, raw in bases.items():
        # the real file has 20k cadences: fewer random header values, whose survivors are searched
        n_header = 60 if name.startswith("sim") else 40
        for kind, suffix, data in _damaged(raw, rng, n_header=n_header, n_trunc=8):
            ext = ".fits.gz" if kind == "gzip" else ".fits"
            p = bad_dir / f"{name}-{suffix}_lc{ext}"
            p.write_bytes(data)
            damaged[str(p)] = kind
    return root, sorted(intact), damaged, first


@pytest.fixture(scope="module")
def baseline(ray_local, fuzz_input, tmp_path_factory):
    """The intact files swept alone, with a report for every candidate."""
    root, intact, _, _ = fuzz_input
    out = tmp_path_factory.mktemp("baseline")
    run = sweep(str(root / "intact"), str(out), SweepConfig(search=SEARCH, reports="all", batch_size=2,
                                                           group_sectors=False))
    return out, run


def _rows(path: Path):
    rows = pq.read_table(path).to_pylist() if path.exists() else []
    return {(r["source_path"], r["candidate_index"]): r for r in rows}


def test_sweep_over_damaged_files_finishes_and_accounts_for_each_input_once(ray_local, fuzz_input, baseline,
                                                                           tmp_path):
    root, intact, damaged, _ = fuzz_input
    out = tmp_path / "out"
    run = sweep(str(root), str(out), SweepConfig(search=SEARCH, reports="none", batch_size=24, group_sectors=False))
    inputs = set(intact) | set(damaged)
    assert run["counts"]["inputs"] == len(inputs)
    assert run["accounting"]["accounted"], run["accounting"]

    # independently of run.json: each input in exactly one of the light curves or the quarantine
    done = set(pq.read_table(out / LIGHTCURVES_DIR, columns=["source_path"]).column("source_path").to_pylist())
    q = pq.read_table(out / "quarantine.parquet").to_pylist()
    refused = [r["path"] for r in q if r["stage"] in INPUT_STAGES]
    assert len(refused) == len(set(refused)) and not (done & set(refused))
    assert done | set(refused) == inputs
    for r in q:  # every message names its file
        assert os.path.basename(r["path"]) in r["message"], r

    # the damage that cannot be read is refused at the read stage; the intact files all come through
    stage_of = {r["path"]: r["stage"] for r in q if r["stage"] in INPUT_STAGES}
    must_fail = {"truncated", "altered-bytes", "structure", "gzip"}
    for path, kind in damaged.items():
        if kind in must_fail:
            assert stage_of.get(path) == "read", (path, kind)
    for name in ("time-constant", "time-jump-1e9d", "time-all-nan", "time-reversed", "flux-all-nan",
                 "h0-CAMERA-70000", "h0-SECTOR-3000000000.0", "h0-TICID-9223372036854775809", "h0-SECTOR-abc"):
        for path in (p for p in damaged if f"-{name}_lc" in p):
            assert stage_of.get(path) == "read", path
    assert set(intact) <= done
    # a +1000 d jump reads, then is refused by the search budget before preprocessing (whose
    # detrending choice already sizes its work by the span)
    jumps = [r for r in q if "-time-jump-1000d_lc" in r["path"]]
    assert jumps and all(r["stage"] == "preprocess" and r["error"] == "SearchBudgetError" for r in jumps), jumps

    # the intact files' candidates are exactly those of a sweep of the intact files alone
    base_out, _ = baseline
    base_rows = _rows(base_out / "candidates.parquet")
    base_rows = {(os.path.basename(k[0]), k[1]): v for k, v in base_rows.items()}
    fuzz_rows = {(os.path.basename(k[0]), k[1]): v for k, v in _rows(out / "candidates.parquet").items()
                 if k[0] in set(intact)}
    assert base_rows and set(fuzz_rows) == set(base_rows)
    def same(a, b):
        if isinstance(a, float) and isinstance(b, float):
            # periodograms are float32: stars batched with other neighbours are padded and summed
            # in another order, which moves the statistics by float32 rounding, no more
            return a == b or (a != a and b != b) or abs(a - b) <= 1e-5 * max(abs(a), abs(b))
        return a == b

    for key, row in base_rows.items():
        other = fuzz_rows[key]
        diff = {c for c in row if c not in ("report_path", "source_path") and not same(row[c], other[c])}
        assert not diff, (key, {c: (row[c], other[c]) for c in diff})

    kinds = Counter(damaged.values())
    stages = Counter((r["stage"], r["error"]) for r in q)
    print(f"\nfuzz sweep: {len(inputs)} inputs ({len(intact)} intact; damaged by kind {dict(kinds)}); "
          f"{len(done)} preprocessed, {len(set(refused))} quarantined at an input stage, accounted "
          f"{run['accounting']['accounted']}; quarantine rows by (stage, error) {dict(stages)}")


def test_reports_of_one_star_and_sector_do_not_collide(baseline, fuzz_input):
    base_out, run = baseline
    _, _, _, first = fuzz_input
    rows = pq.read_table(base_out / "candidates.parquet").to_pylist()
    assert rows
    paths = [r["report_path"] for r in rows]
    assert all(p and Path(p).read_bytes()[:4] == b"%PDF" for p in paths), rows
    assert len(set(paths)) == len(paths)
    by_input = Counter(os.path.basename(r["source_path"]) for r in rows)
    same_star = [n for n in by_input if n.startswith(first)]
    assert len(same_star) == 3, by_input  # the file, its copy and its .fits.gz: each with its own reports
    assert run["counts"]["search_failed_this_run"] == 0


def test_search_past_the_time_limit_is_quarantined_and_the_sweep_goes_on(fuzz_input, tmp_path):
    """A +300 d jump keeps a search busy for a minute; with a 2 s limit it is stopped and recorded."""
    root, intact, _, first = fuzz_input
    raw = (root / "intact" / f"{first}_lc.fits").read_bytes()
    src = tmp_path / "in"
    src.mkdir()
    t = fd.column_values(raw, "TIME", ">f8")
    (src / "slow_lc.fits").write_bytes(fd.set_column(raw, "TIME", _jump(t, 300.0), ">f8"))
    (src / "fine_lc.fits").write_bytes(raw)
    run = sweep(str(src), str(tmp_path / "out"),
                SweepConfig(search=SearchConfig(max_planets=1, rank=False), reports="none", search_timeout_s=2.0,
                            group_sectors=False),
                use_ray=False)
    assert run["accounting"]["accounted"]
    assert run["counts"]["preprocessed_total"] == 2  # a stopped search leaves the curve preprocessed
    q = pq.read_table(tmp_path / "out" / "quarantine.parquet").to_pylist()
    assert [(Path(r["path"]).name, r["stage"], r["error"]) for r in q] == [("slow_lc.fits", "search", "TimeLimitError")]
    assert "2 s" in q[0]["message"] and "--search-timeout" in q[0]["message"]
    assert run["timings"]["wall_s"] < 60
