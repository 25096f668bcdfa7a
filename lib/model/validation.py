"""The one validation of input records, shared by the form, the CSV upload and the API.

A record is either usable exactly as sent (possibly with warnings) or refused with every
bad field named. Two entry points, one set of rules and messages:
`validate_record` reads a JSON-like dict strictly (no text for numbers, no numbers for
text); `validate_frame` (lib.model.frame_validation) reads a table the way a CSV is read
(numbers may arrive as text) and works column by column, looping only over the cells it
flags. Rules and messages live here; the table reader, which needs pandas and Arrow, lives
apart, so serving one record never imports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

import numpy as np

from lib.model.schema import ABSOLUTE_LIMIT, FeatureSchema, FeatureSpec
from lib.redact import listed
from lib.redact import shown as _shown


@dataclass(frozen=True)
class Problem:
    """One thing wrong (error) or unusual (warning) with one field of one record."""

    field: str
    code: str
    message: str


@dataclass(frozen=True)
class EncodedColumns:
    """A validated table: numbers as float arrays (NaN = missing), categories as codes.

    Category code k < K indexes spec.categories; K means unseen, K + 1 means missing.
    """

    numbers: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    rows: int

    @staticmethod
    def concat(parts: list[EncodedColumns]) -> EncodedColumns:
        first = parts[0]
        return EncodedColumns(
            numbers={name: np.concatenate([p.numbers[name] for p in parts]) for name in first.numbers},
            codes={name: np.concatenate([p.codes[name] for p in parts]) for name in first.codes},
            rows=sum(p.rows for p in parts),
        )

    def slice(self, start: int, stop: int) -> EncodedColumns:
        """Rows start to stop, as views (no copy)."""
        return EncodedColumns(
            numbers={name: values[start:stop] for name, values in self.numbers.items()},
            codes={name: values[start:stop] for name, values in self.codes.items()},
            rows=stop - start,
        )

    def take(self, positions: np.ndarray) -> EncodedColumns:
        return EncodedColumns(
            numbers={name: values[positions] for name, values in self.numbers.items()},
            codes={name: values[positions] for name, values in self.codes.items()},
            rows=len(positions),
        )


def floats_or_none(values: np.ndarray) -> list[float | None]:
    """A float column as Python values, NaN (missing) as None: how JSON and the reasons show it."""
    return [None if v != v else v for v in values.tolist()]


class MissingColumns(ValueError):
    """A table lacks feature columns: no row of it can be scored."""


def _show_number(value: float) -> str:
    try:
        return f"{value:g}"
    except OverflowError:  # a JSON integer with hundreds of digits
        return f"a {len(str(abs(value)))}-digit number"


def _out_of_bounds(spec: FeatureSpec, value: float) -> Problem:
    low, high = spec.hard_range
    return Problem(
        spec.name, "out_of_bounds", f"{_show_number(value)} is refused: must be between {low:g} and {high:g}"
    )


def _outside_training_range(spec: FeatureSpec, value: float) -> Problem:
    low, high = spec.training_range
    return Problem(
        spec.name,
        "outside_training_range",
        f"{value:g} is outside the training range [{low:g}, {high:g}]: the model extrapolates",
    )


def _not_whole(spec: FeatureSpec, value: float) -> Problem:
    return Problem(spec.name, "not_whole", f"{value:g} is not a whole number, as in training")


def _not_finite(spec: FeatureSpec, value: Any) -> Problem:
    return Problem(spec.name, "not_finite", f"{value} is not a finite number")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {_shown(value)}"


def _too_long(spec: FeatureSpec, length: int) -> Problem:
    return Problem(
        spec.name, "too_long", f"a text of {length:,} characters is refused: at most {spec.max_text_chars:,}"
    )


def _wrong_type(spec: FeatureSpec, value: Any) -> Problem:
    expected = "a number" if spec.is_numeric else "text"
    return Problem(spec.name, "wrong_type", f"expected {expected}, got {_describe(value)}")


def _category_problem(spec: FeatureSpec, value: str, policy: str) -> tuple[bool, Problem]:
    """(is_error, problem) for a category training never saw, by the dataset's policy."""
    known = ", ".join(_shown(c) for c in spec.categories[:12])
    if policy == "reject":
        return True, Problem(spec.name, "unknown_category", f"{_shown(value)} is not one of {known}")
    return False, Problem(spec.name, "unseen_category", f"{_shown(value)} was never seen in training (known: {known})")


def _missing_problem(spec: FeatureSpec) -> tuple[bool, Problem]:
    """(is_error, problem) for an empty value: imputed only if training had empty values too."""
    if spec.nullable:
        statistic = "median" if spec.is_numeric else "most frequent value"
        return False, Problem(spec.name, "imputed", f"no value: the training {statistic} is used")
    return True, Problem(spec.name, "missing", "a value is required")


def _file(problem_kind: tuple[bool, Problem], errors: list[Problem], warnings: list[Problem]) -> None:
    is_error, problem = problem_kind
    (errors if is_error else warnings).append(problem)


def _check_number(spec: FeatureSpec, value: float, errors: list[Problem], warnings: list[Problem]) -> None:
    low, high = spec.hard_range
    if not low <= value <= high:
        errors.append(_out_of_bounds(spec, value))
        return
    if value in spec.special_values:
        return  # a case of its own ("never contacted"), not a number out of range
    seen_min, seen_max = spec.training_range
    if not seen_min <= value <= seen_max:
        warnings.append(_outside_training_range(spec, value))
    if spec.dtype == "int64" and value != math.floor(value):
        warnings.append(_not_whole(spec, value))


def validate_record(record: Any, schema: FeatureSchema) -> tuple[dict[str, Any], list[Problem], list[Problem]]:
    """Check one JSON-like record strictly.

    Returns the model-ready values (None for a missing value that will be imputed), the
    errors and the warnings.
    """
    if not isinstance(record, dict):
        problem = Problem("", "wrong_type", f"a record must be an object of field: value, got {_describe(record)}")
        return {}, [problem], []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    values: dict[str, Any] = {}
    for spec in schema.features:
        name = spec.name
        if name not in record:
            errors.append(Problem(name, "missing", "this field is required"))
            continue
        value = record[name]
        if value is None:
            _file(_missing_problem(spec), errors, warnings)
            values[name] = None
        elif spec.is_numeric:
            kind = type(value)
            if (
                kind is not float
                and kind is not int
                and (isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating))
            ):
                errors.append(_wrong_type(spec, value))
            elif kind is not int and not math.isfinite(value):
                errors.append(_not_finite(spec, value))
            elif kind is not float and abs(value) > ABSOLUTE_LIMIT:
                errors.append(_out_of_bounds(spec, value))  # before float(): may not fit a float
            else:
                number = float(value)
                _check_number(spec, number, errors, warnings)
                values[name] = number
        elif type(value) is not str:
            errors.append(_wrong_type(spec, value))
        elif len(value) > spec.max_text_chars:
            errors.append(_too_long(spec, len(value)))
        else:
            if value not in spec.category_set:
                _file(_category_problem(spec, value, schema.unknown_categories), errors, warnings)
            values[name] = value
    if len(record) > len(values) + len(errors):
        ignored = sorted(str(field) for field in record if field not in schema.quiet_fields)
        if ignored:
            warnings.append(Problem(listed(ignored), "ignored_fields", "not a model feature: ignored"))
    return values, errors, warnings


@dataclass(frozen=True)
class JsonColumns:
    """JSON records as columns: one list per feature (every feature present; numbers,
    texts or null only, as lib.api.batch_body decodes a plain batch), and a way back to
    record `position` as it was sent, for the rows a column check flags."""

    columns: dict[str, list[Any]]
    rows: int
    record_at: Callable[[int], dict[str, Any]]
    id_values: dict[str, list[Any]] = field(default_factory=dict)  # the dataset's id columns, as sent (None: not)


def validate_json_columns(
    batch: JsonColumns, schema: FeatureSchema
) -> tuple[EncodedColumns, dict[int, list[Problem]], dict[int, list[Problem]]]:
    """Check JSON records column by column.

    A record any column flags (a null, a category training never saw, a number outside
    the training range or not whole) is checked again by validate_record on
    `batch.record_at(position)`: its errors and warnings are exactly that function's, and
    the records nothing flags have none. Returns every row encoded, errors and warnings.
    """
    columns, rows, record_at = batch.columns, batch.rows, batch.record_at
    flagged = np.zeros(rows, dtype=bool)
    numbers: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    for spec in schema.features:
        column = columns[spec.name]
        if spec.is_numeric:
            values = np.array(column, dtype=float)  # None becomes NaN, which no check passes
            numbers[spec.name] = values
            flagged |= ~_plain_numbers(spec, values)
        else:
            unseen = len(spec.categories)
            found = np.fromiter(map(_category_codes(spec).get, column, repeat(unseen)), dtype=np.int32, count=rows)
            codes[spec.name] = found
            flagged |= found >= unseen
    errors: dict[int, list[Problem]] = {}
    warnings: dict[int, list[Problem]] = {}
    for position in np.flatnonzero(flagged).tolist():
        _, problems, notes = validate_record(record_at(position), schema)
        if problems:
            errors[position] = problems
        if notes:
            warnings[position] = notes
    return EncodedColumns(numbers=numbers, codes=codes, rows=rows), errors, warnings


def _plain_numbers(spec: FeatureSpec, values: np.ndarray) -> np.ndarray:
    """Which values _check_number passes without a word: accepted, and a special value or
    inside the training range (and whole, for a whole-number feature)."""
    low, high = spec.hard_range
    seen_min, seen_max = spec.training_range
    with np.errstate(invalid="ignore"):
        usual = (values >= seen_min) & (values <= seen_max)
        if spec.dtype == "int64":
            usual &= values == np.floor(values)
        if spec.special:
            usual |= np.isin(values, list(spec.special_values))
        return usual & (values >= low) & (values <= high)


def _category_codes(spec: FeatureSpec) -> dict[str | None, int]:
    """Category -> its code, null -> the missing code (anything else: the unseen code)."""
    return {**{category: code for code, category in enumerate(spec.categories)}, None: len(spec.categories) + 1}
