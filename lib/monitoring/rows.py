"""Queued predictions turned into what the monitoring store keeps: one raw row per input,
and counts per (hour, version, feature, training bin) for drift.

The request path only builds the named tuples below; the log's writer thread turns
them into rows here, off the hot path.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np

from lib.monitoring.store import HOUR, LoggedRow

if TYPE_CHECKING:
    from lib.model.inference import Prediction
    from lib.model.loaded import LoadedModel
    from lib.model.validation import EncodedColumns

# The writer gives the GIL back every this many rows of Python work (about a millisecond):
# left to the interpreter's 5 ms switch interval, a flush would add up to tens of ms to
# the requests being served meanwhile.
YIELD_EVERY_ROWS = 32
_to_json = json.JSONEncoder(separators=(",", ":"), default=str).encode
TABLE_CHUNK_ROWS = 2_000


def _yield_gil() -> None:
    time.sleep(0)


@dataclass(frozen=True)
class _Plan:
    """How one model version's inputs fall into its training bins (built once per version)."""

    numeric: list[tuple[str, np.ndarray]]  # feature, histogram edges
    categorical: list[tuple[str, dict[str, int], int]]  # feature, category -> code, number of categories


def _plan(model: LoadedModel) -> _Plan:
    distributions = model.kpis.distributions
    numeric, categorical = [], []
    for spec in model.schema.features:
        if spec.is_numeric:
            numeric.append((spec.name, np.asarray(distributions[spec.name]["histogram"]["edges"], float)))
        else:
            categorical.append((spec.name, {c: i for i, c in enumerate(spec.categories)}, len(spec.categories)))
    return _Plan(numeric, categorical)


def numeric_bins(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Training bin per value; values outside the training range fall in the end bins,
    missing (NaN) in bin len(edges) - 1."""
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return np.where(np.isnan(values), len(edges) - 1, bins)


# Where a prediction was asked for: the Predict form, a batch upload, the REST API.
Source = Literal["ui", "batch", "api"]
SOURCES: tuple[Source, ...] = get_args(Source)


class ScoredRecords(NamedTuple):
    """Records scored one by one (the form, POST /predict), as submitted."""

    at: float
    source: Source
    model: LoadedModel
    latency_ms: float  # each record's share of the call
    records: Sequence[dict[str, Any]]
    predictions: Sequence[Prediction]

    @property
    def rows(self) -> int:
        return len(self.records)


class ScoredTable(NamedTuple):
    """A slice of a scored table (a batch upload): validated columns and their scores."""

    at: float
    source: Source
    model: LoadedModel
    latency_ms: float
    columns: EncodedColumns
    probabilities: np.ndarray
    labels: Sequence[str] | np.ndarray

    @property
    def rows(self) -> int:
        return self.columns.rows


class Failures(NamedTuple):
    """A request, or `inputs` inputs of one, that produced no prediction."""

    at: float
    source: Source
    version: str
    latency_ms: float
    kind: str  # a short code: malformed_json, invalid_input, ...
    inputs: int

    @property
    def rows(self) -> int:
        return self.inputs


QueuedItem = ScoredRecords | ScoredTable | Failures


BinCounts = dict[tuple[int, str, str, int], int]


class RowBuilder:
    """Builds rows and bin counts; remembers each model version's binning plan."""

    def __init__(self) -> None:
        self._plans: dict[str, _Plan] = {}

    def rows(self, items: list[QueuedItem]) -> tuple[list[LoggedRow], BinCounts]:
        """Raw rows, and counts per (hour, version, feature, training bin).

        Single records are binned together per hour and version: one numpy pass per
        feature for the whole flush, not one per record.
        """
        rows: list[LoggedRow] = []
        counts: BinCounts = defaultdict(int)
        pending_records: dict[tuple[int, str], tuple[LoadedModel, list[dict[str, Any]]]] = {}
        for item in items:
            hour = int(item.at // HOUR * HOUR)
            if isinstance(item, Failures):
                failed = LoggedRow(
                    item.at, item.source, item.version, item.latency_ms, "error", item.kind, None, None, None
                )
                rows.extend([failed] * item.inputs)
                continue
            model = item.model
            if isinstance(item, ScoredRecords):
                names = model.schema.names
                for record, prediction in zip(item.records, item.predictions, strict=True):
                    # A scored record holds every feature (validation requires them); extra fields are dropped.
                    shown = record if len(record) == len(names) else {name: record.get(name) for name in names}
                    rows.append(
                        LoggedRow(
                            item.at,
                            item.source,
                            model.version,
                            item.latency_ms,
                            "ok",
                            None,
                            prediction.probability,
                            prediction.label,
                            _to_json(shown),
                        )
                    )
                    if len(rows) % YIELD_EVERY_ROWS == 0:
                        _yield_gil()
                pending_records.setdefault((hour, model.version), (model, []))[1].extend(item.records)
            else:
                texts = _features_json(model, item.columns)
                rows.extend(
                    LoggedRow(
                        item.at, item.source, model.version, item.latency_ms, "ok", None, float(p), str(label), text
                    )
                    for p, label, text in zip(item.probabilities, item.labels, texts, strict=True)
                )
                self._count_bins(counts, hour, model, item.columns.numbers, item.columns.codes)
        for (hour, _), (model, records) in pending_records.items():
            plan = self._plan_for(model)
            # None becomes NaN in a float array: the missing bin
            numbers = {name: np.array([r.get(name) for r in records], float) for name, _ in plan.numeric}
            codes = {
                name: np.array(
                    [k + 1 if (value := r.get(name)) is None else positions.get(value, k) for r in records], np.int64
                )
                for name, positions, k in plan.categorical
            }
            self._count_bins(counts, hour, model, numbers, codes)
        return rows, counts

    def _plan_for(self, model: LoadedModel) -> _Plan:
        plan = self._plans.get(model.version)
        if plan is None:
            plan = self._plans[model.version] = _plan(model)
        return plan

    def _count_bins(
        self,
        counts: BinCounts,
        hour: int,
        model: LoadedModel,
        numbers: dict[str, np.ndarray],
        codes: dict[str, np.ndarray],
    ) -> None:
        plan = self._plan_for(model)
        binned = [(name, numeric_bins(edges, numbers[name])) for name, edges in plan.numeric]
        binned += [(name, codes[name]) for name, _, _ in plan.categorical]
        for name, bins in binned:
            for bin_index, count in enumerate(np.bincount(bins).tolist()):
                if count:
                    counts[(hour, model.version, name, bin_index)] += count


def _features_json(model: LoadedModel, columns: EncodedColumns) -> list[str]:
    """One JSON object per row of a validated table (an unseen category shows as "(unseen)")."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            spec.name: columns.numbers[spec.name]
            if spec.is_numeric
            else np.array([*spec.categories, "(unseen)", None], dtype=object)[columns.codes[spec.name]]
            for spec in model.schema.features
        }
    )
    lines: list[str] = []
    for start in range(0, len(frame), TABLE_CHUNK_ROWS):  # a big upload: chunks, the GIL given back between
        lines += frame.iloc[start : start + TABLE_CHUNK_ROWS].to_json(orient="records", lines=True).splitlines()
        _yield_gil()
    return lines
