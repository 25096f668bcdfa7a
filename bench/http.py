"""The API over HTTP on loopback: POST /predict next to a trivial JSON route of the same
server (GET /health/live), at 1 and 8 connections, with wrk; under `uvicorn app:app` (how
the product is served) and under `streamlit run` (to show why not)."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
from pathlib import Path

from bench.servers import STREAMLIT_RUN, UVICORN, start
from bench.timing import Measurement

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, connections: int, seconds: int, script: Path | None) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of one wrk run; fails on any non-2xx answer."""
    command = ["wrk", f"-t{min(connections, 2)}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw error answers:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    percentiles = {p: float(v) * UNITS[u] for p, v, u in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", output)}
    return rate, percentiles["50"], percentiles["99"]


def _record(project: Path) -> dict:
    from lib.model_loader import load_model

    model = load_model(str(project / "models"))
    return {"record": {spec.name: spec.default for spec in model.schema.features}}


def run(project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    script = workdir / "predict.lua"
    body = json.dumps(_record(project))
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    seconds, repeats = (1, 1) if quick else (5, 3)
    results: list[Measurement] = []
    for label, command in {"uvicorn app:app": UVICORN, "streamlit run": STREAMLIT_RUN}.items():
        log = workdir / f"http-{label.split()[0]}.log"
        process, base = start(project, model_uri, log, command, ready_path="/health/ready")
        try:
            for connections in (1, 8):
                runs = {"trivial": [], "predict": []}
                for _ in range(repeats):
                    runs["trivial"].append(_wrk(f"{base}/health/live", connections, seconds, None))
                    runs["predict"].append(_wrk(f"{base}/predict", connections, seconds, script))
                trivial_rate = statistics.median(r[0] for r in runs["trivial"])
                for name, samples in runs.items():
                    rates = [r[0] for r in samples]
                    title = (
                        "GET /health/live (trivial JSON route)" if name == "trivial" else "POST /predict, one record"
                    )
                    p50 = statistics.median(r[1] for r in samples)
                    p99 = statistics.median(r[2] for r in samples)
                    results.append(
                        Measurement(
                            f"{title}, {label}, {connections} conn. (p50 {p50:.2f} ms, p99 {p99:.2f} ms)",
                            "req/s",
                            statistics.median(rates),
                            min(rates),
                            max(rates),
                            len(rates),
                            higher_is_better=True,
                            **(
                                {
                                    "baseline_name": "trivial route, same server and connections",
                                    "baseline_median": trivial_rate,
                                    "target": ">= 0.5x the trivial route",
                                }
                                if name == "predict" and label.startswith("uvicorn")
                                else {}
                            ),
                        )
                    )
        finally:
            process.terminate()
            process.wait(timeout=10)
    return results
