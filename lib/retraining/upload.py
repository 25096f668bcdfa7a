"""Checking a CSV uploaded for retraining against the dataset config, before anything starts.

Every problem is listed (not just the first), in words an analyst can act on: the same
target and positive label, the same feature columns as the served model, enough rows
of each class for cross-validation and the three-way split.
"""

from __future__ import annotations

import csv
import io

import pandas as pd

from lib.training.config import DatasetConfig

MIN_ROWS = 200
MIN_PER_CLASS = 20
SEPARATORS = ",;\t|"


def _separator(text: str, default: str) -> str:
    try:
        return csv.Sniffer().sniff(text[:65_536], delimiters=SEPARATORS).delimiter
    except csv.Error:
        return default


def expected_features(config: DatasetConfig) -> list[str]:
    """The feature columns of the bundled dataset (used when no model is served)."""
    header = pd.read_csv(config.csv_path, sep=config.separator, nrows=0, dtype=str)
    excluded = {config.target, *config.id_columns, *config.drop_columns}
    return [column for column in header.columns if column not in excluded]


def read_training_csv(raw: bytes, config: DatasetConfig, features: list[str]) -> tuple[pd.DataFrame | None, list[str]]:
    """The uploaded table (cells as text) and every reason it cannot train a model
    comparable to the served one; the table is None when there is any problem."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [f"the file is not UTF-8 text (byte {exc.start} cannot be read): save it as UTF-8 CSV"]
    if not text.strip():
        return None, ["the file is empty"]
    separator = _separator(text, config.separator)
    header = [name.strip() for name in next(csv.reader(io.StringIO(text), delimiter=separator))]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:  # pandas would rename them silently (Churn.1)
        return None, [f"columns appear more than once: {', '.join(duplicated)}"]
    try:
        table = pd.read_csv(io.StringIO(text), sep=separator, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        return None, [f"the file is not a readable CSV: {str(exc).splitlines()[0]}"]
    problems = _problems(table, config, features)
    return (None if problems else table), problems


def _problems(table: pd.DataFrame, config: DatasetConfig, features: list[str]) -> list[str]:
    table.columns = [str(c).strip() for c in table.columns]
    problems = []
    missing = [name for name in features if name not in table.columns]
    if missing:
        problems.append(f"missing feature columns ({len(missing)}): {', '.join(missing)}")
    allowed = {*features, config.target, *config.id_columns, *config.drop_columns}
    unexpected = [name for name in table.columns if name not in allowed]
    if unexpected:
        problems.append(
            f"columns the model does not know ({len(unexpected)}): {', '.join(unexpected)} "
            "(remove them, or describe a new dataset in its own config)"
        )
    if config.target not in table.columns:
        problems.append(f"the target column {config.target!r} is missing")
        return problems
    target = table[config.target].str.strip().replace("", None).dropna()
    values = sorted(target.unique())
    if config.positive_label not in values:
        problems.append(
            f"the target {config.target!r} never takes the positive label {config.positive_label!r} "
            f"(values found: {', '.join(map(repr, values[:5])) or 'none'})"
        )
    if len(values) > 2:
        problems.append(
            f"the target {config.target!r} must take exactly two values, not {len(values)} "
            f"({', '.join(map(repr, values[:5]))}{'...' if len(values) > 5 else ''})"
        )
    if len(target) < MIN_ROWS:
        problems.append(f"only {len(target)} rows have a target: at least {MIN_ROWS} are needed")
    counts = target.value_counts()
    rare = [f"{value!r} ({count})" for value, count in counts.items() if count < MIN_PER_CLASS]
    if rare and len(values) == 2:
        problems.append(f"each target value needs at least {MIN_PER_CLASS} rows: {', '.join(rare)}")
    return problems


def bundled_with(
    config: DatasetConfig, extra: pd.DataFrame, features: list[str]
) -> tuple[pd.DataFrame | None, list[str]]:
    """The bundled dataset (cells as text) with `extra` rows of the same columns after it
    (recorded outcomes), checked as an upload is: the table, or None and every problem."""
    bundled = pd.read_csv(config.csv_path, sep=config.separator, dtype=str, keep_default_na=False)
    table = pd.concat([bundled, extra.reindex(columns=bundled.columns, fill_value="")], ignore_index=True)
    problems = _problems(table, config, features)
    return (None if problems else table), problems
