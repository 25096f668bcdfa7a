"""The feature schema (`features_order.json`): what the model takes, as training saw it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

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
    # Words for people, from the config's [features.<name>] (absent from older bundles).
    label: str | None = None
    description: str | None = None
    unit: str | None = None
    # Sentinel numbers that mean a case of their own ("-1" -> "never contacted"): kept out
    # of the training range, and offered as such in the form and the what-if.
    special: dict[str, str] = field(default_factory=dict)
    number_format: str | None = None  # "%d", "%.2f": how the form and the tables show it

    @property
    def is_numeric(self) -> bool:
        return self.kind == "numeric"

    @cached_property
    def hard_range(self) -> tuple[float, float]:
        """What is accepted at all: the config's bounds, else +/- ABSOLUTE_LIMIT."""
        low = self.hard_min if self.hard_min is not None else -ABSOLUTE_LIMIT
        high = self.hard_max if self.hard_max is not None else ABSOLUTE_LIMIT
        return low, high

    @cached_property
    def training_range(self) -> tuple[float, float]:
        """(min, max) as training saw them; a numeric feature always has both (checked on load)."""
        if self.min is None or self.max is None:
            raise ValueError(f"{self.name} has no training range: it is not a numeric feature")
        return self.min, self.max

    @property
    def title(self) -> str:
        """How a person reads this feature's name: its label and unit, else the column name."""
        title = self.label or self.name
        return f"{title} ({self.unit})" if self.unit else title

    @cached_property
    def special_values(self) -> dict[float, str]:
        return {float(value): label for value, label in self.special.items()}

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
        """Raises TypeError or KeyError when `raw` is not a feature schema."""
        features = [FeatureSpec(**spec) for spec in raw["features"]]
        for spec in features:
            if spec.kind not in ("numeric", "categorical"):
                raise TypeError(f"{spec.name!r} has kind {spec.kind!r}, not numeric or categorical")
            if spec.is_numeric and not (isinstance(spec.min, int | float) and isinstance(spec.max, int | float)):
                raise TypeError(f"the numeric feature {spec.name!r} lacks its training min and max")
            for words in (spec.label, spec.description, spec.unit, spec.number_format):
                if words is not None and (not isinstance(words, str) or len(words) > MAX_TEXT_CHARS):
                    raise TypeError(f"the label, description or unit of {spec.name!r} is not a short text")
            if not isinstance(spec.special, dict) or not all(
                isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_TEXT_CHARS for k, v in spec.special.items()
            ):
                raise TypeError(f"the special values of {spec.name!r} are not labelled numbers")
            try:
                spec.special_values  # noqa: B018 (parses every key)
            except ValueError:
                raise TypeError(f"a special value of {spec.name!r} is not a number") from None
        return cls(**{**raw, "features": features})
