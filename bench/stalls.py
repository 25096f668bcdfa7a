"""Does a big batch stall everything else? /health/live latency while batches are scored.

A probe sends GET /health/live every 10 ms on its own kept-alive connection: first with
the server idle, then while two clients post 10,000-record batches (reasons included)
back to back. The figure is the probe's p99 under load, next to its idle p99 from the
same run. Target: at most 50 ms.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from bench.servers import UVICORN, start
from bench.timing import Measurement

BATCH_RECORDS = 10_000
PROBE_EVERY_S = 0.01


def _connection(url: str) -> http.client.HTTPConnection:
    address = urlsplit(url)
    return http.client.HTTPConnection(address.hostname, address.port, timeout=120)


def _probe(url: str, seconds: float) -> list[float]:
    """Milliseconds of each GET /health/live over `seconds`."""
    connection = _connection(url)
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        connection.request("GET", "/health/live")
        response = connection.getresponse()
        response.read()
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(PROBE_EVERY_S)
    connection.close()
    return samples


def _post_batches(url: str, body: bytes, stop: threading.Event, sizes: list[int]) -> None:
    connection = _connection(url)
    while not stop.is_set():
        connection.request("POST", "/predict", body=body, headers={"content-type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"a batch was refused ({response.status}): {payload[:300]!r}")
        sizes.append(len(payload))
    connection.close()


def run(project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    from lib.model_loader import load_model

    model = load_model(model_uri)
    record = {spec.name: spec.default for spec in model.schema.features}
    body = json.dumps({"records": [record] * BATCH_RECORDS}).encode()
    seconds = 2.0 if quick else 15.0
    process, url = start(project, model_uri, workdir / "stalls-server.log", UVICORN, ready_path="/health/ready")
    try:
        _probe(url, 1.0)  # warm-up
        idle = _probe(url, seconds)
        stop, answered = threading.Event(), []
        clients = [threading.Thread(target=_post_batches, args=(url, body, stop, answered)) for _ in range(2)]
        for client in clients:
            client.start()
        time.sleep(0.5)  # both clients have a batch in flight
        loaded = _probe(url, seconds)
        stop.set()
        for client in clients:
            client.join()
    finally:
        process.terminate()
        process.wait(timeout=10)
    idle_p99, loaded_p99 = float(np.percentile(idle, 99)), float(np.percentile(loaded, 99))
    name = f"GET /health/live p99 while 2 clients post {BATCH_RECORDS:,}-record batches ({len(answered)} answered)"
    return [
        Measurement("GET /health/live p99, server idle", "ms", idle_p99, min(idle), max(idle), len(idle)),
        Measurement(
            name,
            "ms",
            loaded_p99,
            min(loaded),
            max(loaded),
            len(loaded),
            baseline_name="GET /health/live p99, server idle",
            baseline_median=idle_p99,
            target="<= 50 ms",
        ),
    ]


if __name__ == "__main__":
    import sys
    import tempfile

    from lib.settings import PROJECT_ROOT

    with tempfile.TemporaryDirectory() as folder:
        for m in run(PROJECT_ROOT, str(PROJECT_ROOT / "models"), Path(folder), quick="--quick" in sys.argv):
            print(f"{m.name}: {m.median:.1f} {m.unit} (min {m.minimum:.2f}, max {m.maximum:.1f}, n={m.repeats})")
