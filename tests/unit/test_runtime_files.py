import json
import os
import re
import stat

import pytest

from exoray.runtime import atomic_open, write_json_atomic
from exoray.runtime.files import hash_file


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


def test_a_failed_check_keeps_the_old_file_and_a_passed_one_renames(tmp_path):
    p = tmp_path / "x.fits"
    p.write_bytes(b"old")
    seen = []

    def refuse(tmp):
        seen.append(tmp)
        raise ValueError("bad bytes")

    with pytest.raises(ValueError, match="bad bytes"):
        with atomic_open(p, "wb", suffix=".part", check=refuse) as fh:
            fh.write(b"new")
    assert p.read_bytes() == b"old" and [f.name for f in tmp_path.iterdir()] == ["x.fits"]
    assert re.fullmatch(r"\.x\.fits\.[0-9a-f]{32}\.part", os.path.basename(seen[0]))
    with atomic_open(p, "wb", suffix=".part", check=seen.append, fsync_dir=True) as fh:
        fh.write(b"new")
    assert p.read_bytes() == b"new" and len(seen) == 2


def test_permissions_private_by_default_or_as_asked(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "private") as fh:
            fh.write(b"1")
        with atomic_open(tmp_path / "shared", perms=0o666) as fh:
            fh.write(b"1")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "shared").stat().st_mode) == 0o644


def test_hash_file_reads_in_chunks_and_can_extend_a_hash(tmp_path):
    import hashlib

    p = tmp_path / "big.bin"
    data = os.urandom((1 << 20) + 17)
    p.write_bytes(data)
    assert hash_file(p).hexdigest() == hashlib.sha256(data).hexdigest()
    h = hashlib.sha256(b"prefix")
    assert hash_file(p, h) is h and h.hexdigest() == hashlib.sha256(b"prefix" + data).hexdigest()
