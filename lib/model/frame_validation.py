"""Validation of a whole table, as a CSV or an uploaded file is read: numbers may arrive as
text, and each column is checked at once, looping only over the cells it flags.

The rules and messages are lib.model.validation's, shared with validate_record; this
module holds the column readers, which need pandas and Arrow. Kept apart so that loading
a model and serving one record never import them (about 0.3 s of a server's start).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lib.model.schema import FeatureSchema, FeatureSpec
from lib.model.validation import (
    EncodedColumns,
    MissingColumns,
    Problem,
    _category_problem,
    _missing_problem,
    _not_finite,
    _not_whole,
    _out_of_bounds,
    _outside_training_range,
    _too_long,
    _wrong_type,
)


def validate_frame(
    frame: pd.DataFrame, schema: FeatureSchema
) -> tuple[EncodedColumns, dict[int, list[Problem]], dict[int, list[Problem]]]:
    """Check a table column by column, as a CSV is read: text in a numeric column is parsed.

    Returns every row encoded (the caller drops the invalid ones) and the errors and
    warnings keyed by row position.
    """
    missing = [name for name in schema.names if name not in frame.columns]
    if missing:
        raise MissingColumns(f"missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    errors: dict[int, list[Problem]] = {}
    warnings: dict[int, list[Problem]] = {}
    numbers: dict[str, np.ndarray] = {}
    codes: dict[str, np.ndarray] = {}
    for spec in schema.features:
        column = frame[spec.name]
        if spec.is_numeric:
            numbers[spec.name], absent = _numeric_column(spec, column, errors, warnings)
        else:
            codes[spec.name], absent = _categorical_column(spec, column, schema.unknown_categories, errors, warnings)
        is_error, problem = _missing_problem(spec)
        _flag(errors if is_error else warnings, absent, lambda _i, p=problem: p)
    return EncodedColumns(numbers=numbers, codes=codes, rows=len(frame)), errors, warnings


def _flag(target: dict[int, list[Problem]], mask: np.ndarray, make: Any) -> None:
    for position in np.flatnonzero(mask):
        target.setdefault(int(position), []).append(make(int(position)))


def _as_arrow(column: pd.Series) -> pa.Array:
    """A column as one Arrow array (text stays text, categoricals stay dictionaries)."""
    try:
        array = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects
        array = pa.array([None if v is None or v is pd.NA or v != v else str(v) for v in column.tolist()])
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array


def _as_text(array: pa.Array) -> pa.Array:
    """Any array as text (nulls kept): a category pandas read as a number becomes its text."""
    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    return array


def _blank(text: pa.Array) -> np.ndarray:
    return pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False)


def _numeric_column(
    spec: FeatureSpec, column: pd.Series, errors: dict[int, list[Problem]], warnings: dict[int, list[Problem]]
) -> tuple[np.ndarray, np.ndarray]:
    if pd.api.types.is_bool_dtype(column):
        numbers = np.full(len(column), np.nan)
        text = np.ones(len(column), dtype=bool)
        absent = np.zeros(len(column), dtype=bool)
    elif pd.api.types.is_numeric_dtype(column):
        numbers = column.to_numpy(dtype=float, na_value=np.nan, copy=True)
        absent = np.isnan(numbers)
        text = np.zeros(len(column), dtype=bool)
    else:
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)
        absent = np.isnan(numbers) & _blank(pc.utf8_trim_whitespace(_as_text(_as_arrow(column))))
        text = np.isnan(numbers) & ~absent
    _flag(errors, text, lambda i: _wrong_type(spec, column.iloc[i]))
    infinite = np.isinf(numbers)
    if infinite.any():
        _flag(errors, infinite, lambda i: _not_finite(spec, numbers[i]))
        numbers[infinite] = np.nan
    low, high = spec.hard_range
    seen_min, seen_max = spec.training_range
    with np.errstate(invalid="ignore"):
        outside = (numbers < low) | (numbers > high)
        unusual = ~outside & ((numbers < seen_min) | (numbers > seen_max))
        if spec.special:
            unusual &= ~np.isin(numbers, list(spec.special_values))
    _flag(errors, outside, lambda i: _out_of_bounds(spec, float(numbers[i])))
    _flag(warnings, unusual, lambda i: _outside_training_range(spec, float(numbers[i])))
    if spec.dtype == "int64":
        fractional = ~outside & np.isfinite(numbers) & (numbers != np.floor(np.nan_to_num(numbers)))
        _flag(warnings, fractional, lambda i: _not_whole(spec, float(numbers[i])))
    return numbers, absent


def _categorical_column(
    spec: FeatureSpec,
    column: pd.Series,
    policy: str,
    errors: dict[int, list[Problem]],
    warnings: dict[int, list[Problem]],
) -> tuple[np.ndarray, np.ndarray]:
    """Category codes for a column; cells are compared as trimmed text, a blank cell is missing."""
    array = _as_arrow(column)
    if pa.types.is_dictionary(array.type):  # as read from a CSV: work once per distinct value
        text = pc.utf8_trim_whitespace(_as_text(array.dictionary))
        distinct_codes = np.append(_codes(spec, text), len(spec.categories) + 1)  # last slot: null cells
        indices = pc.fill_null(array.indices, len(text)).to_numpy(zero_copy_only=False)
        codes = distinct_codes[indices]
        value_at = lambda i: text[indices[i]].as_py()  # noqa: E731
    else:  # exact matches first; only the cells that miss are trimmed and looked up again
        text = _as_text(array)
        codes = _codes(spec, text, trim=False)
        missed = codes == len(spec.categories)
        if missed.any():
            text = pc.utf8_trim_whitespace(text)
            codes = np.where(missed, _codes(spec, text), codes)
        value_at = lambda i: text[i].as_py()  # noqa: E731
    unseen = codes == len(spec.categories)
    if unseen.any():  # only a value training never saw can be too long: measure those alone
        positions = np.flatnonzero(unseen)
        if pa.types.is_dictionary(array.type):
            lengths = pc.utf8_length(text).to_numpy(zero_copy_only=False)[indices[positions]]
        else:
            lengths = pc.utf8_length(pc.take(text, pa.array(positions))).to_numpy(zero_copy_only=False)
        too_long = np.zeros(len(codes), dtype=bool)
        too_long[positions] = lengths > spec.max_text_chars
        if too_long.any():
            length_at = dict(zip(positions.tolist(), lengths.tolist(), strict=True))
            _flag(errors, too_long, lambda i: _too_long(spec, int(length_at[i])))
            unseen &= ~too_long
    if unseen.any():
        is_error = policy == "reject"
        _flag(errors if is_error else warnings, unseen, lambda i: _category_problem(spec, value_at(i), policy)[1])
    return codes, codes == len(spec.categories) + 1


def _codes(spec: FeatureSpec, text: pa.Array, trim: bool = True) -> np.ndarray:
    """Index of each value in spec.categories; unseen = K; blank or null = K + 1 (when trimmed)."""
    unseen_code = len(spec.categories)
    known = pa.array(spec.categories, type=text.type)
    codes = pc.fill_null(pc.index_in(text, value_set=known), unseen_code).to_numpy(zero_copy_only=False)
    codes = codes.astype(np.int32)
    if trim:
        codes[_blank(text)] = unseen_code + 1
    return codes
