"""The multi-replica stack, started by the tests from real parts: PostgreSQL (Debian's
package, initdb in a temporary folder), moto's S3 server, two `uvicorn app:app`
replicas, nginx (Debian's) serving deploy/nginx.conf in front of them, and Prometheus
(Debian's) scraping both with deploy/prometheus.yml. Everything on loopback."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lib.model.bundle import read_pointer
from lib.settings import PROJECT_ROOT
from tests.helpers import COMMITTED_REGISTRY, clone_version
from tests.servers import NginxServer, PrometheusServer, Server, launch

TOKEN = "stack-admin-token"
JOB_LEASE_S = 8  # short, for the test; long enough for a niced job on a busy machine


@dataclass
class Stack:
    folder: Path
    database: str
    registry: str
    environment: dict[str, str]
    candidates: list[str]
    replicas: dict[str, Server] = field(default_factory=dict)
    nginx: NginxServer | None = None
    prometheus: PrometheusServer | None = None

    def start_replica(self, name: str) -> Server:
        """Start (or restart) a replica: its own KPI_DIR and cache, the shared rest."""
        workdir = self.folder / name
        workdir.mkdir(exist_ok=True)
        before = self.replicas.get(name)
        port = int(before.url.rsplit(":", 1)[1]) if before is not None else None
        self.replicas[name] = launch(workdir, port, REPLICA_ID=name, **self.environment)
        return self.replicas[name]

    def stop(self) -> None:
        for part in (self.prometheus, self.nginx, *self.replicas.values()):
            if part is not None:
                part.stop()


def call(url: str, method: str = "GET", body: object = None, token: bool = False) -> tuple[int, dict]:
    headers = {"content-type": "application/json"} if body is not None or method == "POST" else {}
    if token:
        headers["authorization"] = f"Bearer {TOKEN}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def stack(postgres_server, moto_endpoint, tmp_path_factory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("stack")
    aws = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }
    registry = f"s3://stack-{secrets.token_hex(3)}/telco"
    # The first deployment as the compose file does it, then two candidate versions.
    local = folder / "local-registry"
    served = read_pointer(COMMITTED_REGISTRY)
    (local / served).parent.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(COMMITTED_REGISTRY / served), str(local / served)], check=True)
    (local / "current.json").write_text(json.dumps({"version": served}))
    cli = [sys.executable, "-m", "lib.registry", "--registry", registry]
    environment = {**os.environ, **aws}
    subprocess.run([*cli, "seed", str(local)], check=True, cwd=PROJECT_ROOT, env=environment, capture_output=True)
    candidates = [f"{served}-b", f"{served}-c"]
    for name in candidates:
        clone_version(local, served, name)
        subprocess.run(
            [*cli, "publish", str(local / name)], check=True, cwd=PROJECT_ROOT, env=environment, capture_output=True
        )
    stack = Stack(
        folder,
        postgres_server.new_database(),
        registry,
        {
            **aws,
            "MODEL_URI": registry,
            "ADMIN_TOKEN": TOKEN,
            "TRUSTED_PROXIES": "127.0.0.1",
            "JOB_LEASE_S": str(JOB_LEASE_S),
        },
        candidates,
    )
    stack.environment["MONITORING_DB"] = stack.database
    try:
        for name in ("replica-a", "replica-b"):
            stack.start_replica(name)
        addresses = [server.url.removeprefix("http://") for server in stack.replicas.values()]
        stack.nginx = NginxServer(addresses, folder / "nginx")
        stack.prometheus = PrometheusServer(addresses, folder / "prometheus")
        yield stack
    finally:
        stack.stop()
