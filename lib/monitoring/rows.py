"""Queued predictions turned into what the monitoring store keeps: one raw row per input,
and counts per (hour, version, feature, training bin) for drift.

The request path only builds the named tuples below; the log's writer thread turns
them into rows here, off the hot path.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, get_args

import numpy as np

from lib.model.validation import floats_or_none
from lib.monitoring.rollups import features_json
from lib.monitoring.store import HOUR, CountedRows, LoggedRow

if TYPE_CHECKING:
    from lib.model.inference import Prediction
    from lib.model.loaded import LoadedModel
    from lib.model.validation import EncodedColumns

# The writer gives the GIL back every this many rows of Python work (about a millisecond):
# left to the interpreter's 5 ms switch interval, a flush would add up to tens of ms to
# the requests being served meanwhile.
YIELD_EVERY_ROWS = 32
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
    ids: Sequence[int] = ()  # each one's prediction id (none: not kept in the scores)
    entities: Sequence[str | None] = ()  # each one's entity (the dataset's id columns), or none known

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
    texts: dict[str, list[Any]] | None = None  # categories as sent (an API batch), else shown from codes
    keep_every: int = 1  # raw rows kept: positions first_kept, first_kept + k, ... (0: none)
    first_kept: int = 0
    ids: np.ndarray | None = None  # each row's prediction id (int64)
    entities: list[str | None] | None = None  # each row's entity, when the input had id columns

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


class BuiltRows(NamedTuple):
    """What one write holds: raw rows, drift counts, and batch rows counted but not kept."""

    rows: list[LoggedRow]
    feature_counts: BinCounts
    counted: list[CountedRows]


def _raw_sample(item: ScoredTable) -> tuple[ScoredTable, CountedRows | None]:
    """The part of a table slice kept as raw rows, and the rest (None when all are kept)."""
    if item.keep_every == 1:
        return item, None
    positions = np.arange(item.first_kept, item.rows, item.keep_every) if item.keep_every else np.arange(0)
    rest = np.ones(item.rows, dtype=bool)
    rest[positions] = False
    labels = np.asarray(item.labels, dtype=object)
    entities = item.entities
    values = table_values(item.model, item.columns)
    counted = CountedRows(
        item.at,
        item.source,
        item.model.version,
        item.latency_ms,
        item.probabilities[rest],
        labels[rest],
        None if item.ids is None else item.ids[rest],
        None if entities is None else [entities[i] for i in np.flatnonzero(rest).tolist()],
        None if values is None else values[rest],
    )
    picked = positions.tolist()
    texts = (
        None
        if item.texts is None
        else {name: list(map(values.__getitem__, picked)) for name, values in item.texts.items()}
    )
    kept = item._replace(
        columns=item.columns.take(positions),
        probabilities=item.probabilities[positions],
        labels=labels[positions],
        texts=texts,
        ids=None if item.ids is None else item.ids[positions],
        entities=None if entities is None else [entities[i] for i in picked],
    )
    return kept, counted


class RowBuilder:
    """Builds rows and bin counts; remembers each model version's binning plan."""

    def __init__(self) -> None:
        self._plans: dict[str, _Plan] = {}

    def rows(self, items: list[QueuedItem]) -> BuiltRows:
        """Raw rows, counts per (hour, version, feature, training bin), and the rows of a
        batch not kept raw (counted in the rollups only).

        Single records are binned together per hour and version: one numpy pass per
        feature for the whole flush, not one per record.
        """
        rows: list[LoggedRow] = []
        counts: BinCounts = defaultdict(int)
        counted: list[CountedRows] = []
        pending_records: dict[tuple[int, str], tuple[LoadedModel, list[dict[str, Any]]]] = {}
        next_yield = YIELD_EVERY_ROWS
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
                # A scored record holds every feature (validation requires them); extra fields are dropped.
                texts = [
                    features_json(record if len(record) == len(names) else {name: record.get(name) for name in names})
                    for record in item.records
                ]
                ids: Sequence[int | None] = item.ids or [None] * len(texts)
                entities: Sequence[str | None] = item.entities or [None] * len(texts)
                probabilities = [p.probability for p in item.predictions]
                labels = [p.label for p in item.predictions]
                values = record_values(model, item.records)
                rows.extend(_ok_rows(item, model, probabilities, labels, texts, ids, entities, values))
                pending_records.setdefault((hour, model.version), (model, []))[1].extend(item.records)
            else:
                kept, rest = _raw_sample(item)
                if rest is not None:
                    counted.append(rest)
                texts = _features_json(model, kept.columns, kept.texts)
                ids = kept.ids.tolist() if kept.ids is not None else [None] * len(texts)
                entities = kept.entities if kept.entities is not None else [None] * len(texts)
                labels = [str(label) for label in kept.labels]
                kept_values = table_values(model, kept.columns)
                values = [None] * len(texts) if kept_values is None else floats_or_none(kept_values)
                rows.extend(_ok_rows(item, model, kept.probabilities.tolist(), labels, texts, ids, entities, values))
                self._count_bins(counts, hour, model, item.columns.numbers, item.columns.codes)  # every row
            if len(rows) >= next_yield:
                _yield_gil()
                next_yield = len(rows) + YIELD_EVERY_ROWS
        for (hour, _), (model, records) in pending_records.items():
            self._count_record_bins(counts, hour, model, records)
        return BuiltRows(rows, counts, counted)

    def _count_record_bins(
        self, counts: BinCounts, hour: int, model: LoadedModel, records: list[dict[str, Any]]
    ) -> None:
        """Single records binned together: a category's counts by one Counter pass in C,
        the numbers as one array per feature (None becomes NaN: the missing bin)."""
        plan = self._plan_for(model)
        for name, edges in plan.numeric:
            values = np.array(_column(records, name), float)
            for bin_index, count in enumerate(np.bincount(numeric_bins(edges, values)).tolist()):
                if count:
                    counts[(hour, model.version, name, bin_index)] += count
        for name, positions, k in plan.categorical:
            for value, count in Counter(_column(records, name)).items():
                code = k + 1 if value is None else positions.get(value, k)
                counts[(hour, model.version, name, code)] += count

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


def _ok_rows(
    item: ScoredRecords | ScoredTable,
    model: LoadedModel,
    probabilities: Sequence[float],
    labels: Sequence[str],
    texts: Sequence[str],
    ids: Sequence[int | None],
    entities: Sequence[str | None],
    values: Sequence[float | None],
) -> list[LoggedRow]:
    """The raw rows of scored inputs, one per probability."""
    at, source, version, latency = item.at, item.source, model.version, item.latency_ms
    return [
        LoggedRow(at, source, version, latency, "ok", None, probability, label, text, prediction_id, entity, value)
        for probability, label, text, prediction_id, entity, value in zip(
            probabilities, labels, texts, ids, entities, values, strict=True
        )
    ]


def _value_column(model: LoadedModel) -> str | None:
    business = model.metadata.business
    return None if business is None else business.value_column


def record_values(model: LoadedModel, records: Sequence[dict[str, Any]]) -> list[float | None]:
    """Each record's business value (what a realised campaign value sums), None when unknown."""
    name = _value_column(model)
    if name is None:
        return [None] * len(records)
    return [_number(value) for value in _column(list(records), name)]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value)


def table_values(model: LoadedModel, columns: EncodedColumns) -> np.ndarray | None:
    """A table's business values (NaN when missing), or None when the value column is not
    a numeric feature the table carries."""
    name = _value_column(model)
    return None if name is None else columns.numbers.get(name)


def _column(records: list[dict[str, Any]], name: str) -> list[Any]:
    """One feature's values across records, read in C; None where a record lacks it."""
    try:
        return list(map(itemgetter(name), records))
    except KeyError:
        return [record.get(name) for record in records]


def _features_json(model: LoadedModel, columns: EncodedColumns, texts: dict[str, list[Any]] | None = None) -> list[str]:
    """One JSON object per row of a validated table: categories as sent when `texts` has
    them, else from their codes (an unseen category shows as "(unseen)")."""
    values = []
    for spec in model.schema.features:
        if spec.is_numeric:
            values.append(floats_or_none(columns.numbers[spec.name]))
        elif texts is not None:
            values.append(texts[spec.name])
        else:
            lookup = [*spec.categories, "(unseen)", None]
            values.append([lookup[code] for code in columns.codes[spec.name].tolist()])
    names = model.schema.names
    lines: list[str] = []
    rows = list(zip(*values, strict=True))
    for start in range(0, len(rows), TABLE_CHUNK_ROWS):  # a big upload: chunks, the GIL given back between
        lines += [features_json(dict(zip(names, row, strict=True))) for row in rows[start : start + TABLE_CHUNK_ROWS]]
        _yield_gil()
    return lines
