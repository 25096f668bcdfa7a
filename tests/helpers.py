"""Plain helpers shared by tests (fixtures live in conftest.py files)."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lib.model.bundle import METADATA_FILE
from lib.retraining.jobs import FINAL
from lib.settings import PROJECT_ROOT, reload_settings

TELCO_CONFIG = PROJECT_ROOT / "data" / "telco.toml"
COMMITTED_REGISTRY = PROJECT_ROOT / "models"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Environment:
    """Set or unset environment variables for one test, then re-read the settings as a
    restarted process would (a process reads them once); undone after the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def set(self, name: str, value: str) -> None:
        self._monkeypatch.setenv(name, value)
        reload_settings()

    def unset(self, name: str) -> None:
        self._monkeypatch.delenv(name, raising=False)
        reload_settings()


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until condition() is truthy (the prediction log writes every 0.25 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def strict(response: Any) -> dict:
    """The body parsed as standard JSON: NaN or Infinity would raise here."""
    assert response.headers["content-type"].startswith("application/json")
    return json.loads(response.text, parse_constant=lambda name: pytest.fail(f"{name} in a response"))


def wait_for_job(client: Any, job_id: str, headers: dict, timeout: float = 120) -> dict:
    """Poll GET /train/{id} until the job is final."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = json.loads(client.get(f"/train/{job_id}", headers=headers).text)["job"]
        if job["status"] in FINAL:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def new_bucket() -> str:
    """A bucket of its own per test: the moto server outlives tests."""
    import boto3

    name = f"models-{secrets.token_hex(4)}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def clone_version(registry: Path, source: str, version: str) -> Path:
    """Another complete version: the same files under a new name (metadata names it)."""
    target = registry / version
    shutil.copytree(registry / source, target)
    metadata = json.loads((target / METADATA_FILE).read_text())
    metadata.update(version=version, created_at=f"2030-01-0{version[-1]}T00:00:00+00:00")
    (target / METADATA_FILE).write_text(json.dumps(metadata))
    return target


class WebhookReceiver:
    """A real HTTP server on loopback that records every POST it gets; `script` says how
    to answer each attempt in turn (a status code, or "slow": answer after `slow_s`),
    then 200 for every later one."""

    def __init__(self, script: list[int | str] | None = None, slow_s: float = 2.0) -> None:
        import http.server
        import threading

        self.calls: list[dict] = []  # the bodies of the answered-200 calls
        self.attempts = 0
        script_left = list(script or [])
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                receiver.attempts += 1
                answer = script_left.pop(0) if script_left else 200
                if answer == "slow":
                    time.sleep(slow_s)  # the sender gives up before: this attempt counts for nothing
                    return
                if answer == 200:
                    receiver.calls.append(json.loads(body))
                self.send_response(int(answer))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def score_in_a_fresh_process(model_uri: str | Path, modules: tuple[str, ...]) -> tuple[str, float, dict[str, bool]]:
    """Load a model and score one record in a new interpreter: the scorer's kind, the
    probability, and which of `modules` that imported (what serving costs at start)."""
    script = (
        "import sys; from lib.model_loader import load_model; from lib.model.inference import score_record\n"
        f"model = load_model({str(model_uri)!r})\n"
        "record = {spec.name: spec.default for spec in model.schema.features}\n"
        "print(model.scorer.kind, score_record(record, model).probability)\n"
        f"print(*[name in sys.modules for name in {list(modules)!r}])\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    scored, imported = completed.stdout.splitlines()
    kind, probability = scored.split()
    return kind, float(probability), dict(zip(modules, (word == "True" for word in imported.split()), strict=True))
