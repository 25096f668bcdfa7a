"""A challenger in shadow (issue 18): a registry version that scores what the served
model scores (the form and POST /predict), off the request path, so its live figures can
be compared with the served model's on the same predictions once their outcomes come in.

The request path only appends the inputs and their prediction ids to a bounded queue
(MAX_QUEUED_ROWS: beyond it, rows are dropped and counted, never waited for). A thread
scores the queue with the challenger every FLUSH_S, without explanations, and writes each
probability keyed by the served prediction's id (`shadow_scores`): the challenger's own
predictions, logged under its version, not counted as traffic. Which version shadows is
shared state in the store (every replica follows it within REFRESH_S); the version
being served never shadows itself. Batch uploads are not shadowed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lib.monitoring.store import Store, StoreUnavailable

if TYPE_CHECKING:
    from lib.model.loaded import LoadedModel
    from lib.model.validation import JsonColumns

logger = logging.getLogger(__name__)

SHADOW_STATE = "shadow"
REFRESH_S = 5.0
FLUSH_S = 0.25
MAX_QUEUED_ROWS = 20_000


@dataclass(frozen=True)
class ShadowSetting:
    version: str
    since: float
    by: str | None


def shadow_setting(store: Store) -> ShadowSetting | None:
    state = store.shared_state(SHADOW_STATE)
    if state is None or state.state != "on":
        return None
    return ShadowSetting(state.version, state.changed_at, state.reason)


def set_shadow(store: Store, version: str | None, actor: str) -> None:
    """Put `version` in shadow (None: stop the shadow), for every replica."""
    store.set_shared_state(SHADOW_STATE, "on" if version else "off", version or "", actor, time.time())


def version_uri(model_uri: str, version: str) -> str:
    """Where one registry version's bundle is (a folder, or an S3 prefix)."""
    return f"{model_uri.rstrip('/')}/{version}"


class ShadowScorer:
    def __init__(self) -> None:
        self.version: str | None = None  # what the request path reads; the thread sets it
        self.scored = 0
        self.dropped = 0
        self.failed = 0
        self.problem: str | None = None
        self._queue: deque[tuple[Sequence[dict[str, Any]] | JsonColumns, np.ndarray]] = deque()
        self._queued_rows = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._served: Callable[[], LoadedModel | None] = lambda: None
        self._challenger: LoadedModel | None = None
        self._refreshed_at = 0.0

    # --- the request path: a check and an append -------------------------------------

    def offer(self, inputs: Sequence[dict[str, Any]] | JsonColumns, ids: np.ndarray) -> None:
        """Inputs the served model scored, with their prediction ids (int64)."""
        if self.version is None:
            return
        with self._lock:
            if self._queued_rows + len(ids) > MAX_QUEUED_ROWS:
                self.dropped += len(ids)
                return
            self._queue.append((inputs, ids))
            self._queued_rows += len(ids)

    # --- the thread ------------------------------------------------------------------

    def start(self, served: Callable[[], LoadedModel | None]) -> None:
        self._served = served
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="shadow", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and forget the challenger (the app's shutdown; tests)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread, self.version, self._challenger, self._refreshed_at = None, None, None, 0.0
        self._drain()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_S):
            try:
                if time.monotonic() - self._refreshed_at >= REFRESH_S:
                    self.refresh()
                self.flush()
            except Exception:  # the next round tries again; serving is never affected
                logger.exception("shadow scoring failed")

    def refresh(self) -> None:
        """Follow the shared setting: which version shadows, loaded once."""
        from lib.monitoring.log import prediction_log
        from lib.serving.sources import ModelNotAvailable
        from lib.settings import get_settings

        self._refreshed_at = time.monotonic()
        try:
            setting = shadow_setting(prediction_log().store)
        except StoreUnavailable as exc:
            self.problem = f"the shadow setting cannot be read: {exc}"
            return
        served = self._served()
        wanted = setting.version if setting and (served is None or served.version != setting.version) else None
        if wanted is None:
            self.version, self._challenger = None, None
            self._drain()
            return
        if self._challenger is None or self._challenger.version != wanted:
            settings = get_settings()
            try:
                self._challenger = _loaded_version(settings.model_uri, wanted, settings.model_cache_dir)
            except ModelNotAvailable as exc:
                self.version, self._challenger = None, None
                self.problem = f"the challenger {wanted} cannot be loaded: {exc.reason}"
                return
        self.version, self.problem = wanted, None

    def _drain(self) -> list[tuple[Sequence[dict[str, Any]] | JsonColumns, np.ndarray]]:
        with self._lock:
            items, self._queue, self._queued_rows = list(self._queue), deque(), 0
        return items

    def flush(self) -> None:
        """Score what is queued with the challenger (the records of single requests in one
        call) and write its probabilities."""
        from lib.monitoring.log import prediction_log

        items = self._drain()
        challenger = self._challenger
        if not items or challenger is None:
            return
        records: list[dict[str, Any]] = []  # every queued record, scored in one call
        record_ids: list[np.ndarray] = []
        batches: list[tuple[Sequence[dict[str, Any]] | JsonColumns, np.ndarray]] = []
        for inputs, ids in items:
            if isinstance(inputs, Sequence):
                records += inputs
                record_ids.append(ids)
            else:
                batches.append((inputs, ids))
        if records:
            batches.append((records, np.concatenate(record_ids)))
        rows: list[tuple[int, str, float]] = []
        for inputs, ids in batches:
            rows += self._scored_rows(challenger, inputs, ids)
        if rows:
            try:
                prediction_log().store.write_shadow(rows)
            except StoreUnavailable as exc:
                self.failed += len(rows)
                self.problem = f"shadow scores cannot be written: {exc}"
                return
            self.scored += len(rows)

    def _scored_rows(
        self, challenger: LoadedModel, inputs: Sequence[dict[str, Any]] | JsonColumns, ids: np.ndarray
    ) -> list[tuple[int, str, float]]:
        """(served prediction id, challenger version, challenger probability) per input it could score."""
        from lib.model.inference import score_batch, score_json_columns

        try:
            scored = (
                score_batch(list(inputs), challenger)
                if isinstance(inputs, Sequence)
                else score_json_columns(inputs, challenger)
            )
        except Exception as exc:  # a challenger that cannot read these inputs: counted, not raised
            self.failed += len(ids)
            self.problem = f"the challenger could not score {len(ids):,} inputs: {type(exc).__name__}"
            return []
        self.failed += len(scored.errors)
        positions = scored.table.index.to_numpy()
        probabilities = scored.table["probability"].to_numpy(dtype=np.float64)
        versions = [challenger.version] * len(positions)
        return list(zip(ids[positions].tolist(), versions, probabilities.tolist(), strict=True))

    def status(self) -> dict[str, Any]:
        with self._lock:
            queued = self._queued_rows
        return {"version": self.version, "scored_here": self.scored, "queued": queued, "dropped": self.dropped,
                "failed": self.failed, "problem": self.problem}  # fmt: skip


shadow = ShadowScorer()


def version_threshold(registry: Any, version: str) -> float:
    """A registry version's decision threshold; RegistryError for a bad name or an unknown
    or unreadable version (never a server path in the message)."""
    from lib.registry import RegistryError
    from lib.registry.base import check_version_name

    check_version_name(version)
    if version not in registry.version_names():
        raise RegistryError(f"no version {version!r} in the registry", "unknown")
    try:
        return float(registry.metadata(version)["threshold"])
    except (RegistryError, KeyError, TypeError, ValueError):
        raise RegistryError(f"the metadata of {version} cannot be read", "broken") from None


def shadow_report(store: Store, served: LoadedModel | None, registry: Any, window: str) -> dict[str, Any]:
    """The shadow setting, this replica's shadow counters, and the live comparison with the
    served model (raises StoreUnavailable, RegistryError)."""
    from lib.monitoring.live import shadow_comparison

    setting = shadow_setting(store)
    comparison = None
    if setting is not None and served is not None and setting.version != served.version:
        threshold = version_threshold(registry, setting.version)
        comparison = shadow_comparison(store, (served.version, served.threshold), (setting.version, threshold), window)
        comparison["challenger_scored"] = store.shadow_scored(setting.version)
    return {
        "shadow": None if setting is None else {"version": setting.version, "since": setting.since, "by": setting.by},
        "here": shadow.status(),
        "comparison": comparison,
    }


def live_win_problem(report: dict[str, Any], version: str, metric: str, tolerance: float) -> str | None:
    """Why `version` may not be promoted on the live comparison (`report`: shadow_report's),
    or None when it may: not worse than the served model by more than `tolerance`."""
    if report["shadow"] is None or report["shadow"]["version"] != version or report["comparison"] is None:
        return f"{version} is not in shadow: put it in shadow and wait for outcomes first"
    comparison = report["comparison"]
    mine, theirs = comparison["challenger"], comparison["champion"]
    if mine["withheld"] is not None:
        return f"no live comparison yet: {mine['withheld']}"
    if metric not in mine["metrics"]:
        return f"{metric} is not among the live figures"
    new, old = mine["metrics"][metric]["value"], theirs["metrics"][metric]["value"]
    worse_by = new - old if metric == "brier" else old - new
    if worse_by > tolerance:
        return (
            f"on {comparison['rows']:,} live predictions {version}'s {metric} is {new:.4f} against the served "
            f"{old:.4f}: worse by more than PROMOTION_TOLERANCE ({tolerance:g})"
        )
    return None


def registry_version(model_uri: str, version: str, cache_dir: Path) -> LoadedModel:
    """One version of the registry, loaded once per process (a few are kept): the shadow's
    challenger, or a version whose live figures are asked for. Raises RegistryError for a
    bad name or an unknown version, ModelNotAvailable for a bundle that cannot be read."""
    from lib.registry import open_registry

    version_threshold(open_registry(model_uri), version)  # the name and the version checked first
    return _loaded_version(model_uri, version, cache_dir)


@lru_cache(maxsize=4)
def _loaded_version(model_uri: str, version: str, cache_dir: Path) -> LoadedModel:
    from lib.serving.sources import load_model

    return load_model(version_uri(model_uri, version), cache_dir)
