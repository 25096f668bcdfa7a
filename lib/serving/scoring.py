"""The one way a prediction is made and recorded: validate, score, then log the
prediction or the refusal. The Predict form, the batch upload and the API all come here;
the prediction log (lib.monitoring.log) only stores what it is given."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np

from lib.model.inference import (
    BatchScore,
    InvalidInput,
    Prediction,
    ReasonMaker,
    reason_dict,
    score_batch,
    score_json_columns,
    score_record,
)
from lib.model.loaded import LoadedModel
from lib.model.validation import JsonColumns
from lib.monitoring.ids import allocator, id_text, id_texts
from lib.monitoring.log import Source, prediction_log
from lib.monitoring.outcomes import entity_of, entity_of_values
from lib.serving.shadow import shadow


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def log_refusal(source: Source, version: str | None, started: float, kind: str) -> None:
    """A request refused before or while scoring, as a short code (malformed_json,
    invalid_input, too_large, ...); `started` is a perf_counter reading."""
    prediction_log().log_failure(source, version, _elapsed_ms(started), kind)


def score_and_log(
    record: Any, model: LoadedModel, source: Source, *, explain: bool = True, started: float | None = None
) -> Prediction:
    """Score one record and log it, with its latency from `started` (when the request
    arrived) if given; an invalid record is logged as refused and InvalidInput raised."""
    started = time.perf_counter() if started is None else started
    prediction_id = allocator.one()
    try:
        prediction = score_record(record, model, explain=explain, prediction_id=id_text(prediction_id))
    except InvalidInput:
        log_refusal(source, model.version, started, "invalid_input")
        raise
    entities = [entity_of(record, model.schema.id_columns)] if model.schema.id_columns else []
    prediction_log().log_records(model, source, [record], [prediction], _elapsed_ms(started), [prediction_id], entities)
    if shadow.version is not None:  # a challenger scores it too, later, in its own thread
        shadow.offer([record], np.array([prediction_id], dtype=np.int64))
    return prediction


def score_and_log_records(
    records: list[Any], model: LoadedModel, source: Source, *, explain: bool = True, started: float | None = None
) -> list[Prediction]:
    """All or nothing: every record scored and logged (each with its share of the call),
    or, if any is invalid, none, the request logged as refused, and InvalidInput raised
    naming every bad record."""
    started = time.perf_counter() if started is None else started
    batch = score_batch(records, model, explain=explain)
    if batch.errors:
        log_refusal(source, model.version, started, "invalid_input")
        raise InvalidInput(batch.errors)
    ids = allocator.many(len(records))
    predictions = replace(batch, prediction_ids=id_texts(ids)).predictions()
    id_columns = model.schema.id_columns
    entities = [entity_of(record, id_columns) for record in records] if id_columns else []
    prediction_log().log_records(
        model, source, records, predictions, _elapsed_ms(started) / len(records), ids.tolist(), entities
    )
    shadow.offer(records, ids)
    return predictions


def score_and_log_columns(
    batch: JsonColumns,
    model: LoadedModel,
    source: Source,
    *,
    explain: bool = True,
    started: float | None = None,
    make_reason: ReasonMaker = reason_dict,
) -> BatchScore:
    """score_and_log_records for a batch decoded as columns: all or nothing, the same
    errors and warnings, the scored rows logged (and spooled) as one table."""
    started = time.perf_counter() if started is None else started
    scored = score_json_columns(batch, model, explain=explain, make_reason=make_reason)
    if scored.errors:
        log_refusal(source, model.version, started, "invalid_input")
        raise InvalidInput(scored.errors)
    assert scored.inputs is not None
    labels = scored.table["label"].to_numpy(dtype=object)
    texts = {spec.name: batch.columns[spec.name] for spec in model.schema.features if not spec.is_numeric}
    ids = allocator.many(batch.rows)
    prediction_log().log_columns(
        model,
        source,
        scored.inputs,
        scored.table["probability"].to_numpy(),
        labels,
        _elapsed_ms(started) / batch.rows,
        texts=texts,
        ids=ids,
        entities=column_entities(batch.id_values, model.schema.id_columns),
    )
    shadow.offer(batch, ids)
    return replace(scored, prediction_ids=id_texts(ids))


def log_scored_rows(
    batch: BatchScore,
    model: LoadedModel,
    share_ms: float,
    batch_rows: int | None = None,
    batch_offset: int = 0,
    id_values: dict[str, list[Any]] | None = None,
) -> list[str]:
    """An upload's scored rows and refused ones (source "batch"), each with `share_ms`;
    batch_rows and batch_offset: this is a chunk of a bigger upload (PredictionLog.log_columns);
    id_values: the dataset's id columns of the scored rows, when the upload had them.
    Returns the scored rows' prediction ids."""
    ids = allocator.many(len(batch.table))
    if len(batch.table) and batch.inputs is not None:
        prediction_log().log_columns(
            model,
            "batch",
            batch.inputs,
            batch.table["probability"].to_numpy(),
            _labels(batch, model),
            share_ms,
            batch_rows=batch_rows,
            batch_offset=batch_offset,
            ids=ids,
            entities=column_entities(id_values or {}, model.schema.id_columns),
        )
    if batch.errors:
        prediction_log().log_failure("batch", model.version, share_ms, "invalid_input", rows=len(batch.errors))
    return id_texts(ids)


def column_entities(id_values: dict[str, list[Any]], id_columns: list[str]) -> list[str | None] | None:
    """Each row's entity from the id columns' values (None: the input had not all of them)."""
    if not id_columns or any(name not in id_values for name in id_columns):
        return None
    return [entity_of_values(row) for row in zip(*(id_values[name] for name in id_columns), strict=True)]


def _labels(batch: BatchScore, model: LoadedModel) -> np.ndarray:
    """Each scored row's label as one of two shared strings: `label.tolist()` would make a
    new string per row, and a million small objects, freed late, pin the allocator's
    arenas long after the session that made them has ended."""
    names = np.array([model.schema.negative_label, model.schema.positive_label], dtype=object)
    return names[batch.table["predicted_positive"].to_numpy(dtype=np.int8)]
