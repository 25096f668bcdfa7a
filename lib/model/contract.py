"""The training -> serving contract: what `metadata.json` and `kpis.json` hold, as typed
objects built and checked once when a bundle is read.

Training writes plain JSON; serving reads these objects by attribute and never by string
key, so a bundle with a missing or ill-typed field is refused when it is read, naming
the field (`metadata.json: dataset.rows_used must be a whole number`), instead of
failing later on a page. Nested tables that are only drawn or returned as JSON (curves,
distributions, the threshold table) keep their JSON shape, checked as far as the code
that reads them relies on it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

# Bundles written before the field existed have the same layout: they read as format 1.
FORMAT_VERSION = 1
# Business KPI names of bundles written before they were neutral (churn words), and now.
LEGACY_BUSINESS_KEYS = {
    "base_churn_rate": "base_rate",
    "revenue_at_risk": "value_at_stake",
    "revenue_lost_actual": "value_at_stake_actual",
}
METRIC_NAMES = ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier", "log_loss")
THRESHOLD_TABLE_COLUMNS = ("threshold", "tp", "fp", "tn", "fn", "precision", "recall", "f1")


class ContractError(ValueError):
    """A bundle file lacks a field or holds one of the wrong type; the message names it."""


class _Fields:
    """Typed reads from one JSON object; every error names the file and the field's path."""

    def __init__(self, data: Any, where: str, path: str = "") -> None:
        if not isinstance(data, dict):
            raise ContractError(f"{where}: {path or 'the file'} must be an object")
        self.data, self.where, self.path = data, where, path

    def _name(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def _get(self, key: str, optional: bool) -> Any:
        if key not in self.data or (optional and self.data[key] is None):
            if optional:
                return None
            raise ContractError(f"{self.where}: {self._name(key)} is missing")
        return self.data[key]

    def _fail(self, key: str, what: str) -> ContractError:
        return ContractError(f"{self.where}: {self._name(key)} must be {what}")

    def text(self, key: str, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if not (value is None and optional) and not isinstance(value, str):
            raise self._fail(key, "a string")
        return value

    def number(self, key: str, optional: bool = False, low: float = -math.inf, high: float = math.inf) -> Any:
        value = self._get(key, optional)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise self._fail(key, "a number" if math.isinf(low) else f"a number between {low:g} and {high:g}")
        return float(value)

    def whole(self, key: str, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if not (value is None and optional) and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise self._fail(key, "a whole number")
        return value

    def obj(self, key: str, optional: bool = False) -> Any:
        value = self._get(key, optional)
        return None if value is None and optional else _Fields(value, self.where, self._name(key))

    def mapping(self, key: str, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if not (value is None and optional) and not isinstance(value, dict):
            raise self._fail(key, "an object")
        return value

    def items(self, key: str, optional: bool = False) -> Any:
        value = self._get(key, optional)
        if not (value is None and optional) and not isinstance(value, list):
            raise self._fail(key, "a list")
        return value

    def numbers(self, key: str) -> list[float]:
        values = self.items(key)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
            raise self._fail(key, "a list of numbers")
        return values

    def metrics(self, key: str, optional: bool = False) -> Any:
        """A metrics object: every metric name present, every value a number."""
        fields = self.obj(key, optional)
        if fields is None:
            return None
        for name in METRIC_NAMES:
            fields.number(name)
        return fields.data


@dataclass(frozen=True)
class BusinessSettings:
    """What a retention campaign costs and earns, used to pick the decision threshold."""

    value_column: str
    horizon_months: float
    contact_cost: float
    offer_cost: float
    offer_success_rate: float  # a conversion campaign's uplift
    currency: str = "$"
    kind: str = "retention"  # or "conversion" (lib.training.config.CAMPAIGN_KEYS)

    @property
    def is_conversion(self) -> bool:
        return self.kind == "conversion"

    def profit(self, contacted: int, contacted_positive_value: float) -> float:
        """What contacting `contacted` people earns, when the positives among them are worth
        `contacted_positive_value` a month together.

        Each contact costs contact_cost + offer_cost. Retention: a contacted positive (who
        would have left) stays with probability offer_success_rate, keeping value x
        horizon_months. Conversion: a contacted positive brings value once, of which the
        uplift share is owed to the contact (horizon_months is 1, the uplift is stored as
        offer_success_rate): the same sum.
        """
        saved = self.offer_success_rate * self.horizon_months * contacted_positive_value
        return saved - contacted * (self.contact_cost + self.offer_cost)

    @classmethod
    def read(cls, fields: _Fields) -> BusinessSettings:
        return cls(
            value_column=fields.text("value_column"),
            horizon_months=fields.number("horizon_months", low=0.0),
            contact_cost=fields.number("contact_cost", low=0.0),
            offer_cost=fields.number("offer_cost", low=0.0),
            offer_success_rate=fields.number("offer_success_rate", low=0.0, high=1.0),
            currency=fields.text("currency"),
            kind=fields.text("kind", optional=True) or "retention",
        )


POLARITIES = ("risk", "opportunity")


@dataclass(frozen=True)
class Outcome:
    """What the model predicts in the dataset's own words, and whether the positive class
    is bad news to act against (a risk: churn, default) or good news to pursue (an
    opportunity: a purchase, a subscription). Pages, charts and colours follow it."""

    name: str
    positive: str
    negative: str
    positive_is: str = "risk"

    @classmethod
    def read(cls, fields: _Fields) -> Outcome:
        polarity = fields.text("positive_is")
        if polarity not in POLARITIES:
            raise fields._fail("positive_is", "'risk' or 'opportunity'")
        return cls(fields.text("name"), fields.text("positive"), fields.text("negative"), polarity)


@dataclass(frozen=True)
class DatasetInfo:
    """Which data a model was trained on, and how it was split."""

    name: str
    path: str
    sha256: str
    config: str
    config_sha256: str
    rows_read: int
    rows_used: int
    rows_dropped: int
    columns_dropped: list[str]
    rows_train: int
    rows_validation: int
    rows_test: int
    seed: int

    @classmethod
    def read(cls, fields: _Fields) -> DatasetInfo:
        dropped = fields.items("columns_dropped")
        if not all(isinstance(name, str) for name in dropped):
            raise fields._fail("columns_dropped", "a list of strings")
        return cls(
            name=fields.text("name"),
            path=fields.text("path"),
            sha256=fields.text("sha256"),
            config=fields.text("config"),
            config_sha256=fields.text("config_sha256"),
            rows_read=fields.whole("rows_read"),
            rows_used=fields.whole("rows_used"),
            rows_dropped=fields.whole("rows_dropped"),
            columns_dropped=dropped,
            rows_train=fields.whole("rows_train"),
            rows_validation=fields.whole("rows_validation"),
            rows_test=fields.whole("rows_test"),
            seed=fields.whole("seed"),
        )


@dataclass(frozen=True)
class ModelInfo:
    family: str
    params: dict[str, Any]


@dataclass(frozen=True)
class BundleMetadata:
    """metadata.json: identity, provenance, the decision threshold and the test metrics."""

    format_version: int
    version: str
    created_at: str
    dataset: DatasetInfo
    model: ModelInfo
    threshold: float
    threshold_criterion: str
    positive_label: str
    business: BusinessSettings | None
    test_metrics: dict[str, float]
    comparison: dict[str, Any] | None
    model_sha256: str
    sklearn_version: str
    python_version: str
    pandas_version: str
    numpy_version: str
    scorer: str | None = None
    scorer_sha256: str | None = None
    training_seconds: float | None = None
    outcome: Outcome | None = None  # absent from bundles written before it existed

    @classmethod
    def from_json(cls, data: Any, where: str = "metadata.json") -> BundleMetadata:
        fields = _Fields(data, where)
        format_version = fields.whole("format_version", optional=True) or 1
        if format_version > FORMAT_VERSION:
            raise ContractError(
                f"{where}: format_version {format_version} is newer than this product reads ({FORMAT_VERSION}): "
                "upgrade the product or serve an older bundle"
            )
        model = fields.obj("model")
        business = fields.obj("business", optional=True)
        outcome = fields.obj("outcome", optional=True)
        return cls(
            format_version=format_version,
            version=fields.text("version"),
            created_at=fields.text("created_at"),
            dataset=DatasetInfo.read(fields.obj("dataset")),
            model=ModelInfo(family=model.text("family"), params=model.mapping("params")),
            threshold=fields.number("threshold", low=0.0, high=1.0),
            threshold_criterion=fields.text("threshold_criterion"),
            positive_label=fields.text("positive_label"),
            business=None if business is None else BusinessSettings.read(business),
            test_metrics=fields.metrics("test_metrics"),
            comparison=fields.mapping("comparison", optional=True),
            model_sha256=fields.text("model_sha256"),
            sklearn_version=fields.text("sklearn_version"),
            python_version=fields.text("python_version"),
            pandas_version=fields.text("pandas_version"),
            numpy_version=fields.text("numpy_version"),
            scorer=fields.text("scorer", optional=True),
            scorer_sha256=fields.text("scorer_sha256", optional=True),
            training_seconds=fields.number("training_seconds", optional=True),
            outcome=None if outcome is None else Outcome.read(outcome),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdSelection:
    criterion: str
    threshold: float
    validation_score: float


@dataclass(frozen=True)
class TrainingKpis:
    """kpis.json: everything measured at training time that the pages and the API show."""

    metrics: dict[str, Any]
    validation_metrics: dict[str, Any]
    threshold_selection: ThresholdSelection
    curves: dict[str, dict[str, list[float]]]
    feature_importance: list[dict[str, Any]]
    distributions: dict[str, dict[str, Any]]
    confidence: dict[str, Any]
    threshold_table: dict[str, list[float]]
    business: dict[str, Any] | None
    base_rate: float
    candidates: list[dict[str, Any]]
    latency: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, data: Any, feature_names: list[str], where: str = "kpis.json") -> TrainingKpis:
        fields = _Fields(data, where)
        selection = fields.obj("threshold_selection")
        return cls(
            metrics=fields.metrics("metrics"),
            validation_metrics=fields.metrics("validation_metrics"),
            threshold_selection=ThresholdSelection(
                criterion=selection.text("criterion"),
                threshold=selection.number("threshold", low=0.0, high=1.0),
                validation_score=selection.number("validation_score"),
            ),
            curves=_curves(fields.obj("curves")),
            feature_importance=_importance(fields, feature_names),
            distributions=_distributions(fields.obj("distributions"), feature_names),
            confidence=_confidence(fields.obj("confidence")),
            threshold_table=_threshold_table(fields.obj("threshold_table")),
            business=_business(fields.mapping("business", optional=True)),
            base_rate=fields.number("base_rate", low=0.0, high=1.0),
            candidates=fields.items("candidates"),
            latency=fields.mapping("latency", optional=True),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _business(business: dict[str, Any] | None) -> dict[str, Any] | None:
    """The test split's business KPIs under neutral names, whatever the bundle's age."""
    if business is None:
        return None
    return {LEGACY_BUSINESS_KEYS.get(key, key): value for key, value in business.items()}


def _curves(fields: _Fields) -> dict[str, dict[str, list[float]]]:
    axes = {"roc": ("fpr", "tpr"), "pr": ("precision", "recall"), "calibration": ("predicted", "observed")}
    for curve, names in axes.items():
        points = fields.obj(curve)
        for name in names:
            points.numbers(name)
    return fields.data


def _importance(fields: _Fields, feature_names: list[str]) -> list[dict[str, Any]]:
    ranked = fields.items("feature_importance")
    for position, item in enumerate(ranked):
        entry = _Fields(item, fields.where, f"feature_importance[{position}]")
        if entry.text("feature") not in feature_names:
            raise entry._fail("feature", "one of the model's features")
        entry.number("importance")
    return ranked


def _distributions(fields: _Fields, feature_names: list[str]) -> dict[str, dict[str, Any]]:
    """One reference distribution per feature: drift and the Distributions page read them."""
    for name in feature_names:
        entry = fields.obj(name)
        kind = entry.text("kind")
        if kind == "numeric":
            histogram = entry.obj("histogram")
            histogram.numbers("edges")
            histogram.numbers("counts")
        elif kind == "categorical":
            shares = entry.mapping("shares")
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in shares.values()):
                raise entry._fail("shares", "an object of numbers")
        else:
            raise entry._fail("kind", "'numeric' or 'categorical'")
    return fields.data


def _confidence(fields: _Fields) -> dict[str, Any]:
    fields.numbers("edges")
    fields.mapping("bands")
    return fields.data


def _threshold_table(fields: _Fields) -> dict[str, list[float]]:
    """Columns of equal length: the pages and the live KPIs index them by row."""
    lengths = {len(fields.numbers(name)) for name in THRESHOLD_TABLE_COLUMNS}
    profit = fields.items("profit")  # nulls when the config had no [business] section
    if any(v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))) for v in profit):
        raise fields._fail("profit", "a list of numbers or nulls")
    lengths.add(len(profit))
    if len(lengths) != 1 or not lengths.pop():
        raise ContractError(f"{fields.where}: threshold_table columns must be non-empty and of equal length")
    return fields.data
