"""The feature schema (`features_order.json`) and the one validation of input records.

The same rules serve the form, the CSV upload and the API: a record is either usable
exactly as sent (possibly with warnings) or refused with every bad field named.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lib.data import Dataset
from lib.dataset_config import DatasetConfig

# Without a configured bound, numbers beyond this are refused: no real feature is that
# large, and such values (1e308) overflow the scaler and give a meaningless probability.
ABSOLUTE_LIMIT = 1e15


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: its type, what training saw, and what is refused."""

    name: str
    kind: str  # "numeric" or "categorical"
    dtype: str  # "int64", "float64" or "object"
    default: float | str
    nullable: bool
    min: float | None = None
    max: float | None = None
    hard_min: float | None = None
    hard_max: float | None = None
    categories: list[str] = field(default_factory=list)

    @property
    def is_numeric(self) -> bool:
        return self.kind == "numeric"


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered features plus the facts a caller needs to read a prediction."""

    features: list[FeatureSpec]
    target: str
    positive_label: str
    negative_label: str
    id_columns: list[str]
    unknown_categories: str

    @property
    def names(self) -> list[str]:
        return [spec.name for spec in self.features]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FeatureSchema:
        return cls(**{**raw, "features": [FeatureSpec(**spec) for spec in raw["features"]]})


@dataclass(frozen=True)
class Problem:
    """One thing wrong (error) or unusual (warning) with one field of one record."""

    field: str
    code: str
    message: str


def build_schema(dataset: Dataset, train_rows: np.ndarray, config: DatasetConfig) -> FeatureSchema:
    """Describe the features as the training part saw them (ranges, categories, defaults)."""
    train = dataset.features.iloc[train_rows]
    specs = []
    for name in dataset.features.columns:
        values = train[name]
        nullable = bool(dataset.features[name].isna().any())
        if name in dataset.numeric:
            integer = name in dataset.integer
            median = float(values.median())
            hard_min, hard_max = config.hard_bounds.get(name, (None, None))
            specs.append(
                FeatureSpec(
                    name=name,
                    kind="numeric",
                    dtype="int64" if integer else "float64",
                    default=float(round(median)) if integer else median,
                    nullable=nullable,
                    min=float(values.min()),
                    max=float(values.max()),
                    hard_min=hard_min,
                    hard_max=hard_max,
                )
            )
        else:
            counts = values.value_counts()
            specs.append(
                FeatureSpec(
                    name=name,
                    kind="categorical",
                    dtype="object",
                    default=str(counts.index[0]),
                    nullable=nullable,
                    categories=sorted(str(category) for category in counts.index),
                )
            )
    return FeatureSchema(
        features=specs,
        target=config.target,
        positive_label=config.positive_label,
        negative_label=dataset.negative_label,
        id_columns=list(config.id_columns),
        unknown_categories=config.unknown_categories,
    )


def _hard_range(spec: FeatureSpec) -> tuple[float, float]:
    low = spec.hard_min if spec.hard_min is not None else -ABSOLUTE_LIMIT
    high = spec.hard_max if spec.hard_max is not None else ABSOLUTE_LIMIT
    return low, high


def _show_number(value: float) -> str:
    try:
        return f"{value:g}"
    except OverflowError:  # a JSON integer with hundreds of digits
        return f"a {len(str(abs(value)))}-digit number"


def _out_of_bounds(spec: FeatureSpec, value: float) -> Problem:
    low, high = _hard_range(spec)
    return Problem(
        spec.name, "out_of_bounds", f"{_show_number(value)} is refused: must be between {low:g} and {high:g}"
    )


def _outside_training_range(spec: FeatureSpec, value: float) -> Problem:
    return Problem(
        spec.name,
        "outside_training_range",
        f"{value:g} is outside the training range [{spec.min:g}, {spec.max:g}]: the model extrapolates",
    )


def _not_whole(spec: FeatureSpec, value: float) -> Problem:
    return Problem(spec.name, "not_whole", f"{value:g} is not a whole number, as in training")


def _wrong_type(spec: FeatureSpec, value: Any) -> Problem:
    expected = "a number" if spec.is_numeric else "text"
    return Problem(spec.name, "wrong_type", f"expected {expected}, got {_describe(value)}")


def _category_problem(spec: FeatureSpec, value: str, policy: str) -> tuple[bool, Problem]:
    """(is_error, problem) for a category training never saw, by the dataset's policy."""
    known = ", ".join(repr(c) for c in spec.categories[:12])
    if policy == "reject":
        return True, Problem(spec.name, "unknown_category", f"{value!r} is not one of {known}")
    return False, Problem(spec.name, "unseen_category", f"{value!r} was never seen in training (known: {known})")


def _missing_problem(spec: FeatureSpec) -> tuple[bool, Problem]:
    """(is_error, problem) for an empty value: imputed only if training had empty values too."""
    if spec.nullable:
        statistic = "median" if spec.is_numeric else "most frequent value"
        return False, Problem(spec.name, "imputed", f"no value: the training {statistic} is used")
    return True, Problem(spec.name, "missing", "a value is required")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _file(problem_kind: tuple[bool, Problem], errors: list[Problem], warnings: list[Problem]) -> None:
    is_error, problem = problem_kind
    (errors if is_error else warnings).append(problem)


def _check_number(spec: FeatureSpec, value: float, errors: list[Problem], warnings: list[Problem]) -> None:
    low, high = _hard_range(spec)
    if not low <= value <= high:
        errors.append(_out_of_bounds(spec, value))
        return
    if not spec.min <= value <= spec.max:
        warnings.append(_outside_training_range(spec, value))
    if spec.dtype == "int64" and value != math.floor(value):
        warnings.append(_not_whole(spec, value))


def validate_record(record: Any, schema: FeatureSchema) -> tuple[dict[str, Any], list[Problem], list[Problem]]:
    """Check one JSON-like record strictly: no text for numbers, no numbers for text.

    Returns the model-ready values, the errors and the warnings.
    """
    if not isinstance(record, dict):
        problem = Problem("", "wrong_type", f"a record must be an object of field: value, got {_describe(record)}")
        return {}, [problem], []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    values: dict[str, Any] = {}
    for spec in schema.features:
        if spec.name not in record:
            errors.append(Problem(spec.name, "missing", "this field is required"))
            continue
        value = record[spec.name]
        if value is None:
            _file(_missing_problem(spec), errors, warnings)
            values[spec.name] = np.nan
        elif spec.is_numeric:
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                errors.append(_wrong_type(spec, value))
            elif isinstance(value, float | np.floating) and not math.isfinite(value):
                errors.append(Problem(spec.name, "not_finite", f"{value} is not a finite number"))
            elif isinstance(value, int | np.integer) and abs(value) > ABSOLUTE_LIMIT:
                errors.append(_out_of_bounds(spec, value))  # before float(): may not fit a float
            else:
                _check_number(spec, float(value), errors, warnings)
                values[spec.name] = float(value)
        elif not isinstance(value, str):
            errors.append(_wrong_type(spec, value))
        else:
            if value not in spec.categories:
                _file(_category_problem(spec, value, schema.unknown_categories), errors, warnings)
            values[spec.name] = value
    ignored = sorted(set(record) - set(schema.names) - set(schema.id_columns) - {schema.target})
    if ignored:
        warnings.append(Problem(", ".join(map(str, ignored)), "ignored_fields", "not a model feature: ignored"))
    return values, errors, warnings


class MissingColumns(ValueError):
    """A table lacks feature columns: no row of it can be scored."""


def validate_frame(
    frame: pd.DataFrame, schema: FeatureSchema
) -> tuple[pd.DataFrame, dict[int, list[Problem]], dict[int, list[Problem]]]:
    """Check a table (e.g. from a CSV) column by column; text in a numeric column is parsed.

    Returns the model-ready table of every row (the caller drops the invalid ones), and the
    errors and warnings keyed by row position. Work is vectorised; only flagged cells loop.
    """
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise MissingColumns(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    errors: dict[int, list[Problem]] = {}
    warnings: dict[int, list[Problem]] = {}
    ready = {}
    for spec in schema.features:
        column = frame[spec.name].reset_index(drop=True)
        if spec.is_numeric:
            ready[spec.name], absent = _numeric_column(spec, column, errors, warnings)
        else:
            ready[spec.name], absent = _categorical_column(spec, column, schema.unknown_categories, errors, warnings)
        is_error, _ = _missing_problem(spec)
        _flag(errors if is_error else warnings, absent, lambda i, s=spec: _missing_problem(s)[1])
    return pd.DataFrame(ready), errors, warnings


def _flag(target: dict[int, list[Problem]], mask: np.ndarray, make: Any) -> None:
    for position in np.flatnonzero(mask):
        target.setdefault(int(position), []).append(make(int(position)))


def _numeric_column(
    spec: FeatureSpec, column: pd.Series, errors: dict[int, list[Problem]], warnings: dict[int, list[Problem]]
) -> tuple[np.ndarray, np.ndarray]:
    if column.dtype == bool:
        numbers = np.full(len(column), np.nan)
        absent = np.zeros(len(column), dtype=bool)
    else:
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)
        blank = column.isna().to_numpy()
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            blank = blank | column.astype(str).str.strip().eq("").to_numpy()
        absent = np.isnan(numbers) & blank
    text = np.isnan(numbers) & ~absent
    _flag(errors, text, lambda i: _wrong_type(spec, column.iloc[i]))
    _flag(errors, np.isinf(numbers), lambda i: Problem(spec.name, "not_finite", "not a finite number"))
    numbers[np.isinf(numbers)] = np.nan
    low, high = _hard_range(spec)
    with np.errstate(invalid="ignore"):
        outside = (numbers < low) | (numbers > high)
        unusual = ~outside & ((numbers < spec.min) | (numbers > spec.max))
        fractional = ~outside & (numbers != np.floor(numbers)) & np.isfinite(numbers)
    _flag(errors, outside, lambda i: _out_of_bounds(spec, numbers[i]))
    _flag(warnings, unusual, lambda i: _outside_training_range(spec, numbers[i]))
    if spec.dtype == "int64":
        _flag(warnings, fractional, lambda i: _not_whole(spec, numbers[i]))
    return numbers, absent


def _category_text(value: Any) -> str | None:
    """A CSV is all text: a category pandas read as a number is compared as its text."""
    if isinstance(value, str):
        return value.strip() or None
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _categorical_column(
    spec: FeatureSpec,
    column: pd.Series,
    policy: str,
    errors: dict[int, list[Problem]],
    warnings: dict[int, list[Problem]],
) -> tuple[pd.Series, np.ndarray]:
    text = pd.Series([_category_text(value) for value in column.tolist()], dtype=object)
    absent = text.isna().to_numpy()
    unseen = ~absent & ~text.isin(spec.categories).to_numpy()
    is_error = policy == "reject"
    _flag(errors if is_error else warnings, unseen, lambda i: _category_problem(spec, text.iloc[i], policy)[1])
    return text.where(text.notna(), np.nan).astype(object), absent
