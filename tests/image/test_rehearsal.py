"""An image rehearsal, since no Docker engine runs here: the build context assembled as
the engine sees it (.dockerignore applied), a fresh virtual environment from
requirements.txt alone, and the Dockerfile's CMD run from that folder as its non-root
user with its ENV and nothing else. Then /health is ready, POST /predict scores, the UI
loads in chromium, the HEALTHCHECK passes, and nothing was written outside the folders
the Dockerfile gives the user.

Deviations from a real container, on purpose: the Debian python3.11 stands in for the
image's (the project's own interpreter is not readable by other users here), /app is a
temporary folder, and port 8000 becomes a free port (in CMD and HEALTHCHECK alike).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from lib.settings import PROJECT_ROOT
from tests.helpers import free_port
from tests.image.dockerfile import build_context, env, exec_form, instructions, single

pytestmark = pytest.mark.slow
SYSTEM_PYTHON = "/usr/bin/python3"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"


@dataclass
class Rehearsal:
    app: Path  # the image's WORKDIR
    venv: Path
    url: str
    process: subprocess.Popen
    log: Path
    environment: dict[str, str]
    user: tuple[int, int]
    port: int
    writable: list[Path]
    before: dict[str, float]


def _snapshot(app: Path, writable: list[Path]) -> dict[str, float]:
    """Every file outside the writable folders, with its modification time."""
    files = {}
    for path in app.rglob("*"):
        if path.is_file() and not any(path.is_relative_to(folder) for folder in writable):
            files[str(path.relative_to(app))] = path.stat().st_mtime
    return files


def _translate(value: str, workdir: str, app: Path) -> str:
    return str(app) + value[len(workdir) :] if value.startswith(workdir) else value


@pytest.fixture(scope="module")
def rehearsal() -> Iterator[Rehearsal]:
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing: .ci/run installs python3-venv")
    found = instructions(DOCKERFILE)
    workdir = single(found, "WORKDIR").args
    uid, gid = (int(n) for n in single(found, "USER").args.split(":"))
    setup = next(i.args for i in found if i.name == "RUN" and "useradd" in i.args)
    home = re.search(r"--home-dir (\S+)", setup).group(1)
    owned = re.search(r"chown -R \d+:\d+ ([^&]+)", setup).group(1).split()
    made = re.search(r"mkdir -p ([^&]+)", setup).group(1).split()

    root = Path(tempfile.mkdtemp(prefix="image-rehearsal-", dir="/tmp"))
    root.chmod(0o755)  # the user must reach the app and the venv, as in an image
    app, venv = root / "app", root / "venv"
    build_context(PROJECT_ROOT, app, PROJECT_ROOT / ".dockerignore")  # COPY . .
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(  # --no-compile: half of pip's time here; imports compile what they use
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", "-r", str(app / "requirements.txt")],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    for folder in made:
        Path(_translate(folder, workdir, app)).mkdir(parents=True, exist_ok=True)
    writable = [Path(_translate(folder, workdir, app)) for folder in owned]
    for folder in writable:
        for path in [folder, *folder.rglob("*")]:
            os.chown(path, uid, gid)

    port = free_port()
    command = [part.replace("8000", str(port)) for part in exec_form(single(found, "CMD").args)]
    environment = {
        **{key: _translate(value, workdir, app) for key, value in env(found).items()},
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",  # pip's scripts, as /usr/local/bin in the image
        "HOME": home,
    }
    before = _snapshot(app, writable)
    log = root / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=app,
            env=environment,
            user=uid,
            group=gid,
            extra_groups=[],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    running = Rehearsal(app, venv, url, process, log, environment, (uid, gid), port, writable, before)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                with urllib.request.urlopen(f"{running.url}/health/ready", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError(f"not ready in 60 s:\n{log.read_text(errors='replace')}")
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
        shutil.rmtree(root, ignore_errors=True)


def _get(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, json.loads(response.read())


def test_the_server_runs_as_the_image_user_and_scores(rehearsal):
    status, ready = _get(f"{rehearsal.url}/health/ready")
    assert status == 200 and ready["status"] == "ready"
    _, health = _get(f"{rehearsal.url}/health")
    assert health["status"] == "ok" and health["model_source"].endswith(ready["model_version"])
    schema = json.loads((rehearsal.app / "models" / ready["model_version"] / "features_order.json").read_text())
    record = {feature["name"]: feature["default"] for feature in schema["features"]}
    request = urllib.request.Request(
        f"{rehearsal.url}/predict", json.dumps({"record": record}).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        prediction = json.loads(response.read())["prediction"]
    assert 0 <= prediction["probability"] <= 1
    owner = os.stat(rehearsal.app / "kpis").st_uid
    assert owner == rehearsal.user[0] != 0
    stat = os.stat(f"/proc/{rehearsal.process.pid}")
    assert (stat.st_uid, stat.st_gid) == rehearsal.user  # not root


def test_the_ui_loads_in_a_browser(rehearsal, page):
    page.goto(rehearsal.url)
    expect(page.get_by_role("heading", name="Prediction dashboard")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Test ROC AUC")).to_be_visible()


def test_the_healthcheck_command_passes_as_the_user(rehearsal):
    health = single(instructions(DOCKERFILE), "HEALTHCHECK").args
    command = [part.replace("8000", str(rehearsal.port)) for part in exec_form(health.split(" CMD ", 1)[1])]
    done = subprocess.run(
        command,
        env=rehearsal.environment,
        user=rehearsal.user[0],
        group=rehearsal.user[1],
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_retraining_runs_as_the_user(rehearsal):
    """Jobs and new versions are written where the user may write (KPI_DIR, the registry)."""
    request = urllib.request.Request(  # loopback, no token set
        f"{rehearsal.url}/train", b"{}", {"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        job_id = json.loads(response.read())["job"]["id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = _get(f"{rehearsal.url}/train/{job_id}")[1]["job"]
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    new = job["result"]["version"]
    assert os.stat(rehearsal.app / "models" / new).st_uid == rehearsal.user[0]
    deadline = time.monotonic() + 10
    while _get(f"{rehearsal.url}/health")[1]["model_version"] != new:
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_nothing_is_written_outside_the_users_folders(rehearsal):
    _get(f"{rehearsal.url}/health")  # after the other tests' traffic
    time.sleep(0.5)  # the prediction log's writer runs every 0.25 s
    assert _snapshot(rehearsal.app, rehearsal.writable) == rehearsal.before
    assert (rehearsal.app / "kpis" / "monitoring.sqlite3").exists()  # the runtime store, where allowed
    text = rehearsal.log.read_text(errors="replace")
    problems = (
        "Traceback",
        "Permission denied",
        "Read-only file system",
        "monitoring store unavailable",
        "starting without a model",
        "reference customers not scored",  # the bundled dataset missing from the context
    )
    for problem in problems:
        assert problem not in text, text[-3000:]
