import json

import pytest

from exoray.runtime import atomic_open, write_json_atomic


def test_write_json_atomic_replaces_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "sub" / "run.json"
    write_json_atomic(p, {"a": 1})
    write_json_atomic(p, {"a": 2}, indent=1)
    assert json.loads(p.read_text()) == {"a": 2}
    assert [f.name for f in p.parent.iterdir()] == ["run.json"]


def test_a_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_open(p, "wb") as fh:
            fh.write(b"half")
            raise RuntimeError("died mid-write")
    assert p.read_bytes() == b"old"
    assert [f.name for f in tmp_path.iterdir()] == ["x.bin"]


def test_append_modes_are_refused(tmp_path):
    with pytest.raises(ValueError, match="whole file"):
        with atomic_open(tmp_path / "y", "a"):
            pass
