"""Recorded outcomes as training rows (issue 18): the logged features of each prediction
that got an outcome, with that outcome as the target, for "bundled data + recorded
outcomes" retraining.

Only predictions kept as raw rows carry their features (every single prediction, and up
to LOG_BATCH_RAW_ROWS of each batch). An entity predicted several times counts once: its
newest prediction with an outcome wins. The newest HOLDOUT_SHARE of the rows are held out
from training, for the retraining gate to judge both models on the freshest labels, when
they are enough to say anything (the realised figures' minimum counts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from lib.monitoring.realised import MIN_OUTCOMES, MIN_PER_CLASS

if TYPE_CHECKING:
    import pandas as pd

    from lib.model.schema import FeatureSchema

HOLDOUT_SHARE = 0.2
MAX_EXAMPLES = 200_000  # the newest labelled predictions read


class ExampleSource(Protocol):
    def labelled_features(self, limit: int) -> list[tuple[str, str | None, float, int]]: ...


@dataclass(frozen=True)
class LabelledExamples:
    train: pd.DataFrame  # the dataset's columns, as text: id columns, features, target
    holdout: pd.DataFrame | None  # the newest rows, kept out of training
    duplicates: int  # older predictions of an entity left out
    no_holdout: str | None  # why nothing is held out

    @property
    def rows(self) -> int:
        return len(self.train) + (0 if self.holdout is None else len(self.holdout))


def labelled_examples(source: ExampleSource, schema: FeatureSchema, limit: int = MAX_EXAMPLES) -> LabelledExamples:
    import pandas as pd

    labels = {1: schema.positive_label, 0: schema.negative_label}
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    duplicates = 0
    for features, entity, _ts, outcome in source.labelled_features(limit):  # newest first
        if entity is not None:
            if entity in seen:
                duplicates += 1
                continue
            seen.add(entity)
        values = json.loads(features)
        row = {name: _text(values.get(name)) for name in schema.names}
        ids = entity.split("\x1f") if entity is not None else [""] * len(schema.id_columns)
        row.update(zip(schema.id_columns, ids, strict=False))
        row[schema.target] = labels[int(outcome)]
        rows.append(row)
    columns = [*schema.id_columns, *schema.names, schema.target]
    table = pd.DataFrame(rows, columns=columns)
    held = int(len(table) * HOLDOUT_SHARE)
    holdout = table.iloc[:held]
    counts = holdout[schema.target].value_counts()
    if held < MIN_OUTCOMES or min(counts.get(label, 0) for label in labels.values()) < MIN_PER_CLASS:
        reason = (
            f"{len(table):,} labelled predictions with their features: the newest {HOLDOUT_SHARE:.0%} would hold "
            f"{held:,}, fewer than {MIN_OUTCOMES:,} (or {MIN_PER_CLASS:,} of an outcome)"
        )
        return LabelledExamples(table.iloc[::-1].reset_index(drop=True), None, duplicates, reason)
    train = table.iloc[held:].iloc[::-1].reset_index(drop=True)  # oldest first, as a dataset reads
    return LabelledExamples(train, holdout.iloc[::-1].reset_index(drop=True), duplicates, None)


def _text(value: Any) -> str:
    """A logged value as a CSV cell: a number as Python writes it, a missing one blank."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
