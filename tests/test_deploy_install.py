"""The web tier's image, repeated on this machine: its files, its install command and its command,
each read out of the Dockerfile, in a fresh virtual environment.

No container engine runs here, so the image itself is not built; what its build and its command
do is done here the same way. The model tier's install (TensorFlow) is too slow for the suite:
``test_deploy.py`` checks its command with the model server's own parser instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from deploy_files import REPO, Dockerfile, pip_install_extras, port_of
from harness.processes import free_port

#: pip's first run on a machine downloads the web tier's wheels (about 60 MB).
INSTALL_TIMEOUT_S = 600
START_TIMEOUT_S = 30
TARGET = "web"


def image_path(path: str, venv: Path) -> str:
    """A path inside the image, mapped to this machine: the image's venv to ``venv``."""
    return path.replace("/opt/venv", str(venv))


@pytest.fixture(scope="module")
def web_tier(tmp_path_factory) -> dict:
    """The web tier as the Dockerfile builds it: the files it copies, the venv it makes, the
    install it runs; ``env`` is the image's environment mapped to this machine."""
    dockerfile = Dockerfile.read()
    root = tmp_path_factory.mktemp("web-tier")
    venv, home = root / "venv", root / "home"
    home.mkdir()
    for workdir, sources, destination in dockerfile.copies(TARGET):
        target = root / "image" / workdir.lstrip("/") / destination
        for source in sources:
            copied = REPO / source
            if copied.is_dir():  # COPY copies a folder's contents
                shutil.copytree(copied, target, ignore=shutil.ignore_patterns("__pycache__"),
                                dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(copied, target / copied.name if destination.endswith("/") else target)
    (build_dir,) = {workdir for workdir, _, _ in dockerfile.copies(TARGET)}
    env = {name: image_path(value, venv) for name, value in dockerfile.env(TARGET).items()}
    env["PATH"] = f"{venv / 'bin'}:{os.environ['PATH']}"
    env["HOME"] = str(home)
    # The image installs without pip's cache, to stay small; here the cache saves the download.
    env.pop("PIP_NO_CACHE_DIR", None)
    installs = []
    for run in dockerfile.runs(TARGET):
        if run == "python -m venv /opt/venv":
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        elif pip_install_extras(run) is not None:
            installs.append(run)
            done = subprocess.run(run, shell=True, cwd=root / "image" / build_dir.lstrip("/"),
                                  env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
            assert done.returncode == 0, f"{run} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return {"dockerfile": dockerfile, "venv": venv, "env": env, "installs": installs, "root": root}


def run_python(web_tier: dict, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(web_tier["venv"] / "bin" / "python"), "-c", code], env=web_tier["env"],
                          cwd=web_tier["root"], capture_output=True, text=True, timeout=120)


def test_the_web_tier_installs_the_web_app_and_no_tensorflow(web_tier):
    assert web_tier["installs"] == ['pip install ".[web]"']
    imported = run_python(web_tier, "import flask_server.app, waitress, prometheus_client, zmq")
    assert imported.returncode == 0, imported.stderr
    absent = run_python(web_tier, "import importlib.util as u; "
                                  "print([m for m in ('tensorflow', 'keras', 'openvino') if u.find_spec(m)])")
    assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr


def on_this_machine(argv: list[str], port: int) -> list[str]:
    """The image's command with its port changed to a free one and its address to loopback."""
    changed = []
    for arg in argv:
        if arg.startswith("--port="):
            arg = f"--port={port}"
        elif arg.startswith("--host="):
            arg = "--host=127.0.0.1"
        elif arg.startswith("http://127.0.0.1:"):
            arg = arg.replace(f":{port_of(arg)}/", f":{port}/")
        changed.append(arg)
    return changed


def test_the_web_tiers_command_serves_and_its_health_check_passes_and_fails(web_tier, tmp_path):
    dockerfile: Dockerfile = web_tier["dockerfile"]
    port = free_port()
    command = on_this_machine(dockerfile.command(TARGET), port)
    health_check = on_this_machine(dockerfile.healthcheck(TARGET), port)
    log = open(tmp_path / "web.log", "wb")
    server = subprocess.Popen(command, env=web_tier["env"], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(health_check, env=web_tier["env"], capture_output=True).returncode != 0:
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
        # No model server behind it (MODEL_SERVER_ADDRESS names the compose/cluster broker): the
        # app runs, is not ready, and the same check on /readyz fails.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert refused.value.code == 503
        not_ready = [*health_check[:-1], health_check[-1].replace("/healthz", "/readyz")]
        assert subprocess.run(not_ready, env=web_tier["env"], capture_output=True).returncode != 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()
