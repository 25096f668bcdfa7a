"""POST /predict latency while a retraining job runs, next to the same server idle.

One client sends single-record predictions back to back on a kept-alive connection; the
median latency is taken idle, then while retraining jobs (started with POST /train, on
a copy of the registry) run to the end. Target: at most 2x the idle median.
"""

from __future__ import annotations

import http.client
import json
import shutil
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.servers import UVICORN, start
from bench.timing import Measurement


def _client(url: str) -> http.client.HTTPConnection:
    address = urlsplit(url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=30)


def _call(connection: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> dict:
    headers = {"content-type": "application/json"} if body or method == "POST" else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    payload = response.read()
    if response.status >= 400 and response.status != 409:
        raise RuntimeError(f"{method} {path} answered {response.status}: {payload[:300]!r}")
    return json.loads(payload)


def _latencies(connection: http.client.HTTPConnection, body: bytes, until) -> list[float]:
    samples = []
    while not until():
        started = time.perf_counter()
        _call(connection, "POST", "/predict", body)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _after(seconds: float):
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end


def run(project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    registry = workdir / "retrain-registry"
    shutil.copytree(Path(model_uri), registry, ignore=shutil.ignore_patterns("audit.jsonl"))
    process, url = start(project, str(registry), workdir / "retrain-server.log", UVICORN, ready_path="/health/ready")
    try:
        connection = _client(url)
        from lib.model_loader import load_model

        model = load_model(str(registry))
        body = json.dumps({"record": {spec.name: spec.default for spec in model.schema.features}}).encode()
        idle_s, jobs = (1, 1) if quick else (8, 3)
        _latencies(connection, body, _after(1))  # warm-up
        idle = _latencies(connection, body, _after(idle_s))
        busy: list[float] = []
        durations = []
        for _ in range(jobs):
            job = _call(connection, "POST", "/train")["job"]
            started = time.monotonic()
            checker = _client(url)

            def finished(job_id: str = job["id"], checker: http.client.HTTPConnection = checker) -> bool:
                return _call(checker, "GET", f"/train/{job_id}")["job"]["status"] in ("succeeded", "failed")

            state_checked = [0.0]

            def done_yet(check=finished, last=state_checked) -> bool:
                if time.monotonic() - last[0] < 0.25:  # look at the job 4 times a second, not every request
                    return False
                last[0] = time.monotonic()
                return check()

            busy += _latencies(connection, body, done_yet)
            durations.append(time.monotonic() - started)
    finally:
        process.terminate()
        process.wait(timeout=10)
    idle_median = statistics.median(idle)
    return [
        Measurement("POST /predict latency, server idle", "ms", idle_median, min(idle), max(idle), len(idle)),
        Measurement(
            f"POST /predict latency while retraining ({jobs} jobs, {statistics.median(durations):.1f} s each)",
            "ms",
            statistics.median(busy),
            min(busy),
            max(busy),
            len(busy),
            baseline_name="POST /predict latency, server idle",
            baseline_median=idle_median,
            target="<= 2x idle",
        ),
    ]
