"""The feature schema (`features_order.json`): what the model takes, as training saw it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # training-time types only: serving never imports the data pipeline
    from lib.training.config import DatasetConfig
    from lib.training.data import Dataset


# Without a configured bound, numbers beyond this are refused: no real feature is that
# large, and such values (1e308) overflow the scaler and give a meaningless probability.
ABSOLUTE_LIMIT = 1e15
# Longest text accepted for a categorical value (or the longest training category, if
# longer): anything beyond is refused, never stored or echoed back.
MAX_TEXT_CHARS = 200


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

    @cached_property
    def category_set(self) -> frozenset[str]:
        return frozenset(self.categories)

    @cached_property
    def max_text_chars(self) -> int:
        return max([MAX_TEXT_CHARS, *map(len, self.categories)])


@dataclass(frozen=True)
class FeatureSchema:
    """Ordered features plus the facts a caller needs to read a prediction."""

    features: list[FeatureSpec]
    target: str
    positive_label: str
    negative_label: str
    id_columns: list[str]
    unknown_categories: str

    @cached_property
    def names(self) -> list[str]:
        return [spec.name for spec in self.features]

    @cached_property
    def quiet_fields(self) -> frozenset[str]:
        """Fields a record may carry besides the features without a warning."""
        return frozenset([*self.names, *self.id_columns, self.target])

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> FeatureSchema:
        return cls(**{**raw, "features": [FeatureSpec(**spec) for spec in raw["features"]]})


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
