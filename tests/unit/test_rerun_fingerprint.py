"""The fingerprint of a sweep's options and its closing summary (no sweep run)."""

from __future__ import annotations

import shutil

import pytest

from exoray.config import PreprocessConfig, SearchConfig, SweepConfig
from exoray.pipelines.commands import SUMMARY_WIDTH, _print_top_candidates, _short_known
from exoray.pipelines.fingerprint import changed_options, output_fingerprint
from exoray.schemas import records_to_table, write_parquet_atomic
from exoray.vet.records import CANDIDATES_SCHEMA

FAST = SearchConfig(max_period_days=5)


def _fp(**kw):
    return output_fingerprint(SweepConfig(**{"search": FAST, **kw}))


def test_options_that_only_spread_the_work_do_not_count():
    base = _fp()
    same = _fp(batch_size=3, workers=7, num_cpus=2, address="auto", resume=True, reports="none",
               search_timeout_s=5.0)
    assert changed_options(base, same) == []
    on_gpu = _fp(search=SearchConfig(max_period_days=5, device="cuda"))
    assert changed_options(base, on_gpu) == []


@pytest.mark.parametrize("kw, expected", [
    ({"search": SearchConfig(max_period_days=5, snr_threshold=8.0)}, "--snr-threshold 7.1 -> 8.0"),
    ({"search": SearchConfig(max_period_days=10)}, "--max-period 5 -> 10"),
    ({"preprocess": PreprocessConfig(detrend="savgol")}, "--detrend biweight -> savgol"),
    ({"flux_column": "SAP_FLUX"}, "--flux-column none -> SAP_FLUX"),
    ({"verify_checksums": False}, "--no-verify (checksum checks on -> off)"),
    ({"search": None}, "--no-search (results were searched, this run would not search)"),
    ({"search": SearchConfig(max_period_days=5, use_catalog=False)}, "--no-catalog (the known-object cross-match on -> off)"),
    ({"search": SearchConfig(max_period_days=5, rank=False)}, "--no-rank (ranking on -> off)"),
])
def test_options_that_shape_the_output_are_named(kw, expected):
    assert expected in changed_options(_fp(), _fp(**kw))


def test_a_switch_is_named_alone():
    changed = changed_options(_fp(), _fp(search=SearchConfig(max_period_days=5, use_catalog=False, rank=False)))
    assert sorted(changed) == ["--no-catalog (the known-object cross-match on -> off)", "--no-rank (ranking on -> off)"]


def test_files_count_by_content_not_by_path(tmp_path):
    from exoray.rank.ranker import DEFAULT_MODEL_DIR
    from exoray.vet.known_objects import SNAPSHOT_TOI

    copy = tmp_path / "ranker"
    shutil.copytree(DEFAULT_MODEL_DIR, copy)
    toi = tmp_path / "tois.parquet"
    shutil.copy(SNAPSHOT_TOI, toi)
    base = _fp()
    moved = _fp(search=SearchConfig(max_period_days=5, ranker_dir=str(copy), toi_catalog=str(toi)))
    assert changed_options(base, moved) == []

    (copy / "config.json").write_text((copy / "config.json").read_text().replace('"prior": 0.1', '"prior": 0.2'))
    (copy / "metrics.json").write_text("{}")  # a ranker's metrics do not make its scores
    with open(toi, "ab") as fh:
        fh.write(b"\0")
    changed = changed_options(base, _fp(search=SearchConfig(max_period_days=5, ranker_dir=str(copy),
                                                             toi_catalog=str(toi))))
    assert any(c.startswith("--ranker (another model:") for c in changed)
    assert any(c.startswith("--toi-catalog (another file:") for c in changed)


def test_short_known_object():
    assert _short_known("TOI-144.01 (CP, P=6.268 d)") == "TOI-144.01 (CP)"
    assert _short_known("EB TIC 98853987 (P=2.728 d)") == "EB TIC 98853987"
    assert _short_known("alias 1/2 of EB TIC 199574208 (P=1.268 d)") == "EB TIC 199574208 x1/2"
    assert _short_known(None) == ""


def test_top_candidates_table_fits_the_terminal(tmp_path, capsys):
    rows = []
    for i, (score, known) in enumerate([(0.97, "TOI-1946.01 (FP, P=10.846 d)"),
                                        (None, "alias 2/3 of EB TIC 1234567890 (P=123.456 d) and more words"),
                                        (0.5, None)]):
        rows.append(dict(tic_id=1234567890 + i, sector=61, candidate_index=0, period_days=123.4567,
                         depth_ppm=1_234_567.0, snr=999.9, score=score, score_lo=0.01 if score else None,
                         score_hi=0.99 if score else None, disposition="planet_candidate", known_object=known))
    rows.append(dict(tic_id=1, sector=1, candidate_index=1, period_days=float("nan"), depth_ppm=100.0, snr=7.5,
                     disposition="single_event", single_event=True))
    write_parquet_atomic(records_to_table(rows, CANDIDATES_SCHEMA), str(tmp_path / "candidates.parquet"))
    shown = _print_top_candidates(str(tmp_path))
    out = capsys.readouterr().out
    assert len(shown) == 4
    assert max(len(line) for line in out.splitlines()) <= SUMMARY_WIDTH
    assert "TOI-1946.01 (FP)" in out and "EB TIC 1234567890 and ..." in out
    assert "0.97 [0.01,0.99]" in out and "single_event" in out
