"""A /predict batch read straight into columns, when it is a plain one, and its answer
written from them.

A body `{"records": [...]}` whose every record holds exactly the model's features (and
perhaps its quiet id fields), each a number, a text or null as the feature expects, is
decoded by msgspec into one typed struct per record and then into one list per feature:
about half the time of building a dict per record, and what lets the batch be validated
and scored as columns (lib.model.inference.score_json_columns).

Anything else (a missing or extra field, a text for a number, a nested value, a repeated
key, a record that is not an object) is not decoded here: decode_batch answers None and
the body goes the general way (lib.api.common.parse_json, then record by record), which
names every problem exactly as it always has.

The answer is built as msgspec structs (Reason, PredictionRow) rather than dicts: the
encoder writes them as the very same JSON objects, and a struct without garbage
collection tracking costs a third of a dict to make and nothing to the collector (a
10,000-record answer with reasons holds 60,000 of them).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any, NamedTuple

import msgspec

from lib.model.inference import PREDICTION_FIELDS, BatchScore
from lib.model.schema import FeatureSchema
from lib.model.validation import JsonColumns

NUMBER = float | int | None  # int stays int: a value is shown back as it was sent
TEXT = str | None
SCALAR = str | float | int | bool | None  # a quiet id field: any scalar, never a feature


def _record_at(records: list[Any]) -> Callable[[int], dict[str, Any]]:
    def record_at(position: int) -> dict[str, Any]:
        """Record `position` as the general path would have parsed it (the fields it sent)."""
        record = msgspec.structs.asdict(records[position])
        return {name: value for name, value in record.items() if value is not msgspec.UNSET}

    return record_at


class _Plain(NamedTuple):
    """How a plain batch under one schema is decoded and checked (built once per model)."""

    schema: FeatureSchema
    decoder: msgspec.json.Decoder
    quiet: list[str]  # id columns and target: optional, any scalar, never warned about


_plain: dict[int, _Plain] = {}


def _plain_for(schema: FeatureSchema) -> _Plain:
    """The decoder for {"records": [record, ...]} under this schema (cached per served model)."""
    cached = _plain.get(id(schema))
    if cached is not None and cached.schema is schema:
        return cached
    quiet = sorted(schema.quiet_fields - set(schema.names))
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (spec.name, NUMBER if spec.is_numeric else TEXT) for spec in schema.features
    ]
    fields += [(name, SCALAR, msgspec.UNSET) for name in quiet]
    record = msgspec.defstruct("Record", fields, forbid_unknown_fields=True, gc=False)
    body = msgspec.defstruct("Body", [("records", list[record])], forbid_unknown_fields=True)  # type: ignore[valid-type]
    if len(_plain) >= 8:  # models come and go (promotions): keep the newest few
        _plain.pop(next(iter(_plain)))
    plain = _plain[id(schema)] = _Plain(schema, msgspec.json.Decoder(body), quiet)
    return plain


def decode_batch(raw: bytes, schema: FeatureSchema, max_records: int) -> JsonColumns | None:
    """The batch as columns, or None: not a plain batch (the general path decides)."""
    plain = _plain_for(schema)
    try:
        records = plain.decoder.decode(raw).records
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None
    if not records or len(records) > max_records:
        return None  # the general path words the refusal
    sent_quiet = sum(len(records) - list(map(attrgetter(name), records)).count(msgspec.UNSET) for name in plain.quiet)
    # msgspec keeps the last of a repeated key: every colon must be one of the keys decoded
    # (as in parse_json), else a key came twice (or a text holds a colon) and the general
    # parser decides.
    if raw.count(b":") != 1 + len(schema.features) * len(records) + sent_quiet:
        return None
    columns = {spec.name: list(map(attrgetter(spec.name), records)) for spec in schema.features}
    id_values = {
        name: [None if value is msgspec.UNSET else value for value in map(attrgetter(name), records)]
        for name in schema.id_columns
        if name in plain.quiet
    }
    return JsonColumns(columns=columns, rows=len(records), record_at=_record_at(records), id_values=id_values)


# Positional, in the order of reason_dict's keys and of PREDICTION_FIELDS.
Reason = msgspec.defstruct(
    "Reason",
    [("feature", str), ("value", Any), ("reference", Any), ("contribution", float), ("direction", str)],
    gc=False,
)
PredictionRow = msgspec.defstruct("PredictionRow", [(name, Any) for name in PREDICTION_FIELDS], gc=False)


def answer_rows(scored: BatchScore) -> list[Any]:
    """The scored rows as the API answers them (reasons made by score_json_columns with Reason)."""
    return scored.prediction_rows(PredictionRow)
