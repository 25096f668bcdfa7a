"""The job slot and job states as the server reads them, on job folders made by hand:
a dead job frees the slot, ids never reach a path, cancelling stops the process group."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from lib.retraining.jobs import (
    ACTIVE_FILE,
    PID_FILE,
    active_job,
    cancel_job,
    job_state,
    jobs_dir,
    recent_jobs,
)
from lib.settings import get_settings


@pytest.fixture
def settings(tmp_path):
    return get_settings({"KPI_DIR": str(tmp_path / "kpis")})


def make_job(settings, job_id, status="running", pid=None, created=None, active=True, log=""):
    folder = jobs_dir(settings) / job_id
    folder.mkdir(parents=True)
    created = created or datetime.now(UTC)
    state = {"id": job_id, "status": status, "progress": 0.5, "step": "training", "created_at": created.isoformat()}
    (folder / "state.json").write_text(json.dumps(state))
    (folder / "log.txt").write_text(log)
    if pid is not None:
        (folder / PID_FILE).write_text(json.dumps(pid))
    if active:
        (jobs_dir(settings) / ACTIVE_FILE).write_text(job_id)
    return folder


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_running_job_whose_process_died_is_failed_and_frees_the_slot(settings):
    folder = make_job(settings, "20261130T010000Z-aaaaaa", pid=dead_pid(), log="step 1\nstep 2\n")
    assert active_job(settings) is None
    state = job_state("20261130T010000Z-aaaaaa", settings)
    assert state["status"] == "failed" and "ended before finishing" in state["error"]
    assert state["log"] == ["step 1", "step 2"]
    assert json.loads((folder / "state.json").read_text())["status"] == "failed"  # recorded, not only shown
    assert not (jobs_dir(settings) / ACTIVE_FILE).exists()


def test_a_queued_job_that_never_started_times_out(settings):
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    make_job(settings, "20261130T010000Z-bbbbbb", status="queued", created=long_ago)
    assert job_state("20261130T010000Z-bbbbbb", settings)["status"] == "failed"
    make_job(settings, "20261130T010001Z-cccccc", status="queued", active=False)
    assert job_state("20261130T010001Z-cccccc", settings)["status"] == "queued"  # just started: wait


@pytest.mark.parametrize(
    "job_id", ["../kpis", "20261130T010000Z-aaaaaa/../../x", "", "x" * 300, "20261130T010000Z-AAAAAA"]
)
def test_anything_but_a_job_id_is_unknown_without_touching_a_path(settings, job_id):
    assert job_state(job_id, settings) is None
    assert cancel_job(job_id, "tester", settings) is None


def test_recent_jobs_are_newest_first_and_other_folders_are_ignored(settings):
    for job_id in ("20261130T010000Z-000001", "20261130T020000Z-000002", "20261130T030000Z-000003"):
        make_job(settings, job_id, status="succeeded", active=False)
    (jobs_dir(settings) / "not-a-job").mkdir()
    assert [job["id"] for job in recent_jobs(2, settings)] == ["20261130T030000Z-000003", "20261130T020000Z-000002"]


def test_cancelling_stops_the_job_process_group_and_records_who(settings):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        make_job(settings, "20261130T010000Z-dddddd", pid=sleeper.pid)
        assert active_job(settings)["id"] == "20261130T010000Z-dddddd"
        assert cancel_job("20261130T010000Z-dddddd", "ops@example", settings)["status"] in ("cancelling", "cancelled")
        assert sleeper.wait(timeout=30) == -15  # SIGTERM to its group; reaped here as the server's watcher does
        state = job_state("20261130T010000Z-dddddd", settings)
        assert state["status"] == "cancelled" and state["error"] == "cancelled by ops@example"
        assert active_job(settings) is None
        again = cancel_job("20261130T010000Z-dddddd", "someone else", settings)
        assert again["error"] == "cancelled by ops@example"  # a final state stays as it was
    finally:
        sleeper.kill()
