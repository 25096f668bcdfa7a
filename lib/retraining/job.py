"""One retraining job, in its own process: `python -m lib.retraining.job JOB_DIR`.

Started by lib.retraining.jobs (the Retrain page and POST /train), never by a page rerun or a
request. It reads job.json (who asked, which data), trains a new version without serving
it, compares it with the served model on the same held-out rows, publishes it to the
registry (local or S3), and promotes it only when the gate passes. Its progress and
log lines go to state.json (replaced atomically) and log.txt in the job folder, where
the server reads them; with a PostgreSQL store, to the shared job board too, with a
lease it renews every lease / 3 seconds (lib.retraining.shared). Killed at any point,
it leaves the served version as it was and no half-written version in the registry.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.storage.files import write_json

if TYPE_CHECKING:
    from lib.model.loaded import LoadedModel
    from lib.retraining.shared import SharedJobs
    from lib.training.config import DatasetConfig

PROGRESS_STEP = re.compile(r"^\[(\d+)/(\d+)\]")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class JobCancelled(Exception):
    """Someone asked to cancel this job (the `cancel` file exists): stop before going further."""


class JobFiles:
    """state.json and log.txt of one job folder, as the job process writes them (and the
    shared job board, when there is one)."""

    def __init__(self, folder: Path, shared: SharedJobs | None = None) -> None:
        self.folder = folder
        self.shared = shared
        self.state: dict[str, Any] = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        self.lines: list[str] = []

    def update(self, **changes: Any) -> None:
        self.state.update(changes)
        write_json(self.folder / "state.json", self.state)
        self._publish()

    def _publish(self) -> None:
        from lib.retraining.jobs import LOG_TAIL
        from lib.retraining.shared import SharedJobsUnavailable

        if self.shared is None:
            return
        try:
            self.shared.write(self.state, self.lines[-LOG_TAIL:])
        except SharedJobsUnavailable as exc:  # the job goes on; its lease says whether it lives
            logging.getLogger(__name__).warning("%s", exc)

    def cancelled_by(self) -> str | None:
        from lib.retraining.jobs import cancel_requested_by
        from lib.retraining.shared import SharedJobsUnavailable

        who = cancel_requested_by(self.folder)
        if who is None and self.shared is not None:
            try:
                who = self.shared.cancel_requested_by(self.state["id"])
            except SharedJobsUnavailable:
                return None
        return who

    def check_not_cancelled(self) -> None:
        if self.cancelled_by() is not None:
            raise JobCancelled

    def log(self, line: str) -> None:
        self.check_not_cancelled()  # at every step: a cancelled job never goes further
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        with open(self.folder / "log.txt", "a", encoding="utf-8") as handle:
            handle.write(f"{stamped}\n")
        self.lines.append(stamped)
        step = PROGRESS_STEP.match(line.strip())
        if step:  # training's own steps: 5 % to 85 %
            done, total = int(step.group(1)), int(step.group(2))
            self.update(progress=round(0.05 + 0.8 * (done - 1) / total, 3), step=line.strip())
        else:
            self._publish()


def _renew_lease(shared: SharedJobs, job_id: str, done: threading.Event) -> None:
    """Every lease / 3 seconds while the job runs: the job is alive."""
    from lib.retraining.shared import SharedJobsUnavailable

    while not done.wait(shared.lease_s / 3):
        try:
            shared.renew(job_id)
        except SharedJobsUnavailable as exc:
            logging.getLogger(__name__).warning("%s", exc)


def run(job: JobFiles) -> dict[str, Any]:
    """The job's work; returns its result (raises on failure)."""
    from lib.model_loader import ModelNotAvailable, load_model
    from lib.registry import open_registry
    from lib.retraining.jobs import UPLOAD_FILE
    from lib.settings import get_settings
    from lib.training.comparison import gate
    from lib.training.config import load_config
    from lib.training.pipeline import train

    settings = get_settings()
    spec = job.state
    job.update(progress=0.02, step="reading the data")
    config = load_config(settings.data_config)
    if spec["data"] == "upload":
        name = f"{config.name} (upload {spec['data_name']})"
        config = replace(config, csv_path=job.folder / UPLOAD_FILE, separator=",", name=name)
    job.log(f"data: {spec['data_name']}; requested by {spec['requested_by']}")
    registry = open_registry(settings.model_uri)
    try:
        champion = load_model(settings.model_uri, settings.model_cache_dir)
        job.log(f"served model: {champion.version}")
    except ModelNotAvailable as exc:
        champion = None
        job.log(f"no served model to compare with ({exc.reason})")
    staging = registry.staging(settings.model_cache_dir)
    result = train(config, staging, job.log, serve=False, champion=champion)
    if registry.remote:
        job.update(progress=0.88, step="publishing to the registry")
        job.log(f"uploading {result.version} to {registry.uri}")
    holdout_comparison = _holdout_comparison(job, champion, result.folder, config)
    registry.publish(result.folder)
    comparison = result.metadata.comparison
    promote, reason = gate(comparison, settings.promotion_metric, settings.promotion_tolerance)
    job.log(reason)
    if promote and holdout_comparison is not None:  # and not worse on the freshest labels either
        promote, why = gate(holdout_comparison, settings.promotion_metric, settings.promotion_tolerance)
        reason = f"{reason}; on the newest recorded outcomes, {why}"
        job.log(f"newest recorded outcomes: {why}")
    if promote:
        job.check_not_cancelled()  # the last moment a cancel can stop the switch
        job.update(progress=0.95, step="promoting")
        registry.promote(result.version, spec["requested_by"], reason, action="auto_promote")
        job.log(f"now serving {result.version}")
    return {
        "version": result.version,
        "promoted": promote,
        "reason": reason,
        "metric": settings.promotion_metric,
        "tolerance": settings.promotion_tolerance,
        "test_metrics": result.metadata.test_metrics,
        "comparison": comparison,
        "holdout_comparison": holdout_comparison,
    }


def _holdout_comparison(
    job: JobFiles, champion: LoadedModel | None, folder: Path, config: DatasetConfig
) -> dict[str, Any] | None:
    """Both models on the newest recorded outcomes the job held out, when it did (read as
    the training data is: blanks missing)."""
    from lib.model.bundle import read_bundle
    from lib.retraining.jobs import HOLDOUT_FILE
    from lib.training.comparison import compare_on_holdout
    from lib.training.data import read_raw

    path = job.folder / HOLDOUT_FILE
    if champion is None or not path.exists():
        return None
    holdout = read_raw(replace(config, csv_path=path, separator=","))
    job.log(f"comparing on the {len(holdout):,} newest recorded outcomes, held out from training")
    return compare_on_holdout(champion, read_bundle(folder), holdout, config.target, config.positive_label)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m lib.retraining.job JOB_DIR", file=sys.stderr)
        return 2
    os.nice(10)  # training yields the CPU to the server answering predictions
    from lib.retraining.jobs import shared_jobs
    from lib.settings import get_settings

    shared = shared_jobs(get_settings())
    job = JobFiles(Path(args[0]), shared)
    done = threading.Event()
    if shared is not None:
        threading.Thread(target=_renew_lease, args=(shared, job.state["id"], done), daemon=True).start()
    try:
        return _work(job)
    finally:
        done.set()


def _work(job: JobFiles) -> int:
    # The pid first, then the cancel request: a canceller writes them the other way round.
    job.update(status="running", pid=os.getpid(), started_at=now_iso())
    try:
        job.check_not_cancelled()
        result = run(job)
    except JobCancelled:
        job.update(status="cancelled", finished_at=now_iso(), error=f"cancelled by {job.cancelled_by()}")
        return 0
    except Exception as exc:  # every failure ends the job with its reason, never a silent exit
        job.log(f"failed: {type(exc).__name__}: {exc}")
        job.update(status="failed", finished_at=now_iso(), error=f"{type(exc).__name__}: {exc}")
        return 1
    job.update(status="succeeded", progress=1.0, step="done", finished_at=now_iso(), result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
