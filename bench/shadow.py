"""POST /predict latency with a challenger in shadow, next to the same server without.

One client sends single-record predictions back to back on a kept-alive connection, in
alternating rounds: no shadow, then a second version of the registry in shadow (POST
/models/<version>/shadow), and so on, so that the machine's noise falls on both. The
shadow scores in its own thread after each answer; the target is that answers do not
notice it: at most 1.1x the median without.
"""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

from bench.retrain import _after, _call, _client, _latencies
from bench.servers import UVICORN, start
from bench.timing import Measurement
from lib.model_loader import load_model

CHALLENGER = "shadow-challenger"


def _registry_with_challenger(model_uri: str, workdir: Path) -> Path:
    """A copy of the registry with a second version (the served bundle under another name)."""
    registry = workdir / "shadow-registry"
    shutil.copytree(Path(model_uri), registry, ignore=shutil.ignore_patterns("audit.jsonl"))
    served = load_model(str(registry)).version
    shutil.copytree(registry / served, registry / CHALLENGER)
    metadata = json.loads((registry / CHALLENGER / "metadata.json").read_text())
    (registry / CHALLENGER / "metadata.json").write_text(json.dumps({**metadata, "version": CHALLENGER}))
    return registry


def run(project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    registry = _registry_with_challenger(model_uri, workdir)
    process, url = start(project, str(registry), workdir / "shadow-server.log", UVICORN, ready_path="/health/ready")
    plain: list[float] = []
    shadowed: list[float] = []
    try:
        connection = _client(url)
        model = load_model(str(registry))
        body = json.dumps({"record": {spec.name: spec.default for spec in model.schema.features}}).encode()
        rounds, seconds = (1, 1.0) if quick else (5, 3.0)
        _latencies(connection, body, _after(1))  # warm-up
        for _ in range(rounds):
            _call(connection, "DELETE", "/models/shadow")
            plain += _latencies(connection, body, _after(seconds))
            _call(connection, "POST", f"/models/{CHALLENGER}/shadow")
            shadowed += _latencies(connection, body, _after(seconds))
        scored = _call(connection, "GET", "/models/shadow")["here"]["scored_here"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    if not scored:
        raise RuntimeError("the challenger scored nothing: the shadow did not run")
    plain_median = statistics.median(plain)
    name = "POST /predict one record, no shadow"
    return [
        Measurement(name, "ms", plain_median, min(plain), max(plain), len(plain)),
        Measurement(
            f"POST /predict one record, a challenger in shadow ({scored:,} shadow scores written)",
            "ms",
            statistics.median(shadowed),
            min(shadowed),
            max(shadowed),
            len(shadowed),
            baseline_name=name,
            baseline_median=plain_median,
            target="<= 1.1x without",
        ),
    ]
