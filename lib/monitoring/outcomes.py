"""Real outcomes as they come in (issue 18): rows from a JSON list or a CSV, each checked,
before they are matched to the predictions they answer.

A row names its prediction by `prediction_id` (what /predict, the form and the batch
download gave), or by the dataset's id columns (the entity: then the latest prediction for
it before `observed_at` is meant). `outcome` is one of the dataset's two labels (as in its
target column), or true / false, or 1 / 0. `observed_at` is when the outcome happened: an
ISO 8601 time (UTC when no offset is given) or seconds since the Unix epoch; when it is
left out, the time the row is received. A row that cannot be used is refused with its
position and why; the others go on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from lib.model.schema import FeatureSchema
from lib.monitoring.ids import parse_id

OLDEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
FUTURE_SLACK_S = 300  # clocks differ: an outcome a few minutes ahead of ours is still taken
ENTITY_CHARS = 200
TRUE_WORDS = {"true": 1, "false": 0, "1": 1, "0": 0}


class OutcomeRow(NamedTuple):  # a named tuple: made 100,000 times for a big file
    position: int  # in the input: a JSON list's index from 0, a CSV's data row from 1
    prediction_id: int | None  # None: matched by entity
    entity: str | None
    outcome: int  # 1: the positive label
    observed_at: float


@dataclass(frozen=True)
class RefusedRow:
    position: int
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.position, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class CheckedOutcomes:
    rows: list[OutcomeRow]
    refused: list[RefusedRow]


class OutcomeChecker:
    """Checks rows against one dataset's labels and id columns."""

    def __init__(self, schema: FeatureSchema, received_at: float | None = None) -> None:
        self.id_columns = list(schema.id_columns)
        self.labels = {schema.positive_label: 1, schema.negative_label: 0}
        self._words = {**TRUE_WORDS, **{word.title(): code for word, code in TRUE_WORDS.items()}, **self.labels}
        self.received_at = time.time() if received_at is None else received_at

    def check(self, items: list[Any], first_position: int = 0) -> CheckedOutcomes:
        rows: list[OutcomeRow] = []
        refused: list[RefusedRow] = []
        for offset, item in enumerate(items):
            position = first_position + offset
            checked = self.row(item, position)
            if isinstance(checked, RefusedRow):
                refused.append(checked)
            else:
                rows.append(checked)
        return CheckedOutcomes(rows, refused)

    def row(self, item: Any, position: int) -> OutcomeRow | RefusedRow:
        if not isinstance(item, dict):
            return RefusedRow(position, "wrong_type", "a row must be an object")
        outcome = self._outcome(item.get("outcome"))
        if outcome is None:
            shown = " or ".join(repr(label) for label in self.labels)
            return RefusedRow(position, "bad_outcome", f"outcome must be {shown} (or true / false, 1 / 0)")
        observed_at = self._time(item.get("observed_at"))
        if isinstance(observed_at, str):
            return RefusedRow(position, "bad_observed_at", observed_at)
        raw_id = item.get("prediction_id")
        if raw_id not in (None, ""):
            prediction_id = parse_id(raw_id)
            if prediction_id is None:
                return RefusedRow(position, "bad_prediction_id", "prediction_id must be 'p' and 16 hex digits")
            return OutcomeRow(position, prediction_id, None, outcome, observed_at)
        entity = self._entity(item)
        if entity is None:
            named = " or ".join(["prediction_id", *self.id_columns])
            return RefusedRow(position, "no_key", f"name the prediction: {named}")
        return OutcomeRow(position, None, entity, outcome, observed_at)

    def _outcome(self, value: Any) -> int | None:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int) and value in (0, 1):
            return value
        if isinstance(value, str):
            code = self._words.get(value)  # most rows: a label or a word as it is
            if code is None:
                text = value.strip()
                code = self.labels.get(text, TRUE_WORDS.get(text.lower()))
            return code
        return None

    def _time(self, value: Any) -> float | str:
        """Seconds since the epoch, or why the value is not a time we take."""
        if value is None or value == "":
            return self.received_at
        if isinstance(value, int | float) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str):
            parsed = _seconds(value.strip())
            if parsed is None:
                return "observed_at must be an ISO 8601 time or seconds since 1970"
            seconds = parsed
        else:
            return "observed_at must be an ISO 8601 time or seconds since 1970"
        if not math.isfinite(seconds) or seconds < OLDEST:
            return "observed_at is before 2000"
        if seconds > self.received_at + FUTURE_SLACK_S:
            return "observed_at is in the future"
        return seconds

    def _entity(self, item: dict[str, Any]) -> str | None:
        return entity_of(item, self.id_columns)


def _seconds(text: str) -> float | None:
    """Seconds since the epoch from ISO 8601 or a number (tried in the likelier order: one
    failed parse per row costs more than the parse itself, in a 100,000-row file)."""
    parsers = (_iso_seconds, float) if "-" in text[1:] or ":" in text else (float, _iso_seconds)
    for parse in parsers:
        try:
            return parse(text)
        except ValueError:
            continue
    return None


def _iso_seconds(text: str) -> float:
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def entity_of(record: Any, id_columns: list[str]) -> str | None:
    """A record's id columns' values as one text (entity_text), or None when it has none
    or lacks one: the same rule for a logged prediction and an outcome naming it."""
    if not id_columns or not isinstance(record, dict):
        return None
    return entity_of_values([record.get(name) for name in id_columns])


def entity_of_values(values: Sequence[Any]) -> str | None:
    """entity_of for the id columns' values already picked (a row of an upload or a batch)."""
    if any(value is None or value == "" for value in values):
        return None
    return entity_text([str(value) for value in values])


def entity_text(values: list[str]) -> str:
    """One text for an entity's id values: the value itself for one id column, the values
    joined by a unit separator for several; at most ENTITY_CHARS characters."""
    if len(values) == 1:
        return values[0].strip()[:ENTITY_CHARS]
    return "\x1f".join(value.strip() for value in values)[:ENTITY_CHARS]


class OutcomeFileError(ValueError):
    """A CSV of outcomes that cannot be read at all; the message says why."""


def csv_items(raw: bytes, max_rows: int) -> list[dict[str, Any]]:
    """A CSV's rows as objects of text (an empty cell: missing), for OutcomeChecker.check
    with first_position 1; its header names the fields, as a JSON row's keys do."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pa_csv

    header = raw.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    if not header.strip():
        raise OutcomeFileError("the file is empty")
    try:
        names = header.decode("utf-8").strip("\r").split(",")
    except UnicodeDecodeError:
        raise OutcomeFileError("the file is not UTF-8 text") from None
    if len(set(names)) != len(names):
        raise OutcomeFileError("a column name appears twice in the header")
    try:
        table = pa_csv.read_csv(
            io.BytesIO(raw),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise OutcomeFileError(f"the file cannot be read as CSV: {str(exc).splitlines()[0][:200]}") from None
    if table.num_rows > max_rows:
        raise OutcomeFileError(f"the file has {table.num_rows:,} rows; at most {max_rows:,} are taken at once")
    return table.to_pylist()
