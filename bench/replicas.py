"""More than one replica: logging on the request path with a PostgreSQL store (against
SQLite, measured in the same run by bench.monitoring), the writer's cost per row,
dashboard queries on PostgreSQL at 10k / 100k / 1M logged rows, and POST /predict
through nginx with two replicas against one replica alone.

The servers are Debian's PostgreSQL and nginx, started on loopback by the same helpers
the tests use (tests.servers); without them this part is skipped and says why.
"""

from __future__ import annotations

import json
import shutil
import statistics
from glob import glob
from pathlib import Path

from bench.http import _record, _wrk
from bench.monitoring import SIZES, logging_overhead, queries_at
from bench.servers import UVICORN, start
from bench.timing import Measurement
from lib.model_loader import LoadedModel
from lib.monitoring.postgres import PostgresStore

LABEL = ", PostgreSQL store"


def missing() -> str | None:
    """Why this part cannot run here, or None."""
    if not glob("/usr/lib/postgresql/*/bin/postgres") and shutil.which("postgres") is None:
        return "PostgreSQL's server is not installed (apt-get install -y postgresql)"
    if not Path("/usr/sbin/nginx").exists():
        return "nginx is not installed (apt-get install -y nginx-light)"
    if shutil.which("wrk") is None:
        return "wrk is not installed (apt-get install -y wrk)"
    return None


def run(model: LoadedModel, project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    from tests.servers import PostgresServer

    reason = missing()
    if reason is not None:
        print(f"skipping the replica benchmarks: {reason}")
        return []
    server = PostgresServer()
    try:
        results = logging_overhead(model, workdir, quick, server.new_database(), LABEL)
        sizes, repeats = ((10_000,), 5) if quick else (SIZES, 15)  # quick: a smoke run
        for rows in sizes:
            store = PostgresStore(server.new_database(), "bench")
            results += queries_at(model, workdir, rows, repeats, store, LABEL)
        results += throughput(project, model_uri, workdir, server.new_database(), quick)
    finally:
        server.remove()
    return results


def throughput(project: Path, model_uri: str, workdir: Path, database: str, quick: bool) -> list[Measurement]:
    """POST /predict, 8 connections: one replica direct, then nginx in front of two."""
    from tests.servers import NginxServer

    script = workdir / "predict-replicas.lua"
    body = json.dumps(_record(project))
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    seconds, repeats = (1, 1) if quick else (5, 3)
    replicas = []
    nginx = None
    try:
        for name in ("a", "b"):
            environment = {"MONITORING_DB": database, "REPLICA_ID": name, "KPI_DIR": str(workdir / f"kpis-{name}")}
            log = workdir / f"replica-{name}.log"
            replicas.append(start(project, model_uri, log, UVICORN, "/health/ready", environment))
        nginx = NginxServer([url.removeprefix("http://") for _, url in replicas], workdir / "nginx")
        one, two = [], []
        for _ in range(repeats):  # interleaved: the machine's noise hits both
            one.append(_wrk(f"{replicas[0][1]}/predict", 8, seconds, script)[0])
            two.append(_wrk(f"{nginx.url}/predict", 8, seconds, script)[0])
    finally:
        if nginx is not None:
            nginx.stop()
        for process, _ in replicas:
            process.terminate()
            process.wait(timeout=10)
    single = statistics.median(one)
    return [
        Measurement(
            "POST /predict, one replica alone, 8 conn.",
            "req/s",
            single,
            min(one),
            max(one),
            len(one),
            higher_is_better=True,
        ),
        Measurement(
            "POST /predict through nginx, two replicas, 8 conn. (2 cores: the ratio is capped)",
            "req/s",
            statistics.median(two),
            min(two),
            max(two),
            len(two),
            higher_is_better=True,
            baseline_name="one replica alone",
            baseline_median=single,
        ),
    ]
