"""Retraining jobs as the server sees them: start one at a time, read their progress.

A job is a folder under KPI_DIR/jobs/<id> (state.json, log.txt, pid.json, and data.csv
for an upload) and a separate process (`python -m lib.retraining.job`), so a page rerun or an
HTTP request only starts it and reads its files. One job at a time: `active` is created
with O_EXCL, so two starts at once (two sessions, two requests, two processes on one
machine) give one job; the second caller gets the running job back. A job whose process
died without finishing is reported failed, and no longer blocks the next one.

With a PostgreSQL store (MONITORING_DB=postgresql://...), the slot and every job's state
live there too (lib.retraining.shared): the slot is one for all replicas, any replica
reads any job, and the replica that started a job still runs and watches its process.

Cancelling writes a `cancel` file, then stops the job's process group. The job writes
its pid before it looks for that file, and the canceller writes the file before it looks
for the pid, so either the job sees the request (and ends without training or promoting)
or the canceller sees the process (and stops it). The slot is freed only once the
process is known to be gone; until then the job reads as "cancelling".
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from lib.retraining.shared import SharedJobs
from lib.settings import PROJECT_ROOT, Settings, get_settings
from lib.storage.files import write_json
from lib.training.threads import ONE_THREAD

logger = logging.getLogger(__name__)

ACTIVE_FILE = "active"
# A job's status as its state file and GET /train/{id} give it; the last three are final.
JobStatus = Literal["queued", "running", "cancelling", "succeeded", "failed", "cancelled"]
FINAL: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
CANCEL_FILE = "cancel"
PID_FILE = "pid.json"  # written by the starter as soon as the process exists
CANCELLING: JobStatus = "cancelling"
UPLOAD_FILE = "data.csv"
HOLDOUT_FILE = "holdout.csv"  # the newest recorded outcomes, kept out of training
JOB_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
LOG_TAIL = 60
QUEUED_TIMEOUT_S = 60  # a job process writes its pid within a second or two of starting
TERMINATE_GRACE_S = 10  # after SIGTERM, then SIGKILL

_start_lock = threading.Lock()
_finish_lock = threading.Lock()


def jobs_dir(settings: Settings) -> Path:
    return settings.kpi_dir / "jobs"


def shared_jobs(settings: Settings) -> SharedJobs | None:
    """The job board shared by replicas, when the store is PostgreSQL."""
    if not settings.monitoring_postgres:
        return None
    return SharedJobs(settings.monitoring_postgres, settings.replica_id, settings.job_lease_s)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cancel_requested_by(folder: Path) -> str | None:
    """Who asked to cancel the job in this folder, or None: the one reading of `cancel`,
    for the server and for the job process itself."""
    try:
        return (folder / CANCEL_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _job_pid(folder: Path, state: dict[str, Any]) -> int | None:
    """The job process's id: from its state, or from what the starter wrote."""
    if state.get("pid"):
        return int(state["pid"])
    try:
        return int(json.loads((folder / PID_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _vanished(folder: Path, state: dict[str, Any]) -> bool:
    """A running job whose process is gone, or a queued one that never started."""
    pid = _job_pid(folder, state)
    if pid is not None:
        return not _alive(pid)
    started = datetime.fromisoformat(state["created_at"])
    return (datetime.now(UTC) - started).total_seconds() > QUEUED_TIMEOUT_S


def _finish_dead(folder: Path, error: str) -> dict[str, Any]:
    """Record the end of a job whose process is gone: cancelled if someone asked, else failed.

    The state is read again first: the job may have written its own end (succeeded) just
    before it exited, and that must stand.
    """
    with _finish_lock:
        state = _read_state(folder) or {}
        if state.get("status") in FINAL:
            return state
        who = cancel_requested_by(folder)
        if who is not None:
            state.update(status="cancelled", finished_at=_now(), error=f"cancelled by {who}")
        else:
            state.update(status="failed", finished_at=_now(), error=error)
        write_json(folder / "state.json", state)
        return state


def _stop_group(pid: int) -> None:
    """SIGTERM the job's process group, SIGKILL it if it lingers; return once it is gone
    (or after TERMINATE_GRACE_S + 5 s)."""
    for sig, grace in ((signal.SIGTERM, TERMINATE_GRACE_S), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)  # the job runs in its own session: its group
        deadline = time.monotonic() + grace
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not _alive(pid):
            return


def cancel_job(job_id: str, requested_by: str, settings: Settings | None = None) -> dict[str, Any] | None:
    """Stop a queued or running job (its whole process group); None for an unknown id.

    What it wrote stays unlisted (a hidden partial folder); a version it already promoted
    stays served: the registry says so, and a rollback undoes it.
    """
    settings = settings or get_settings()
    state = job_state(job_id, settings)
    if state is None or state["status"] in FINAL:
        return state
    folder = jobs_dir(settings) / job_id
    shared = shared_jobs(settings)
    if shared is not None:
        shared.request_cancel(job_id, requested_by)  # read by the job at its next step, wherever it runs
        if not folder.is_dir():  # another replica runs it
            return job_state(job_id, settings)
    (folder / CANCEL_FILE).write_text(requested_by, encoding="utf-8")  # before looking for the pid
    pid = _job_pid(folder, _read_state(folder) or state)
    if pid is not None:
        _stop_group(pid)
    state = job_state(job_id, settings)  # a gone process is recorded as cancelled here
    if state is not None and state["status"] in FINAL:
        _release(jobs_dir(settings) / ACTIVE_FILE, job_id)
    return state  # else "cancelling": the job sees the request as it starts, and its watcher frees the slot


def _read_state(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def job_state(job_id: str, settings: Settings | None = None) -> dict[str, Any] | None:
    """The job's state with the tail of its log; None for an unknown id."""
    settings = settings or get_settings()
    if not JOB_ID.match(job_id):
        return None
    shared = shared_jobs(settings)
    if shared is None:
        return _local_state(job_id, settings)
    state = shared.read(job_id)
    if state is not None and state["status"] not in FINAL and (jobs_dir(settings) / job_id).is_dir():
        local = _local_state(job_id, settings)  # this replica runs it: a dead process is seen here first
        if local is not None and local["status"] in FINAL:
            shared.write({k: v for k, v in local.items() if k != "log"}, local["log"])
            state = shared.read(job_id)
    return state


def _local_state(job_id: str, settings: Settings) -> dict[str, Any] | None:
    """The job's state from its folder on this machine."""
    folder = jobs_dir(settings) / job_id
    state = _read_state(folder)
    if state is None:
        return None
    if state["status"] not in FINAL:
        if _vanished(folder, state):
            state = _finish_dead(folder, "the training process ended before finishing")
        elif cancel_requested_by(folder) is not None:
            state = {**state, "status": CANCELLING}
    try:
        lines = (folder / "log.txt").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    return {**state, "log": lines[-LOG_TAIL:]}


def active_job(settings: Settings | None = None) -> dict[str, Any] | None:
    """The running job, if any (a finished or dead one releases the slot)."""
    settings = settings or get_settings()
    shared = shared_jobs(settings)
    if shared is not None:
        running = shared.active()
        if running is not None and (jobs_dir(settings) / running["id"]).is_dir():
            return job_state(running["id"], settings)  # this replica runs it: its process is checked here
        return running
    marker = jobs_dir(settings) / ACTIVE_FILE
    try:
        job_id = marker.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    state = job_state(job_id, settings)
    if state is None or state["status"] in FINAL:
        _release(marker, job_id)
        return None
    return state


def _release(marker: Path, job_id: str) -> None:
    try:
        if marker.read_text(encoding="utf-8").strip() == job_id:
            marker.unlink()
    except FileNotFoundError:
        pass


def recent_jobs(limit: int = 10, settings: Settings | None = None) -> list[dict[str, Any]]:
    settings = settings or get_settings()
    shared = shared_jobs(settings)
    if shared is not None:
        return shared.recent(limit)
    folder = jobs_dir(settings)
    if not folder.is_dir():
        return []
    ids = sorted((p.name for p in folder.iterdir() if JOB_ID.match(p.name)), reverse=True)[:limit]
    return [state for state in (job_state(i, settings) for i in ids) if state is not None]


def start_retrain(
    requested_by: str,
    data: pd.DataFrame | None,
    data_name: str,
    settings: Settings | None = None,
    holdout: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], bool]:
    """Start a job on the bundled data (data=None) or on a checked table (an upload, or
    the bundled data with recorded outcomes); `holdout`: labelled rows kept out of
    training, on which the gate also compares the new model with the served one.

    Returns (state, True) for a new job, or (the running job's state, False).
    """
    settings = settings or get_settings()
    shared = shared_jobs(settings)
    with _start_lock:
        if shared is not None:
            return _start_shared(shared, requested_by, data, data_name, settings, holdout)
        running = active_job(settings)
        if running is not None:
            return running, False
        folder = jobs_dir(settings)
        folder.mkdir(parents=True, exist_ok=True)
        job_id = _new_job_id()
        try:
            descriptor = os.open(folder / ACTIVE_FILE, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # another process started one between our check and now
            running = active_job(settings)
            if running is not None:
                return running, False
            return start_retrain(requested_by, data, data_name, settings, holdout)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(job_id)
        state = _new_state(job_id, requested_by, data, data_name, settings, holdout)
        _launch(state, data, settings, holdout)
        return {**state, "log": []}, True


def _new_job_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def _new_state(
    job_id: str,
    requested_by: str,
    data: pd.DataFrame | None,
    data_name: str,
    settings: Settings,
    holdout: pd.DataFrame | None = None,
) -> dict[str, Any]:
    return {
        "id": job_id,
        "status": "queued",
        "progress": 0.0,
        "step": "starting",
        "requested_by": requested_by,
        "data": "bundled" if data is None else "upload",
        "data_name": data_name,
        "created_at": _now(),
        "replica": settings.replica_id,
        "holdout_rows": 0 if holdout is None else len(holdout),
    }


def _launch(
    state: dict[str, Any], data: pd.DataFrame | None, settings: Settings, holdout: pd.DataFrame | None = None
) -> None:
    """The job's folder on this machine, then its process."""
    job_dir = jobs_dir(settings) / state["id"]
    job_dir.mkdir(parents=True)
    if data is not None:  # written comma-separated, whatever the upload used
        data.to_csv(job_dir / UPLOAD_FILE, index=False)
    if holdout is not None:
        holdout.to_csv(job_dir / HOLDOUT_FILE, index=False)
    write_json(job_dir / "state.json", state)
    _spawn(job_dir, settings)


def _start_shared(
    shared: SharedJobs,
    requested_by: str,
    data: pd.DataFrame | None,
    data_name: str,
    settings: Settings,
    holdout: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], bool]:
    """Take the slot shared by replicas, or get back the job that holds it."""
    state = _new_state(_new_job_id(), requested_by, data, data_name, settings, holdout)
    running = shared.claim(state)
    if running is not None:
        return running, False
    try:
        _launch(state, data, settings, holdout)
    except Exception as exc:  # the slot must not stay taken by a job that never started
        shared.write({**state, "status": "failed", "finished_at": _now(), "error": f"could not start: {exc}"})
        raise
    return {**state, "log": []}, True


def _spawn(job_dir: Path, settings: Settings) -> None:
    """Start the job's process, record its pid at once (a cancel may come before the job
    writes its own), and watch it from a thread."""
    environment = {**os.environ, **ONE_THREAD}
    with open(job_dir / "process.log", "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "lib.retraining.job", str(job_dir)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the server does not kill a job mid-write
        )
    write_json(job_dir / PID_FILE, process.pid)
    threading.Thread(target=_watch, args=(process, job_dir, settings), name=f"job-{job_dir.name}", daemon=True).start()


def _watch(process: subprocess.Popen, job_dir: Path, settings: Settings) -> None:
    """Wait for the job's process; record a crash; serve what it promoted."""
    code = process.wait()
    state = _finish_dead(job_dir, f"the training process ended with code {code} before finishing")
    _release(jobs_dir(settings) / ACTIVE_FILE, job_dir.name)
    shared = shared_jobs(settings)
    if shared is not None:  # the job wrote its own end there, unless it crashed: then this is it
        try:
            job_state(job_dir.name, settings)
        except Exception as exc:
            logger.warning("the job's end could not be recorded in the shared store: %s", exc)
    promoted = state.get("status") == "succeeded" and (state.get("result") or {}).get("promoted")
    if promoted and get_settings().model_uri == settings.model_uri:  # still the registry this process serves
        from lib.model_loader import ModelNotAvailable, refresh_model

        try:
            refresh_model(settings)
        except ModelNotAvailable as exc:  # the cache keeps the old model and says why
            logger.warning("the promoted model cannot be loaded: %s", exc.reason)
