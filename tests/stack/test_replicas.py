"""Many replicas, one truth: predictions through nginx all land in the shared PostgreSQL
store and every replica reports the same counts; one retraining job across replicas;
concurrent promotions on S3 with exactly one winner; a replica killed under load;
Prometheus summing to the store's count; PostgreSQL stopped under load."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from urllib.parse import urlsplit

import psycopg
import pytest

from lib.model_loader import load_model
from lib.registry import S3Registry
from lib.serving.watcher import S3_POLL_S
from tests.helpers import COMMITTED_REGISTRY, wait_for
from tests.stack.conftest import JOB_LEASE_S, call

pytestmark = pytest.mark.slow


def send_predictions(
    url: str, record: dict, count: int, threads: int = 4, pause_s: float = 0.0, seconds: float | None = None
) -> Counter:
    """POST /predict `count` times (or as many as fit in `seconds`) over keep-alive
    connections; the statuses answered."""
    statuses: Counter = Counter()
    lock = threading.Lock()
    body = json.dumps({"record": record}).encode()
    host = urlsplit(url).netloc
    remaining = iter(range(count))
    deadline = time.monotonic() + seconds if seconds is not None else None

    def worker() -> None:
        connection = http.client.HTTPConnection(host, timeout=30)
        for _ in remaining:  # shared iterator: `count` requests in all
            if deadline is not None and time.monotonic() > deadline:
                break
            try:
                connection.request("POST", "/predict", body, {"content-type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, timeout=30)
                status = 0  # no answer at all
            with lock:
                statuses[status] += 1
            if pause_s:
                time.sleep(pause_s)
        connection.close()

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(timeout=300)
    return statuses


def stored(stack, where: str = "outcome = 'ok' AND source = 'api'") -> int:
    with psycopg.connect(stack.database) as connection:
        return connection.execute(f"SELECT count(*) FROM predictions WHERE {where}").fetchone()[0]


@pytest.fixture(scope="module")
def record() -> dict:
    """The committed model's typical record (the stack serves that model)."""
    model = load_model(str(COMMITTED_REGISTRY))
    return {spec.name: spec.default for spec in model.schema.features}


def test_predictions_through_nginx_all_land_in_the_shared_store_and_every_replica_agrees(stack, record):
    before = stored(stack)
    statuses = send_predictions(stack.nginx.url, record, 1000)
    assert statuses == Counter({200: 1000})
    wait_for(lambda: stored(stack) == before + 1000, timeout=30)
    reports = [call(f"{server.url}/metrics/system?window=5m")[1] for server in stack.replicas.values()]
    for report in reports:
        assert report["by_source"]["api"]["requests"] == before + 1000
        assert set(report["by_replica"]) == {"replica-a", "replica-b"}  # round-robin: both served
    assert reports[0]["by_replica"] == reports[1]["by_replica"]
    assert all(r["requests"] > 0 for r in reports[0]["by_replica"].values())
    # The app does not compress API answers; nginx does for a client that asks.
    asking = urllib.request.Request(f"{stack.nginx.url}/metrics/system?window=5m", headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(asking, timeout=30) as answer:
        assert answer.headers["Content-Encoding"] == "gzip"
        assert json.loads(gzip.decompress(answer.read()))["by_source"]["api"]["requests"] == before + 1000
    direct = urllib.request.Request(
        f"{stack.replicas['replica-a'].url}/metrics/system", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(direct, timeout=30) as answer:
        assert answer.headers.get("Content-Encoding") is None


def test_prometheus_sums_each_replicas_counter_to_the_store_count(stack, record):
    before = stored(stack)
    assert send_predictions(stack.nginx.url, record, 200) == Counter({200: 200})
    wait_for(lambda: stored(stack) == before + 200, timeout=30)

    def prometheus_total() -> float | None:
        result = stack.prometheus.query("sum(prediction_dashboard_predictions_total{source='api'})")
        return float(result[0]["value"][1]) if result else None

    wait_for(lambda: prometheus_total() == before + 200, timeout=60)
    up = stack.prometheus.query("up{job='prediction-dashboard'}")
    assert sorted(float(r["value"][1]) for r in up) == [1.0, 1.0]


def test_a_page_served_through_nginx_keeps_its_websocket_on_one_replica(stack, page):
    """Streamlit's websocket through nginx's upgrade headers, a submit scored there, and
    the batch page's download fetched from the replica that made it."""
    from playwright.sync_api import expect

    # The Overview first: a fresh server's first session opening a deep link gets Streamlit's
    # "Page not found" modal over the right page (a Streamlit bug, seen without nginx too).
    page.goto(stack.nginx.url)
    expect(page.get_by_role("heading", name="Prediction dashboard")).to_be_visible(timeout=30_000)
    page.goto(f"{stack.nginx.url}/score-customer")
    expect(page.get_by_text("Submit the form to see")).to_be_visible(timeout=30_000)
    page.get_by_role("spinbutton", name="tenure").fill("2")
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_text("What if?")).to_be_visible()
    ui_rows = wait_for(lambda: stored(stack, "source = 'ui'"), timeout=30)
    with psycopg.connect(stack.database) as connection:
        replicas = connection.execute("SELECT DISTINCT replica FROM predictions WHERE source = 'ui'").fetchall()
    assert ui_rows >= 1 and len(replicas) == 1  # the session lived on one replica
    page.goto(f"{stack.nginx.url}/batch-scoring")  # a download is kept by the session's replica
    page.get_by_role("button", name="Or score a sample of 1,000 customers from the bundled data").click()
    link = page.get_by_role("link", name="Download every row with its scores (CSV)")
    for _ in range(3):  # nginx sends it to that replica every time
        with page.expect_download() as download:
            link.click()
        assert download.value.path().read_text().count("\n") == 1001


def test_one_retraining_job_across_replicas_and_a_frozen_one_fails_after_its_lease(stack):
    a, b = stack.replicas["replica-a"], stack.replicas["replica-b"]
    status, body = call(f"{a.url}/train", "POST", token=True)
    assert status == 202, body
    job_id = body["job"]["id"]
    status, refused = call(f"{b.url}/train", "POST", token=True)
    assert status == 409 and refused["details"][0]["job_id"] == job_id
    assert refused["details"][0]["replica"] == "replica-a"
    for server in (a, b):
        status, seen = call(f"{server.url}/train/{job_id}", token=True)
        assert status == 200 and seen["job"]["id"] == job_id
    pid_file = stack.folder / "replica-a" / "kpis" / "jobs" / job_id / "pid.json"
    pid = wait_for(lambda: pid_file.exists() and json.loads(pid_file.read_text()), timeout=30)
    wait_for(lambda: call(f"{b.url}/train/{job_id}", token=True)[1]["job"]["status"] == "running", timeout=60)
    os.killpg(pid, signal.SIGSTOP)  # frozen: no heartbeat, as if its machine were gone
    try:
        failed = wait_for(
            lambda: (job := call(f"{b.url}/train/{job_id}", token=True)[1]["job"])["status"] == "failed" and job,
            timeout=JOB_LEASE_S + 30,
        )
        assert "lease ran out" in failed["error"]
    finally:
        os.killpg(pid, signal.SIGKILL)  # a stopped process dies of SIGKILL too
    assert call(f"{a.url}/train/{job_id}", token=True)[1]["job"]["status"] == "failed"
    # Killed outright: its replica sees the process end and says so at once, everywhere.
    status, body = call(f"{a.url}/train", "POST", token=True)  # the slot is free again
    assert status == 202
    killed_id = body["job"]["id"]
    pid_file = stack.folder / "replica-a" / "kpis" / "jobs" / killed_id / "pid.json"
    os.killpg(wait_for(lambda: pid_file.exists() and json.loads(pid_file.read_text()), timeout=30), signal.SIGKILL)
    failed = wait_for(
        lambda: (job := call(f"{b.url}/train/{killed_id}", token=True)[1]["job"])["status"] == "failed" and job,
        timeout=JOB_LEASE_S + 30,
    )
    assert "ended" in failed["error"] or "lease ran out" in failed["error"]
    status, body = call(f"{b.url}/train", "POST", token=True)  # and B may start one
    assert status == 202
    cancelled = call(f"{a.url}/train/{body['job']['id']}", "DELETE", token=True)  # cancelled from afar
    assert cancelled[0] in (200, 202)
    wait_for(lambda: call(f"{b.url}/train/{body['job']['id']}", token=True)[1]["job"]["status"] == "cancelled", 60)


def test_two_promotions_at_the_same_instant_exactly_one_wins(stack, s3_env):
    a, b = stack.replicas["replica-a"], stack.replicas["replica-b"]
    registry = S3Registry(stack.registry)
    current = registry.served()
    events_before = len(registry.audit())
    barrier = threading.Barrier(2)
    answers: dict[str, tuple[int, dict]] = {}

    def promote(server, version: str) -> None:
        barrier.wait(timeout=30)
        answers[version] = call(
            f"{server.url}/models/{version}/promote", "POST", {"reason": "race", "from_version": current}, token=True
        )

    threads = [threading.Thread(target=promote, args=pair) for pair in zip((a, b), stack.candidates, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    statuses = sorted(status for status, _ in answers.values())
    assert statuses == [200, 409], answers
    winner = next(version for version, (status, _) in answers.items() if status == 200)
    assert registry.served() == winner
    audit = registry.audit()
    assert len(audit) == events_before + 1 and audit[-1].to_version == winner and audit[-1].from_version == current
    for server in (a, b):  # the one that promoted serves it at once, the other within a poll
        wait_for(lambda server=server: call(f"{server.url}/health")[1]["model_version"] == winner, S3_POLL_S + 10)


def test_a_replica_killed_under_load_loses_no_answered_prediction(stack, record):
    before = stored(stack)
    victim = stack.replicas["replica-a"]
    results: list[Counter] = []
    load = threading.Thread(
        target=lambda: results.append(send_predictions(stack.nginx.url, record, 1200, threads=4, pause_s=0.002))
    )
    load.start()
    wait_for(lambda: stored(stack) >= before + 200, timeout=60)
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(timeout=10)
    load.join(timeout=300)
    statuses = results[0]
    assert sum(statuses.values()) == 1200
    assert statuses[200] >= 1200 - 20, statuses  # the few in flight on the killed replica may fail
    # The killed replica comes back (as its orchestrator would restart it) and writes
    # what it had answered but not yet stored. A request it scored and logged but could
    # not answer before it died is stored too: it was predicted, only its answer was lost.
    stack.start_replica("replica-a")
    answered = statuses[200]
    try:
        wait_for(lambda: stored(stack) >= before + answered, timeout=60)
    except AssertionError:
        health = call(f"{stack.replicas['replica-a'].url}/health")[1]["checks"]["store"]
        raise AssertionError(
            f"{stored(stack) - before} stored for {answered} answered 200; A's store: {health}"
        ) from None
    assert stored(stack) - before <= sum(statuses.values())


def test_postgresql_stopped_under_load_loses_nothing(stack, record, postgres_server):
    before = stored(stack)
    postgres_server.stop()
    try:
        statuses = send_predictions(stack.nginx.url, record, 100_000, threads=2, pause_s=0.02, seconds=20)
        degraded = [call(f"{server.url}/health")[1] for server in stack.replicas.values()]
    finally:
        postgres_server.start()
    answered = statuses[200]
    assert set(statuses) == {200} and answered > 200  # predictions went on, for 20 s
    for health in degraded:
        assert health["status"] == "degraded"
        assert "PostgreSQL" in health["checks"]["store"]["reason"]
    wait_for(lambda: stored(stack) == before + answered, timeout=90)  # the queued rows landed
    for server in stack.replicas.values():
        wait_for(lambda server=server: call(f"{server.url}/health")[1]["checks"]["store"]["ok"], timeout=60)
