"""The one scoring function behind the form, the CSV upload and the API.

Records are validated against the bundle's feature schema (lib.model.validation), scored by
the bundle's compiled scorer (lib.model.compiled), and enriched: label, confidence band,
quality warnings and the top reasons. A record with any error is refused whole, never
partly scored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from lib.model.confidence import CONFIDENCE_NAMES, confidence_band, confidence_codes
from lib.model.loaded import LoadedModel
from lib.model.validation import (
    EncodedColumns,
    JsonColumns,
    MissingColumns,
    Problem,
    floats_or_none,
    validate_json_columns,
    validate_record,
)

if TYPE_CHECKING:  # pandas is imported by the table paths only: one record never needs it
    import pandas as pd

TOP_REASONS = 5
# Each warning lowers the quality score by this much; ignored extra fields do not count.
WARNING_PENALTY = 0.25
NEUTRAL_WARNINGS = frozenset({"ignored_fields"})


@dataclass(frozen=True)
class RecordError:
    """Everything wrong with one input record (index = its position in the input)."""

    index: int
    problems: list[Problem]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "errors": [asdict(problem) for problem in self.problems]}


class InvalidInput(ValueError):
    """Input that cannot be scored; `errors` names every bad field of every bad record."""

    def __init__(self, errors: list[RecordError], message: str | None = None) -> None:
        self.errors = errors
        if message is None:
            first = errors[0]
            details = "; ".join(f"{p.field or 'record'}: {p.message}" for p in first.problems[:5])
            more = f" (and {len(errors) - 1} more records)" if len(errors) > 1 else ""
            message = f"record {first.index}: {details}{more}"
        super().__init__(message)


@dataclass(frozen=True)
class Prediction:
    """What every face of the product shows for one scored record."""

    label: str
    predicted_positive: bool
    probability: float
    threshold: float
    confidence: str
    confidence_accuracy: float | None
    quality_score: float
    warnings: list[dict[str, str]]
    reasons: list[dict[str, Any]]
    model_version: str
    latency_ms: float
    prediction_id: str = ""  # given by the scoring service when it logs the prediction

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: asdict() deep-copies every reason and costs ~15 µs a record.
        return {name: getattr(self, name) for name in PREDICTION_FIELDS}


PREDICTION_FIELDS = tuple(f.name for f in fields(Prediction))


def _prediction_dict(*values: Any) -> dict[str, Any]:
    return dict(zip(PREDICTION_FIELDS, values, strict=True))


@dataclass(frozen=True)
class BatchScore:
    """Scored rows (table indexed by input position) and the rows refused, with reasons.

    `warnings` and `reasons` are keyed by input position; the table carries the same
    warnings as text, for display and download. `inputs` holds the validated values of
    the scored rows when the input was a table (for monitoring what was scored).
    """

    table: pd.DataFrame
    errors: list[RecordError]
    warnings: dict[int, list[Problem]]
    reasons: dict[int, list[Any]] | None  # each reason a dict (or what score_json_columns' make_reason builds)
    model_version: str
    threshold: float
    latency_ms: float
    rows_in: int
    inputs: EncodedColumns | None = None
    prediction_ids: list[str] | None = None  # each scored row's, once the scoring service logged it

    def prediction_rows(self, make: Callable[..., Any] | None = None) -> list[Any]:
        """One answer per scored row, built column by column (no dataclass per row): by
        default the dict Prediction.to_dict gives; `make`, called with the values of
        PREDICTION_FIELDS in order, may build a struct its encoder writes as the same JSON
        object (a 10,000-record API answer in a few ms; tests hold the two equal)."""
        table = self.table
        index = table.index.tolist()
        warnings, reasons = self.warnings, self.reasons
        rows = len(index)
        return list(
            map(
                make or _prediction_dict,
                table["label"].tolist(),
                table["predicted_positive"].tolist(),
                table["probability"].tolist(),
                repeat(self.threshold, rows),
                table["confidence"].tolist(),
                floats_or_none(table["confidence_accuracy"].to_numpy()),
                table["quality_score"].tolist(),
                [[asdict(p) for p in warnings[i]] if i in warnings else [] for i in index],
                [reasons.get(i, []) for i in index] if reasons else [[] for _ in index],
                repeat(self.model_version, rows),
                repeat(self.latency_ms / max(self.rows_in, 1), rows),
                self.prediction_ids if self.prediction_ids is not None else repeat("", rows),
            )
        )

    def predictions(self) -> list[Prediction]:
        ids = self.prediction_ids
        per_row_ms = self.latency_ms / max(self.rows_in, 1)
        columns = [self.table[c].tolist() for c in ("probability", "predicted_positive", "label", "confidence")]
        accuracy = self.table["confidence_accuracy"].tolist()
        quality = self.table["quality_score"].tolist()
        return [
            Prediction(
                label=label,
                predicted_positive=bool(positive),
                probability=float(probability),
                threshold=self.threshold,
                confidence=confidence,
                confidence_accuracy=None if accuracy[i] != accuracy[i] else accuracy[i],
                quality_score=quality[i],
                warnings=[asdict(p) for p in self.warnings.get(index, [])],
                reasons=self.reasons.get(index, []) if self.reasons is not None else [],
                model_version=self.model_version,
                latency_ms=per_row_ms,
                prediction_id=ids[i] if ids is not None else "",
            )
            for i, (index, probability, positive, label, confidence) in enumerate(
                zip(self.table.index, *columns, strict=True)
            )
        ]


def _quality(problems: list[Problem]) -> float:
    counted = sum(1 for problem in problems if problem.code not in NEUTRAL_WARNINGS)
    return max(0.0, 1.0 - WARNING_PENALTY * counted)


def _band_accuracy(model: LoadedModel) -> dict[str, float | None]:
    bands = model.kpis.confidence["bands"]
    return {name: bands.get(name, {}).get("accuracy") for name in CONFIDENCE_NAMES}


def _reason_list(model: LoadedModel, values: list[Any], contributions: Any) -> list[dict[str, Any]]:
    specs = model.schema.features
    sizes = [-abs(c) for c in contributions]
    order = sorted(range(len(specs)), key=sizes.__getitem__)[:TOP_REASONS]  # stable: ties keep schema order
    return [
        reason_dict(
            specs[j].name,
            values[j],
            specs[j].default,
            float(contributions[j]),
            "raises" if contributions[j] > 0 else "lowers",
        )
        for j in order
        if abs(contributions[j]) > 1e-12
    ]


def score_record(record: Any, model: LoadedModel, *, explain: bool = True, prediction_id: str = "") -> Prediction:
    """Score one record (a dict of field: value); raises InvalidInput naming every bad field."""
    started = time.perf_counter()
    values, errors, warnings = validate_record(record, model.schema)
    if errors:
        raise InvalidInput([RecordError(0, errors)])
    reasons = []
    if explain:
        probability, contributions = model.scorer.explain(values)
        reasons = _reason_list(model, [values[name] for name in model.schema.names], contributions)
    else:
        probability = model.scorer.probability(values)
    threshold = model.threshold
    confidence = confidence_band(probability, threshold)
    positive = probability >= threshold
    return Prediction(
        label=model.schema.positive_label if positive else model.schema.negative_label,
        predicted_positive=positive,
        probability=probability,
        threshold=threshold,
        confidence=confidence,
        confidence_accuracy=_band_accuracy(model)[confidence],
        quality_score=_quality(warnings),
        warnings=[asdict(problem) for problem in warnings],
        reasons=reasons,
        model_version=model.version,
        latency_ms=(time.perf_counter() - started) * 1000,
        prediction_id=prediction_id,
    )


def _table(
    model: LoadedModel, positions: np.ndarray, probability: np.ndarray, warnings: dict[int, list[Problem]]
) -> pd.DataFrame:
    """The scored table, built column-wise: no Python work per row except flagged rows."""
    import pandas as pd

    threshold = model.threshold
    positive = probability >= threshold
    band = confidence_codes(probability, threshold)
    accuracy = _band_accuracy(model)
    accuracies = np.array([np.nan if accuracy[name] is None else accuracy[name] for name in CONFIDENCE_NAMES])
    quality = np.ones(len(positions))
    warning_text = np.full(len(positions), "", dtype=object)
    flagged = sorted(warnings)
    if flagged:
        rows = np.searchsorted(positions, flagged)
        for row, position in zip(rows.tolist(), flagged, strict=True):
            if row < len(positions) and positions[row] == position:
                quality[row] = _quality(warnings[position])
                warning_text[row] = "; ".join(f"{p.field}: {p.message}" for p in warnings[position])
    labels = [model.schema.negative_label, model.schema.positive_label]
    index = pd.Index(positions, name="row")
    return pd.DataFrame(
        {
            "probability": probability,
            "predicted_positive": positive,
            "label": pd.Categorical.from_codes(positive.astype(np.int8), categories=labels),
            "confidence": pd.Categorical.from_codes(band, categories=list(CONFIDENCE_NAMES)),
            "confidence_accuracy": accuracies[band],
            "quality_score": quality,
            "warnings": pd.Series(warning_text, index=index, dtype=object),  # no per-cell inference
        },
        index=index,
    )


def _frame_values(
    model: LoadedModel, rows: pd.DataFrame, valid: EncodedColumns, positions: np.ndarray
) -> list[list[Any]]:
    """The validated values of the scored rows, one list per feature in schema order, as
    the reasons show them."""
    columns: list[list[Any]] = []
    for spec in model.schema.features:
        if spec.is_numeric:
            columns.append(floats_or_none(valid.numbers[spec.name]))
        else:
            lookup = [*spec.categories, None, None]
            raw = rows[spec.name].iloc[positions].tolist()
            codes = valid.codes[spec.name].tolist()
            unseen = len(spec.categories)
            columns.append([str(raw[i]).strip() if c == unseen else lookup[c] for i, c in enumerate(codes)])
    return columns


def reason_dict(feature: str, value: Any, reference: Any, contribution: float, direction: str) -> dict[str, Any]:
    """One reason as every face of the product shows it (what _reason_list builds)."""
    return {
        "feature": feature,
        "value": value,
        "reference": reference,
        "contribution": contribution,
        "direction": direction,
    }


ReasonMaker = Callable[[str, Any, Any, float, str], Any]


def _batch_reasons(
    model: LoadedModel,
    positions: np.ndarray,
    value_columns: list[list[Any]],
    contributions: np.ndarray,
    make: ReasonMaker = reason_dict,
) -> dict[int, list[Any]]:
    """_reason_list for every scored row at once, built rank by rank over whole columns.

    The top features by a stable sort of -|contribution| along each row (the order
    sorted() gives one record), their values and references gathered by numpy, each
    reason made by `make(feature, value, reference, contribution, direction)`: a dict,
    or for an API answer a struct its encoder writes as the same JSON object. A reason
    whose contribution is nil (the feature at its reference) is left out, as for one record.
    """
    specs = model.schema.features
    rows, top = len(positions), min(TOP_REASONS, len(specs))
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :top]
    chosen = np.take_along_axis(contributions, order, axis=1)
    values = np.empty((rows, len(specs)), dtype=object)
    for j, column in enumerate(value_columns):
        values[:, j] = column
    values = np.take_along_axis(values, order, axis=1)
    names = np.array([spec.name for spec in specs], dtype=object)[order]
    references = np.array([spec.default for spec in specs], dtype=object)[order]
    directions = np.array(["lowers", "raises"], dtype=object)[(chosen > 0).view(np.int8)]
    by_rank = [
        list(map(make, *(part[:, k].tolist() for part in (names, values, references, chosen, directions))))
        for k in range(top)
    ]
    per_row = list(map(list, zip(*by_rank, strict=True))) if top else [[] for _ in range(rows)]
    kept = (np.abs(chosen) > 1e-12).sum(axis=1)
    for row in np.flatnonzero(kept < top).tolist():
        per_row[row] = per_row[row][: kept[row]]
    return dict(zip(positions.tolist(), per_row, strict=True))


def score_json_columns(
    batch: JsonColumns, model: LoadedModel, *, explain: bool = False, make_reason: ReasonMaker = reason_dict
) -> BatchScore:
    """score_batch for JSON records given as columns (lib.api.batch_body): the same
    errors, warnings, probabilities and reasons, validated and scored column-wise."""
    columns, rows = batch.columns, batch.rows
    started = time.perf_counter()
    encoded, errors, warnings = validate_json_columns(batch, model.schema)
    keep = np.ones(rows, dtype=bool)
    keep[list(errors)] = False
    positions = np.flatnonzero(keep)
    valid = encoded.take(positions) if errors else encoded
    probability = model.scorer.probabilities(valid)
    reasons = None
    if explain:
        kept = positions.tolist()
        value_columns = [
            floats_or_none(valid.numbers[spec.name])
            if spec.is_numeric
            else (columns[spec.name] if not errors else [columns[spec.name][i] for i in kept])
            for spec in model.schema.features
        ]
        contributions = model.scorer.batch_contributions(valid, probability)
        reasons = _batch_reasons(model, positions, value_columns, contributions, make_reason)
    table = _table(model, positions, probability, warnings)
    return BatchScore(
        table=table,
        errors=[RecordError(index, problems) for index, problems in sorted(errors.items())],
        warnings={p: w for p, w in warnings.items() if p not in errors},
        reasons=reasons,
        model_version=model.version,
        threshold=model.threshold,
        latency_ms=(time.perf_counter() - started) * 1000,
        rows_in=rows,
        inputs=valid,
    )


def score_batch(rows: pd.DataFrame | list[Any], model: LoadedModel, *, explain: bool = False) -> BatchScore:
    """Score many records: invalid ones are listed with their reasons and not scored.

    A DataFrame is read like a CSV (numbers may arrive as text); a list of dicts is
    checked strictly like JSON. Raises InvalidInput only when a column is missing.
    """
    import pandas as pd

    from lib.model.frame_validation import validate_frame

    started = time.perf_counter()
    scorer = model.scorer
    reasons: dict[int, list[dict[str, Any]]] | None = None
    valid = None
    if isinstance(rows, pd.DataFrame):
        try:
            encoded, errors, warnings = validate_frame(rows, model.schema)
        except MissingColumns as exc:
            raise InvalidInput([RecordError(-1, [Problem("", "missing_columns", str(exc))])], str(exc)) from None
        keep = np.ones(encoded.rows, dtype=bool)
        keep[list(errors)] = False
        positions = np.flatnonzero(keep)
        valid = encoded.take(positions) if errors else encoded
        probability = scorer.probabilities(valid)
        if explain:
            listed = _frame_values(model, rows, valid, positions)
            reasons = _batch_reasons(model, positions, listed, scorer.batch_contributions(valid, probability))
    else:
        errors, warnings, kept, scored = {}, {}, [], []
        reasons = {} if explain else None
        for index, record in enumerate(rows):
            values, problems, record_warnings = validate_record(record, model.schema)
            if problems:
                errors[index] = problems
                continue
            kept.append(index)
            if record_warnings:
                warnings[index] = record_warnings
            if reasons is not None:
                p, contributions = scorer.explain(values)
                reasons[index] = _reason_list(model, [values[name] for name in model.schema.names], contributions)
            else:
                p = scorer.probability(values)
            scored.append(p)
        positions, probability = np.array(kept, dtype=int), np.array(scored, dtype=float)
    table = _table(model, positions, probability, warnings)
    record_errors = [RecordError(index, problems) for index, problems in sorted(errors.items())]
    return BatchScore(
        table=table,
        errors=record_errors,
        warnings={p: w for p, w in warnings.items() if p not in errors},
        reasons=reasons,
        model_version=model.version,
        threshold=model.threshold,
        latency_ms=(time.perf_counter() - started) * 1000,
        rows_in=len(rows),
        inputs=valid,
    )
