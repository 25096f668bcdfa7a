"""The one scoring function behind the form, the CSV upload and the API.

Records are validated against the bundle's feature schema (lib.schema), scored by the
bundle's pipeline, and enriched: label, confidence band, quality warnings and the top
reasons. A record with any error is refused whole, never partly scored.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from lib.evaluation import confidence_band
from lib.model_loader import LoadedModel
from lib.schema import MissingColumns, Problem, validate_frame, validate_record

TOP_REASONS = 5
# Each warning lowers the quality score by this much; ignored extra fields do not count.
WARNING_PENALTY = 0.25
NEUTRAL_WARNINGS = {"ignored_fields"}


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BatchScore:
    """Scored rows (indexed by input position) and the rows refused, with their reasons."""

    table: pd.DataFrame
    errors: list[RecordError]
    model_version: str
    latency_ms: float
    rows_in: int

    def predictions(self) -> list[Prediction]:
        per_row = self.latency_ms / max(self.rows_in, 1)
        return [_prediction(row, self.model_version, per_row) for row in self.table.itertuples(index=False)]


def _prediction(row: Any, version: str, latency_ms: float) -> Prediction:
    return Prediction(
        label=row.label,
        predicted_positive=bool(row.predicted_positive),
        probability=float(row.probability),
        threshold=float(row.threshold),
        confidence=row.confidence,
        confidence_accuracy=row.confidence_accuracy,
        quality_score=float(row.quality_score),
        warnings=row.warnings,
        reasons=getattr(row, "reasons", []),
        model_version=version,
        latency_ms=latency_ms,
    )


def _positive_probability(model: LoadedModel, ready: pd.DataFrame) -> np.ndarray:
    return model.pipeline.predict_proba(ready)[:, 1]


def _reasons(model: LoadedModel, ready: pd.DataFrame, probability: np.ndarray) -> list[list[dict[str, Any]]]:
    """Per feature, how much the probability moves when it is reset to the training default.

    Model-agnostic (occlusion): one stacked predict call for all features of all rows.
    """
    specs = model.schema.features
    variants = []
    for spec in specs:
        variant = ready.copy()
        variant[spec.name] = spec.default
        variants.append(variant)
    occluded = _positive_probability(model, pd.concat(variants, ignore_index=True))
    contributions = probability[None, :] - occluded.reshape(len(specs), len(ready))
    reasons = []
    for row in range(len(ready)):
        order = np.argsort(-np.abs(contributions[:, row]), kind="stable")[:TOP_REASONS]
        reasons.append(
            [
                {
                    "feature": specs[j].name,
                    "value": _plain(ready.iat[row, j]),
                    "reference": specs[j].default,
                    "contribution": float(contributions[j, row]),
                    "direction": "raises" if contributions[j, row] > 0 else "lowers",
                }
                for j in order
                if abs(contributions[j, row]) > 1e-9
            ]
        )
    return reasons


def _plain(value: Any) -> Any:
    """JSON-friendly value: numpy scalars to Python, missing to None."""
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _warning_dicts(problems: list[Problem]) -> list[dict[str, str]]:
    return [asdict(problem) for problem in problems]


def _quality(problems: list[Problem]) -> float:
    counted = sum(1 for problem in problems if problem.code not in NEUTRAL_WARNINGS)
    return max(0.0, 1.0 - WARNING_PENALTY * counted)


def _score_ready(model: LoadedModel, ready: pd.DataFrame, warnings: list[list[Problem]], explain: bool) -> pd.DataFrame:
    threshold = model.threshold
    probability = _positive_probability(model, ready) if len(ready) else np.empty(0)
    positive = probability >= threshold
    bands = model.kpis.get("confidence", {}).get("bands", {})
    confidence = [confidence_band(p, threshold) for p in probability]
    table = pd.DataFrame(
        {
            "probability": probability,
            "predicted_positive": positive,
            "label": np.where(positive, model.schema.positive_label, model.schema.negative_label),
            "threshold": threshold,
            "confidence": confidence,
            "confidence_accuracy": [bands.get(name, {}).get("accuracy") for name in confidence],
            "quality_score": [_quality(problems) for problems in warnings],
            "warnings": [_warning_dicts(problems) for problems in warnings],
        },
        index=ready.index,
    )
    if explain:
        table["reasons"] = _reasons(model, ready, probability) if len(ready) else []
    return table


def score_batch(rows: pd.DataFrame | list[Any], model: LoadedModel, *, explain: bool = False) -> BatchScore:
    """Score many records: invalid ones are listed with their reasons and not scored.

    A DataFrame is read like a CSV (numbers may arrive as text); a list of dicts is
    checked strictly like JSON. Raises InvalidInput only when a column is missing.
    """
    started = time.perf_counter()
    if isinstance(rows, pd.DataFrame):
        try:
            ready, errors, warnings = validate_frame(rows, model.schema)
        except MissingColumns as exc:
            raise InvalidInput([RecordError(-1, [Problem("", "missing_columns", str(exc))])], str(exc)) from None
        valid = np.array([i not in errors for i in range(len(ready))], dtype=bool)
        ready = ready[valid]
        row_warnings = [warnings.get(i, []) for i in ready.index]
        rows_in = len(rows)
    else:
        records, row_warnings, valid_index, errors = [], [], [], {}
        for index, record in enumerate(rows):
            values, problems, record_warnings = validate_record(record, model.schema)
            if problems:
                errors[index] = problems
            else:
                records.append(values)
                row_warnings.append(record_warnings)
                valid_index.append(index)
        ready = pd.DataFrame(records, columns=model.schema.names, index=valid_index)
        rows_in = len(rows)
    ready = _model_frame(ready, model)
    table = _score_ready(model, ready, row_warnings, explain)
    record_errors = [RecordError(index, problems) for index, problems in sorted(errors.items())]
    elapsed_ms = (time.perf_counter() - started) * 1000
    return BatchScore(
        table=table, errors=record_errors, model_version=model.version, latency_ms=elapsed_ms, rows_in=rows_in
    )


def _model_frame(ready: pd.DataFrame, model: LoadedModel) -> pd.DataFrame:
    """Columns in schema order, numbers as float, categories as object with NaN for missing."""
    columns = {}
    for spec in model.schema.features:
        values = ready[spec.name]
        if spec.is_numeric:
            columns[spec.name] = values.astype(float)
        else:
            columns[spec.name] = values.astype(object).where(values.notna(), np.nan)
    return pd.DataFrame(columns, index=ready.index)


def score_record(record: Any, model: LoadedModel, *, explain: bool = True) -> Prediction:
    """Score one record (a dict of field: value); raises InvalidInput naming every bad field."""
    started = time.perf_counter()
    batch = score_batch([record], model, explain=explain)
    if batch.errors:
        raise InvalidInput(batch.errors)
    latency_ms = (time.perf_counter() - started) * 1000
    return _prediction(next(batch.table.itertuples(index=False)), model.version, latency_ms)
