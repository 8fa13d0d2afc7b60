"""User errors at the command line are one line naming the thing and what to do; bugs keep their traceback."""

from __future__ import annotations

import pytest

from exoray.cli import main


def _one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if f"exoray {command}: error:" in ln]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_sweep_out_is_an_existing_file(tmp_path, capsys):
    f = tmp_path / "results.txt"
    f.write_text("not a folder")
    assert main(["sweep", str(tmp_path), "--out", str(f), "--no-ray"]) == 1
    line = _one_line_error(capsys, "sweep")
    assert str(f) in line and "--out must be a folder" in line and "existing file" in line
    assert main(["sweep", str(tmp_path), "--out", str(f / "sub"), "--no-ray"]) == 1
    line = _one_line_error(capsys, "sweep")
    assert f"because {f} is a file" in line
    assert main(["demo", "--out", str(f), "--no-ray"]) == 1
    assert "--out must be a folder" in _one_line_error(capsys, "demo")
    assert f.read_text() == "not a folder"  # untouched


def test_sweep_with_a_missing_catalogue_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["sweep", str(tmp_path), "--out", str(out), "--no-ray", "--toi-catalog",
                 str(tmp_path / "nope.csv")]) == 1
    line = _one_line_error(capsys, "sweep")
    assert "nope.csv" in line and "TOI catalog not found" in line
    assert not (out / "run.json").exists()


def test_folder_whose_only_input_is_unreadable_exits_nonzero_with_the_reason(tmp_path, capsys):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "tess-broken_lc.fits").write_bytes(b"SIMPLE  =                    T" + b" " * 50)
    out = tmp_path / "out"
    assert main(["sweep", str(inp), "--out", str(out), "--no-ray"]) == 1
    err = capsys.readouterr().err
    assert "none of the inputs could be used" in err and "Traceback" not in err
    assert "CorruptProductError" in err and "tess-broken_lc.fits" in err
    # a rerun finds nothing new and still says so
    assert main(["sweep", str(inp), "--out", str(out), "--no-ray"]) == 1
    assert "none of the inputs could be used" in capsys.readouterr().err


@pytest.mark.parametrize("exc, expected", [
    (FileExistsError(17, "File exists", "/data/x"), "/data/x: file exists; it is in the way"),
    (FileNotFoundError(2, "No such file or directory", "/data/y.fits"), "/data/y.fits: no such file or directory"),
    (NotADirectoryError(20, "Not a directory", "/data/f/out"), "/data/f/out: not a directory; a folder was expected"),
    (FileNotFoundError("/data/z: TOI catalog not found; pass its path"), "/data/z: TOI catalog not found"),
])
def test_os_errors_a_user_causes_are_one_line(monkeypatch, capsys, exc, expected):
    import exoray.pipelines.commands as commands

    def boom(args):
        raise exc

    monkeypatch.setattr(commands, "cmd_report", boom)
    assert main(["report", "somewhere"]) == 1
    assert expected in _one_line_error(capsys, "report")


def test_exoray_errors_are_one_line_even_when_multiline(monkeypatch, capsys):
    import exoray.pipelines.commands as commands
    from exoray.errors import InputError

    def boom(args):
        raise InputError("first part\nsecond part")

    monkeypatch.setattr(commands, "cmd_report", boom)
    assert main(["report", "somewhere"]) == 1
    assert _one_line_error(capsys, "report").endswith("first part second part")


def test_a_bug_still_shows_its_traceback(monkeypatch):
    import exoray.pipelines.commands as commands

    def bug(args):
        return {}["missing"]

    monkeypatch.setattr(commands, "cmd_report", bug)
    with pytest.raises(KeyError):
        main(["report", "somewhere"])
