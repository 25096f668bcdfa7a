"""The decay alert (issue 18): is the served model doing worse on real outcomes than its
test split said?

A check reads the live report over DECAY_WINDOW and compares DECAY_METRIC with the test
split's: worse by more than DECAY_TOLERANCE, with enough outcomes for the figures to be
given, is `degraded`; within it, `ok`; figures withheld, `unknown` (no alert either way).
A background thread checks every DECAY_CHECK_S, and soon after outcomes are recorded.

A transition (ok to degraded, degraded to ok) is claimed in the store, so with several
replicas sharing it one of them sends the webhook (ALERT_WEBHOOK_URL), once per
transition; the first check of a fresh store that finds the model ok is not one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from lib.monitoring.webhook import WebhookSender

if TYPE_CHECKING:
    from lib.model.loaded import LoadedModel
    from lib.settings import Settings

logger = logging.getLogger(__name__)

LOWER_IS_BETTER = frozenset({"brier"})
ALERT_NAME = "model_decay"
State = Literal["ok", "degraded", "unknown"]


@dataclass(frozen=True)
class DecayCheck:
    """One check's verdict, as /health and the pages show it."""

    state: State
    reason: str | None  # why degraded, or why unknown
    metric: str
    live: float | None
    test: float | None
    tolerance: float
    window: str
    version: str
    labelled: int
    checked_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(report: dict[str, Any], metric: str, tolerance: float, checked_at: float) -> DecayCheck:
    """The verdict on one live report (lib.monitoring.live.live_report)."""
    test = report["test"].get(metric)
    labelled = report["coverage"]["labelled"]
    common = {"metric": metric, "test": test, "tolerance": tolerance, "window": report["window"]}
    common |= {"version": report["version"], "labelled": labelled, "checked_at": checked_at}
    if report["withheld"] is not None or test is None:
        why = report["withheld"] or f"the test split has no {metric}"
        return DecayCheck("unknown", f"not judged: {why}", live=None, **common)
    live = report["metrics"][metric]["value"]
    worse_by = live - test if metric in LOWER_IS_BETTER else test - live
    if worse_by > tolerance:
        direction = "above" if metric in LOWER_IS_BETTER else "below"
        reason = (
            f"realised {metric} {live:.3f} over {report['window']} ({labelled:,} outcomes) is {worse_by:.3f} "
            f"{direction} the test split's {test:.3f} (tolerance {tolerance:g})"
        )
        return DecayCheck("degraded", reason, live=live, **common)
    return DecayCheck("ok", None, live=live, **common)


class DecayWatcher:
    """Checks the served model in a background thread and sends one webhook per transition."""

    def __init__(self, settings: Settings) -> None:
        self.metric, self.tolerance = settings.decay_metric, settings.decay_tolerance
        self.window, self.every_s = settings.decay_window, settings.decay_check_s
        self.webhook = (
            WebhookSender(settings.alert_webhook_url, settings.alert_webhook_timeout_s, settings.alert_webhook_retries)
            if settings.alert_webhook_url
            else None
        )
        self.served: Callable[[], LoadedModel | None] = lambda: None  # given by start()
        self.last: DecayCheck | None = None
        self.problem: str | None = None  # why the last check could not run
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, model: LoadedModel | None = None) -> DecayCheck | None:
        """Check now (the served model unless given); None when there is no model or the
        store cannot be read (`problem` says why)."""
        from lib.monitoring.log import prediction_log
        from lib.monitoring.store import StoreUnavailable

        model = model or self.served()
        if model is None:
            return None
        log = prediction_log()
        try:
            verdict = judge(log.live(model, self.window), self.metric, self.tolerance, time.time())
            if verdict.state != "unknown":
                before = log.store.alert_transition(
                    ALERT_NAME, verdict.state, verdict.version, verdict.reason, verdict.checked_at
                )
                if before is not None and (before or verdict.state == "degraded"):
                    self._announce(verdict, before)
        except StoreUnavailable as exc:
            self.problem = str(exc)
            return None
        self.problem = None
        self.last = verdict
        return verdict

    def _announce(self, verdict: DecayCheck, before: str) -> None:
        event = "model_degraded" if verdict.state == "degraded" else "model_recovered"
        logger.warning("decay alert: %s (%s)", event, verdict.reason or f"{verdict.metric} back within tolerance")
        if self.webhook is not None:
            self.webhook.send({"event": event, "previous_state": before or None, **verdict.to_dict()})

    def status(self, version: str | None = None) -> dict[str, Any]:
        """What /health shows: the last verdict, and the webhook's last delivery. Not ok
        when the last check found `version` (any, when None) degraded; a verdict on a
        version no longer served is shown until the next check, without counting."""
        return {
            "ok": self.last is None or self.last.state != "degraded" or version not in (None, self.last.version),
            **(self.last.to_dict() if self.last else {"state": "unknown", "reason": "not checked yet"}),
            "problem": self.problem,
            "webhook": self.webhook.status() if self.webhook else {"configured": False},
        }

    def request_check(self) -> None:
        """Check soon (outcomes were just recorded), off the caller's path; nothing when
        the watcher was not started (a process that only scores)."""
        self._wake.set()

    def start(self, served: Callable[[], LoadedModel | None]) -> None:
        """Check `served()` (the model being served, or None) in a background thread."""
        self.served = served
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="decay-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.webhook is not None:
            self.webhook.wait(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # the next round tries again
                logger.exception("checking the model for decay failed")
            self._wake.wait(self.every_s)
            self._wake.clear()


_watcher: DecayWatcher | None = None
_watcher_lock = threading.Lock()


def decay_watcher() -> DecayWatcher:
    """The process's watcher, made from the settings on first use."""
    global _watcher
    from lib.settings import get_settings

    with _watcher_lock:
        if _watcher is None:
            _watcher = DecayWatcher(get_settings())
        return _watcher


def close_decay_watcher() -> None:
    """Stop the thread and forget the watcher (the app's shutdown; tests between settings)."""
    global _watcher
    with _watcher_lock:
        watcher, _watcher = _watcher, None
    if watcher is not None:
        watcher.stop()
