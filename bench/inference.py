"""Scoring speed: one record and 100k-row batches, each next to the naive sklearn way."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd

from bench.timing import Measurement, sample, summary
from lib.model.inference import score_batch, score_record
from lib.model_loader import LoadedModel
from lib.serving.csv_io import read_csv_bytes
from lib.training.config import load_config
from lib.training.data import load_dataset

BATCH_ROWS = 100_000


def _rows(model: LoadedModel, config_path: str, count: int, seed: int = 0) -> pd.DataFrame:
    """`count` customers drawn with replacement from the cleaned dataset, as an upload would hold."""
    features = load_dataset(load_config(config_path)).features
    picked = features.sample(count, replace=True, random_state=seed).reset_index(drop=True)
    return picked[model.schema.names]


def _record(frame: pd.DataFrame, model: LoadedModel) -> dict[str, Any]:
    """One customer as JSON would carry it: numbers as numbers, categories as text."""
    row = frame.dropna().iloc[0]
    return {
        spec.name: float(pd.to_numeric(row[spec.name])) if spec.is_numeric else str(row[spec.name])
        for spec in model.schema.features
    }


def varied(model: LoadedModel, count: int) -> list[dict[str, Any]]:
    """`count` records: the typical customer with the first numeric feature moved across
    its training range and the first categorical one through its categories (no column
    of any dataset is named)."""
    base = {spec.name: spec.default for spec in model.schema.features}
    number = next((s for s in model.schema.features if s.is_numeric), None)
    category = next((s for s in model.schema.features if not s.is_numeric), None)
    records = []
    for i in range(count):
        record = dict(base)
        if number is not None:
            low, high = number.training_range
            record[number.name] = float(low + (high - low) * (i % 24) / 23)
        if category is not None:
            record[category.name] = category.categories[i % len(category.categories)]
        records.append(record)
    return records


def _micro(name: str, seconds: list[float], **extra: Any) -> Measurement:
    median, low, high = summary([s * 1e6 for s in seconds])
    return Measurement(name=name, unit="µs", median=median, minimum=low, maximum=high, repeats=len(seconds), **extra)


def _throughput(name: str, seconds: list[float], rows: int, **extra: Any) -> Measurement:
    median, low, high = summary([rows / s for s in seconds])
    return Measurement(
        name=name,
        unit="rows/s",
        median=median,
        minimum=low,
        maximum=high,
        repeats=len(seconds),
        higher_is_better=True,
        **extra,
    )


def run(model: LoadedModel, config_path: str, quick: bool = False) -> list[Measurement]:
    repeats = 5 if quick else 25
    rows = 5_000 if quick else BATCH_ROWS
    frame = _rows(model, config_path, rows)
    record = _record(frame, model)
    naive_label = "naive: pipeline.predict_proba(pd.DataFrame([record]))"
    naive = sample(lambda: model.pipeline.predict_proba(pd.DataFrame([record]))[:, 1], repeats, inner=20)
    naive_median = summary(naive)[0] * 1e6
    values = {name: record[name] for name in model.schema.names}
    results = [
        _micro(naive_label, naive),
        _micro(
            "score_record (validation, warnings, top reasons)",
            sample(lambda: score_record(record, model), repeats, inner=200),
            baseline_name=naive_label,
            baseline_median=naive_median,
            target="<= 100 µs",
        ),
        _micro(
            "score_record, explain=False",
            sample(lambda: score_record(record, model, explain=False), repeats, inner=200),
            baseline_name=naive_label,
            baseline_median=naive_median,
        ),
        _micro(
            f"raw compiled score ({model.scorer.kind})",
            sample(lambda: model.scorer.probability(values), repeats, inner=1000),
            baseline_name=naive_label,
            baseline_median=naive_median,
            target="<= 10 µs",
        ),
    ]

    features = frame[model.schema.names]
    naive_batch_label = f"naive: pipeline.predict_proba, {rows:,} rows"
    naive_batch = sample(lambda: model.pipeline.predict_proba(features), max(3, repeats // 5))
    raw = io.BytesIO()
    frame.to_csv(raw, index=False)
    csv_bytes = raw.getvalue()
    uploaded = read_csv_bytes(csv_bytes, model.schema)
    naive_csv_label = f"naive: pd.read_csv + predict_proba, {rows:,} rows"
    naive_csv = sample(
        lambda: model.pipeline.predict_proba(pd.read_csv(io.BytesIO(csv_bytes))[model.schema.names]),
        max(3, repeats // 5),
    )
    batch_repeats = max(5, repeats // 2)
    naive_batch_median = rows / summary(naive_batch)[0]
    text_frame = pd.read_csv(io.BytesIO(csv_bytes))
    results += [
        _throughput(naive_batch_label, naive_batch, rows),
        _throughput(
            f"score_batch of an uploaded table (validation, warnings, table), {rows:,} rows",
            sample(lambda: score_batch(uploaded, model), batch_repeats),
            rows,
            baseline_name=naive_batch_label,
            baseline_median=naive_batch_median,
            target=">= 2,000,000 rows/s",
        ),
        _throughput(
            f"score_batch of a pandas DataFrame with text columns, {rows:,} rows",
            sample(lambda: score_batch(text_frame, model), batch_repeats),
            rows,
            baseline_name=naive_batch_label,
            baseline_median=naive_batch_median,
        ),
        _throughput(naive_csv_label, naive_csv, rows),
        _throughput(
            f"CSV bytes to scored table, {rows:,} rows",
            sample(lambda: score_batch(read_csv_bytes(csv_bytes, model.schema), model), batch_repeats),
            rows,
            baseline_name=naive_csv_label,
            baseline_median=rows / summary(naive_csv)[0],
            target=">= 1,000,000 rows/s",
        ),
    ]
    return results
