"""Two real app processes on one S3 registry (moto's server over HTTP): a retrain on one
is published and promoted, the other converges within the documented delay; a rollback
on the other comes back; with S3 down both keep serving and say they are degraded, and
a process started while S3 is down serves its local copy."""

import json
import time
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from lib.model.bundle import read_pointer
from lib.model_loader import S3_POLL_S
from lib.registry import S3Registry
from lib.retraining.jobs import FINAL
from tests.helpers import COMMITTED_REGISTRY, free_port
from tests.servers import launch

pytestmark = pytest.mark.slow
TOKEN = "replica-token"
CONVERGE_S = S3_POLL_S + 5  # the poll interval, plus a download and a load


def request(server, method: str, path: str, body: bytes | None = None, token: bool = False) -> tuple[int, dict]:
    headers = {"content-type": "application/json"} if body or method == "POST" else {}
    if token:
        headers["authorization"] = f"Bearer {TOKEN}"
    call = urllib.request.Request(f"{server.url}{path}", body, headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def served(server) -> str | None:
    return request(server, "GET", "/health")[1]["model_version"]


def wait_for(condition, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def test_replicas_converge_and_survive_s3_going_down(tmp_path, telco_model, monkeypatch):
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "MODEL_URI": "s3://replicas/churn",
        "ADMIN_TOKEN": TOKEN,
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, env[name])
    boto3.client("s3").create_bucket(Bucket="replicas")
    first = read_pointer(COMMITTED_REGISTRY)
    registry = S3Registry(env["MODEL_URI"])
    registry.publish(COMMITTED_REGISTRY / first)
    registry.promote(first, "setup", "first served")

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir(), (tmp_path / "c").mkdir()
    a, b = launch(tmp_path / "a", **env), launch(tmp_path / "b", **env)
    c = None
    try:
        wait_for(lambda: served(a) == first and served(b) == first, 30)
        status, started = request(a, "POST", "/train", token=True)
        assert status == 202, started
        job_id = started["job"]["id"]
        # One reading per poll: two readings could see "queued" then "running" and stop too early.
        wait_for(lambda: request(a, "GET", f"/train/{job_id}", token=True)[1]["job"]["status"] in FINAL, 120)
        job = request(a, "GET", f"/train/{job_id}", token=True)[1]["job"]
        assert job["status"] == "succeeded" and job["result"]["promoted"], job
        new = job["result"]["version"]
        assert any("uploading" in line for line in job["log"])
        wait_for(lambda: served(a) == new, 15)
        delay = wait_for(lambda: served(b) == new, CONVERGE_S)
        print(f"replica b converged {delay:.1f} s after a promoted")
        assert {v["status"] for v in request(b, "GET", "/models")[1]["versions"]} == {"serving", "archived"}

        status, rolled = request(b, "POST", "/models/rollback", b'{"reason": "replica test"}', token=True)
        assert status == 200 and rolled["served_here"] == first
        wait_for(lambda: served(a) == first, CONVERGE_S)

        moto.stop()  # S3 goes away
        health = request(a, "GET", "/health")[1]
        wait_for(lambda: request(a, "GET", "/health")[1]["status"] == "degraded", S3_POLL_S + 5)
        health = request(a, "GET", "/health")[1]
        assert "model registry" in health["reason"] and health["model_version"] == first
        record = json.dumps({"record": {s.name: s.default for s in telco_model.schema.features}}).encode()
        assert request(a, "POST", "/predict", record)[0] == 200  # predictions go on
        status, _ = request(a, "POST", "/models/rollback", token=True)
        assert status == 503  # the registry cannot be changed while S3 is down, and it says so

        c = launch(tmp_path / "c", **{**env, "MODEL_CACHE_DIR": str(tmp_path / "b" / "cache")})
        wait_for(lambda: request(c, "GET", "/health")[1].get("model_version") == first, 30)
        health = request(c, "GET", "/health")[1]
        assert health["status"] == "degraded" and "local copy" in health["model_source"]
        assert request(c, "POST", "/predict", record)[0] == 200
    finally:
        for server in (a, b, c):
            if server is not None:
                server.stop()
        moto.stop()
