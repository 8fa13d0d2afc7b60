"""The stages import one way: the layers contract in pyproject.toml holds (``lint-imports``).

The contract (``[tool.importlinter]``) lists the layers top first; a module may
import from its own layer and those below it.  docs/architecture.md explains
the layers and where new code goes.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports_command():
    """The ``lint-imports`` command of this interpreter's import-linter (None when it is not installed)."""
    if importlib.util.find_spec("importlinter") is None:
        return None
    # prefer the script beside this interpreter, so a PATH entry of another
    # environment cannot answer for this one
    here = Path(sys.executable).with_name("lint-imports")
    if here.exists():
        return [str(here)]
    found = shutil.which("lint-imports")
    if found:
        return [found]
    return [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
            "sys.exit(lint_imports_command())"]


def test_stages_are_layered():
    cmd = _lint_imports_command()
    if cmd is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    env = dict(os.environ)
    # analyse this checkout's exoray, not another copy installed in site-packages
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    proc = subprocess.run(cmd + ["--no-cache", "--no-logo", str(ROOT / "pyproject.toml")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"lint-imports found imports against the layers:\n{proc.stdout}\n{proc.stderr}"
    assert "Contracts: 1 kept, 0 broken." in proc.stdout, proc.stdout
