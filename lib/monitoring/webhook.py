"""Deliver an alert to ALERT_WEBHOOK_URL: a JSON POST, off the caller's thread, each
attempt bounded by a timeout, retried with growing pauses on a network error or a non-2xx
answer. What /health may show of it never includes the URL (it may carry a secret)."""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from typing import Any

logger = logging.getLogger(__name__)

FIRST_PAUSE_S = 0.5  # then 1 s, 2 s, ...


class WebhookSender:
    def __init__(self, url: str, timeout_s: float, retries: int) -> None:
        self.url, self.timeout_s, self.retries = url, timeout_s, retries
        self.delivered = 0
        self.failed = 0  # alerts given up on after every retry
        self.last: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def send(self, payload: dict[str, Any]) -> None:
        thread = threading.Thread(target=self._deliver, args=(payload,), name="alert-webhook", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _deliver(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        problem = ""
        for attempt in range(1, self.retries + 2):
            request = urllib.request.Request(
                self.url, body, {"content-type": "application/json", "user-agent": "prediction-dashboard"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read(1024)
                self._record(payload["event"], True, attempt, None)
                return
            except urllib.error.HTTPError as exc:
                problem = f"answered {exc.code}"
            except (OSError, ValueError) as exc:  # refused, unreachable, timed out
                timed_out = isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError)
                problem = "timed out" if timed_out else type(exc).__name__
            if attempt <= self.retries:
                time.sleep(FIRST_PAUSE_S * 2 ** (attempt - 1))
        logger.warning(
            "the alert webhook failed %d times (last: %s); %s not delivered", attempt, problem, payload["event"]
        )
        self._record(payload["event"], False, attempt, problem)

    def _record(self, event: str, delivered: bool, attempts: int, problem: str | None) -> None:
        with self._lock:
            if delivered:
                self.delivered += 1
            else:
                self.failed += 1
            self.last = {"event": event, "delivered": delivered, "attempts": attempts, "problem": problem,
                         "at": time.time()}  # fmt: skip

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"configured": True, "delivered": self.delivered, "failed": self.failed, "last": self.last}

    def wait(self, timeout: float) -> None:
        """Let deliveries in flight finish (shutdown, tests), up to `timeout` seconds in all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
