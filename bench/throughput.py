"""Throughput at the limit (issue 17), every figure against baselines served in the same run:

- POST /predict, one record, at 1 and 8 connections (wrk): the product, a bare Starlette
  trivial JSON route served the same way (`bench/bare_app.py`), and the product as it was
  before the issue (BASELINE_REF, unpacked from git and served as it was then);
- POST /predict with 10,000 records, with and without reasons: the product, the same
  baseline, and a naive app (JSON -> DataFrame -> pickled pipeline -> JSON,
  `bench/naive_app.py`), all over HTTP on loopback.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.http import _wrk
from bench.servers import start
from bench.timing import Measurement
from lib.server.http_server import SERVE_OPTIONS

# The last commit before issue 17's work, and how it was served then.
BASELINE_REF = "bd50e9d"
BASELINE_OPTIONS = ("--http", "lib.server.http_server:GuardedH11Protocol", "--no-proxy-headers")
BATCH_ROWS = 10_000


def _baseline_tree(project: Path, workdir: Path) -> Path | None:
    """The product at BASELINE_REF, unpacked next to the run; None without git history."""
    target = workdir / "baseline"
    if target.exists():
        return target
    try:
        paths = ["lib", "app.py", "navigation.py", "pages", "data", "kpis", ".streamlit"]
        command = ["git", "-C", str(project), "archive", BASELINE_REF, *paths]
        archive = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def _serve(cwd: Path, module: str, options: tuple[str, ...], model_uri: str, log: Path, ready: str):
    command = [sys.executable, "-m", "uvicorn", module, *options, "--host", "127.0.0.1", "--port"]
    return start(cwd, model_uri, log, command, ready_path=ready)


def _records(project: Path, model_uri: str, rows: int) -> list[dict]:
    """Rows like the training data: every feature within its training range."""
    from lib.model_loader import load_model

    schema = load_model(model_uri).schema
    rng = random.Random(17)
    records = []
    for _ in range(rows):
        record = {}
        for spec in schema.features:
            if spec.is_numeric:
                low, high = spec.training_range
                value = rng.uniform(low, high)
                record[spec.name] = float(round(value)) if spec.dtype == "int64" else round(value, 2)
            else:
                record[spec.name] = rng.choice(spec.categories)
        records.append(record)
    return records


def _post_rate(base: str, path: str, body: bytes, seconds: float, expect_rows: int) -> float:
    """Records/s of one keep-alive client posting `body` for about `seconds`."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    sent, started = 0, time.perf_counter()
    try:
        while True:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            payload = response.read()
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {payload[:300]!r}")
            sent += 1
            if time.perf_counter() - started >= seconds and sent >= 2:
                break
    finally:
        connection.close()
    return sent * expect_rows / (time.perf_counter() - started)


def _against(
    name: str, unit: str, product: list[float], baseline: str, rates: list[float], target: str | None
) -> Measurement:
    """The product's rates (higher is better) against a baseline's, from the same run."""
    return Measurement(
        name, unit, statistics.median(product), min(product), max(product), len(product),
        baseline_name=baseline, baseline_median=statistics.median(rates), target=target, higher_is_better=True,
    )  # fmt: skip


def _single_record(project: Path, model_uri: str, workdir: Path, quick: bool, servers: dict) -> list[Measurement]:
    record = _records(project, model_uri, 1)[0]
    script = workdir / "predict-one.lua"
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps({"record": record}))}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    seconds, rounds = (1, 1) if quick else (4, 3)
    results = []
    for connections in (1, 8):
        rates: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(rounds):  # interleaved: a busy moment of the machine hits every server alike
            for name, base in servers.items():
                url, lua = (f"{base}/live", None) if name == "bare" else (f"{base}/predict", script)
                rates[name].append(_wrk(url, connections, seconds, lua)[0])
        for name, title, target in (
            ("bare", "bare Starlette trivial JSON route, same server", ">= 0.5x"),
            ("baseline", "before", ">= 1.6x"),
        ):
            if name in rates:
                line = f"POST /predict one record, {connections} conn., against the {title}"
                results.append(_against(line, "req/s", rates["product"], title, rates[name], target))
    return results


def _batches(project: Path, model_uri: str, quick: bool, servers: dict) -> list[Measurement]:
    records = _records(project, model_uri, BATCH_ROWS)
    body = json.dumps({"records": records}).encode()
    seconds, rounds = (1, 1) if quick else (4, 3)
    results = []
    for explain in (True, False):
        path = f"/predict?explain={'true' if explain else 'false'}"
        rates: dict[str, list[float]] = {name: [] for name in servers if name != "bare"}
        for _ in range(rounds):
            for name in rates:
                where = "/predict" if name == "naive" else path
                rates[name].append(_post_rate(servers[name], where, body, seconds, BATCH_ROWS))
        label = "with reasons" if explain else "without reasons"
        naive_target = ">= 300,000 rows/s" if explain else ">= 500,000 rows/s"
        for name, title, target in (
            ("naive", "naive app (JSON, DataFrame, pickled pipeline)", naive_target),
            ("baseline", "before", None),
        ):
            if name in rates:
                line = f"POST /predict {BATCH_ROWS:,} records {label}, against the {title}"
                results.append(_against(line, "rows/s", rates["product"], title, rates[name], target))
    return results


def run(project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    started = []
    try:
        product = _serve(project, "app:app", SERVE_OPTIONS, model_uri, workdir / "tp-product.log", "/health/ready")
        bare = _serve(project, "bench.bare_app:app", SERVE_OPTIONS, model_uri, workdir / "tp-bare.log", "/live")
        naive = _serve(project, "bench.naive_app:app", SERVE_OPTIONS, model_uri, workdir / "tp-naive.log", "/live")
        started += [product[0], bare[0], naive[0]]
        servers = {"product": product[1], "bare": bare[1], "naive": naive[1]}
        tree = None if quick else _baseline_tree(project, workdir)  # a smoke run skips "before"
        if tree is not None:
            baseline = _serve(
                tree, "app:app", BASELINE_OPTIONS, model_uri, workdir / "tp-baseline.log", "/health/ready"
            )
            started.append(baseline[0])
            servers["baseline"] = baseline[1]
        results = _single_record(project, model_uri, workdir, quick, {k: v for k, v in servers.items() if k != "naive"})
        results += _batches(project, model_uri, quick, servers)
        return results
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=15)
