"""The job board replicas share in PostgreSQL: one slot for all, any job readable
anywhere, a lapsed lease reported as a failure, a cancel asked from another replica."""

import time

import pytest

from lib.retraining.shared import SharedJobs
from tests.helpers import wait_for


def state(job_id: str, status: str = "queued") -> dict:
    return {"id": job_id, "status": status, "progress": 0.0, "step": "starting", "created_at": "2026-11-30T00:00:00"}


@pytest.fixture
def boards(postgres_url):
    return SharedJobs(postgres_url, "replica-a", lease_s=30), SharedJobs(postgres_url, "replica-b", lease_s=30)


def test_one_slot_for_every_replica_and_every_job_readable_anywhere(boards):
    a, b = boards
    assert a.claim(state("20261130T000000Z-aaaaaa")) is None
    running = b.claim(state("20261130T000001Z-bbbbbb"))
    assert running["id"] == "20261130T000000Z-aaaaaa" and running["replica"] == "replica-a"
    assert b.read("20261130T000001Z-bbbbbb") is None  # the refused start left nothing
    a.write({**state("20261130T000000Z-aaaaaa", "running"), "progress": 0.5}, ["12:00:00 step one"])
    seen = b.read("20261130T000000Z-aaaaaa")
    assert (seen["status"], seen["progress"], seen["log"]) == ("running", 0.5, ["12:00:00 step one"])
    assert b.active()["id"] == "20261130T000000Z-aaaaaa"
    a.write(state("20261130T000000Z-aaaaaa", "succeeded"))  # a final state frees the slot
    assert b.active() is None
    assert b.claim(state("20261130T000002Z-cccccc")) is None
    assert [j["id"] for j in a.recent(10)] == ["20261130T000002Z-cccccc", "20261130T000000Z-aaaaaa"]


def test_a_job_whose_lease_lapses_is_reported_failed_and_frees_the_slot(postgres_url):
    dying = SharedJobs(postgres_url, "replica-a", lease_s=1)
    other = SharedJobs(postgres_url, "replica-b", lease_s=30)
    assert dying.claim(state("20261130T000000Z-aaaaaa")) is None
    time.sleep(1.5)
    assert other.read("20261130T000000Z-aaaaaa")["status"] == "queued"  # a first lease: time to start
    dying.write(state("20261130T000000Z-aaaaaa", "running"))  # its process writes: one lease from now
    assert other.read("20261130T000000Z-aaaaaa")["status"] == "running"
    failed = wait_for(lambda: (s := other.read("20261130T000000Z-aaaaaa"))["status"] == "failed" and s, timeout=20)
    assert "lease ran out" in failed["error"] and "replica-a" in failed["error"]
    assert other.claim(state("20261130T000001Z-bbbbbb")) is None  # the slot is free again


def test_a_renewed_lease_keeps_the_job_alive(postgres_url):
    job = SharedJobs(postgres_url, "replica-a", lease_s=1)
    other = SharedJobs(postgres_url, "replica-b", lease_s=30)
    job.claim(state("20261130T000000Z-aaaaaa"))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        job.renew("20261130T000000Z-aaaaaa")
        assert other.read("20261130T000000Z-aaaaaa")["status"] == "queued"
        time.sleep(0.2)


def test_a_cancel_asked_on_another_replica_reaches_the_job(boards):
    a, b = boards
    a.claim(state("20261130T000000Z-aaaaaa"))
    b.request_cancel("20261130T000000Z-aaaaaa", "bob")
    assert a.cancel_requested_by("20261130T000000Z-aaaaaa") == "bob"
    assert b.read("20261130T000000Z-aaaaaa")["status"] == "cancelling"
    b.request_cancel("20261130T000000Z-aaaaaa", "eve")  # the first request stands
    assert a.cancel_requested_by("20261130T000000Z-aaaaaa") == "bob"
