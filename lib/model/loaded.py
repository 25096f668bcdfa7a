"""A checked model bundle in memory, and the error that says why there is none."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lib.model.compiled import Scorer, compile_scorer
from lib.model.contract import BundleMetadata, Outcome, TrainingKpis
from lib.model.schema import FeatureSchema


class ModelNotAvailable(Exception):
    """No usable model: `reason` says what a person can do about it; `kind` is for programs."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class LoadedModel:
    """A checked bundle in memory: its scorer, schema, metadata and KPIs.

    The fitted pipeline is loaded on first use when the bundle carries a verified
    compiled scorer (scorer.json): serving a linear model then never imports
    scikit-learn, which makes the app start about a second sooner.
    """

    def __init__(
        self,
        schema: FeatureSchema,
        metadata: BundleMetadata,
        kpis: TrainingKpis,
        source: str,
        folder: Path,
        *,
        pipeline: Any = None,
        load_pipeline: Callable[[], Any] | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        if pipeline is None and load_pipeline is None:
            raise ValueError("a LoadedModel needs a pipeline or a way to load it")
        self.schema, self.metadata, self.kpis, self.source, self.folder = schema, metadata, kpis, source, folder
        self._pipeline, self._load_pipeline = pipeline, load_pipeline
        self._pipeline_lock = threading.Lock()
        # Compiled once per load: every request and rerun shares it.
        self.scorer: Scorer = scorer if scorer is not None else compile_scorer(self.pipeline, schema)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the fitted pipeline, its loader or its lock: what a worker of a
        distributed batch gets (lib.batch.cluster) scores with the compiled scorer and
        needs no scikit-learn. A pipeline scorer holds the pipeline itself: refused."""
        if getattr(self.scorer, "kind", None) == "sklearn_pipeline":
            raise TypeError("a model without a compiled scorer is not sent to other processes")
        state = dict(self.__dict__)
        for name in ("_pipeline", "_load_pipeline", "_pipeline_lock"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pipeline, self._load_pipeline = None, None
        self._pipeline_lock = threading.Lock()

    @property
    def pipeline(self) -> Any:
        if self._pipeline is None:
            with self._pipeline_lock:
                if self._pipeline is None and self._load_pipeline is not None:
                    self._pipeline = self._load_pipeline()
        return self._pipeline

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def threshold(self) -> float:
        return self.metadata.threshold

    @property
    def outcome(self) -> Outcome:
        """The outcome in words; bundles older than the [outcome] section read as a risk
        named by the target column and its labels."""
        if self.metadata.outcome is not None:
            return self.metadata.outcome
        schema = self.schema
        return Outcome(schema.target, schema.positive_label, schema.negative_label, "risk")
