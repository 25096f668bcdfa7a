"""Dataset configs: a TOML file says where a CSV is and how to read it for training."""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib.model.contract import POLARITIES, BusinessSettings, Outcome

UNKNOWN_CATEGORY_POLICIES = ("warn", "reject")


class ConfigError(ValueError):
    """A dataset config is missing, unreadable or inconsistent; the message says which key."""


@dataclass(frozen=True)
class TrainingSettings:
    """How the data is split and the candidates compared; fixed seed for repeatable runs."""

    seed: int = 42
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    cv_folds: int = 5


@dataclass(frozen=True)
class OutcomeWords:
    """The [outcome] section: readable names (defaults: the target column and its labels)
    and the polarity of the positive class."""

    name: str | None = None
    positive: str | None = None
    negative: str | None = None
    positive_is: str = "risk"


@dataclass(frozen=True)
class FeatureWords:
    """A [features.<column>] table: how people call a column, what it means, its unit."""

    label: str | None = None
    description: str | None = None
    unit: str | None = None
    special: dict[float, str] = field(default_factory=dict)  # sentinel number -> what it means
    format: str | None = None  # how a number is shown: "%d", "%.2f", ...


@dataclass(frozen=True)
class DatasetConfig:
    """One binary-classification dataset: nothing about its columns is hard-coded elsewhere."""

    path: Path
    name: str
    csv_path: Path
    separator: str
    target: str
    positive_label: str
    id_columns: tuple[str, ...] = ()
    drop_columns: tuple[str, ...] = ()
    categorical_columns: tuple[str, ...] = ()
    numeric_columns: tuple[str, ...] = ()
    unknown_categories: str = "warn"
    hard_bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    business: BusinessSettings | None = None
    training: TrainingSettings = field(default_factory=TrainingSettings)
    outcome: OutcomeWords = field(default_factory=OutcomeWords)
    features: dict[str, FeatureWords] = field(default_factory=dict)

    def outcome_for(self, negative_label: str) -> Outcome:
        """The outcome in words, once the data has told the negative label."""
        words = self.outcome
        return Outcome(
            name=words.name or self.target,
            positive=words.positive or self.positive_label,
            negative=words.negative or negative_label,
            positive_is=words.positive_is,
        )


def _require(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in table:
        raise ConfigError(f"{where}: missing required key '{key}'")
    return _check_type(table[key], kind, f"{where}.{key}")


def _check_type(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{where}: expected {_kind_name(kind)}, got a boolean")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: expected {_kind_name(kind)}, got {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "a number", float: "a number", list: "a list", dict: "a table", bool: "true/false"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _string_list(table: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    values = _check_type(table.get(key, []), list, f"{where}.{key}")
    for value in values:
        _check_type(value, str, f"{where}.{key}")
    return tuple(values)


def _number(
    table: dict[str, Any], key: str, where: str, low: float, high: float, default: float | None = None
) -> float:
    if default is not None and key not in table:
        return default
    value = float(_require(table, key, (int, float), where))
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(f"{where}.{key}: must be between {low:g} and {high:g}, got {value:g}")
    return value


CAMPAIGN_KEYS = {
    # retention: a contacted positive (a would-be churner) stays with offer_success_rate,
    # keeping value x horizon_months; conversion: a contacted positive (a would-be buyer)
    # brings value once, of which `uplift` is owed to the contact.
    "retention": {"kind", "value_column", "horizon_months", "contact_cost", "offer_cost", "offer_success_rate"},
    "conversion": {"kind", "value_column", "contact_cost", "offer_cost", "uplift"},
}


def _business(table: dict[str, Any]) -> BusinessSettings:
    where = "[business]"
    kind = _check_type(table.get("kind", "retention"), str, f"{where}.kind")
    if kind not in CAMPAIGN_KEYS:
        raise ConfigError(f"{where}.kind: must be 'retention' or 'conversion', got {kind[:40]!r}")
    unknown = sorted(set(table) - CAMPAIGN_KEYS[kind] - {"currency"})
    if unknown:
        raise ConfigError(f"{where}: {unknown[0][:40]!r} is not a key of a {kind} campaign")
    conversion = kind == "conversion"
    return BusinessSettings(
        value_column=_require(table, "value_column", str, where),
        horizon_months=1.0 if conversion else _number(table, "horizon_months", where, 0.0, 1200.0),
        contact_cost=_number(table, "contact_cost", where, 0.0, 1e9),
        offer_cost=_number(table, "offer_cost", where, 0.0, 1e9, 0.0 if conversion else None),
        offer_success_rate=_number(table, "uplift", where, 0.0, 1.0, 1.0)
        if conversion
        else _number(table, "offer_success_rate", where, 0.0, 1.0),
        currency=_check_type(table.get("currency", "$"), str, f"{where}.currency"),
        kind=kind,
    )


def _short_text(value: Any, where: str, limit: int) -> str:
    text = _check_type(value, str, where).strip()
    if not 0 < len(text) <= limit:
        raise ConfigError(f"{where}: must be 1 to {limit} characters, got {text[:80]!r}")
    return text


def _known_keys(table: dict[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0][:40]!r} ({', '.join(keys)})")


def _outcome(table: dict[str, Any]) -> OutcomeWords:
    where = "[outcome]"
    names = {
        key: _short_text(table[key], f"{where}.{key}", 60) for key in ("name", "positive", "negative") if key in table
    }
    polarity = _check_type(table.get("positive_is", "risk"), str, f"{where}.positive_is")
    if polarity not in POLARITIES:
        raise ConfigError(f"{where}.positive_is: must be 'risk' or 'opportunity', got {polarity[:40]!r}")
    _known_keys(table, ("name", "positive", "negative", "positive_is"), where)
    return OutcomeWords(positive_is=polarity, **names)


def _features(table: dict[str, Any]) -> dict[str, FeatureWords]:
    words = {}
    for column, entry in table.items():
        where = f"[features.{column[:60]}]"
        _known_keys(_check_type(entry, dict, where), ("label", "description", "unit", "special", "format"), where)
        if "format" in entry and not NUMBER_FORMAT.fullmatch(str(entry["format"])):
            raise ConfigError(
                f"{where}.format: a number format such as '%d' or '%.2f', got {str(entry['format'])[:20]!r}"
            )
        texts: dict[str, Any] = {"special": _special(entry.get("special", {}), f"{where}.special")}
        texts |= {key: _short_text(value, f"{where}.{key}", 200) for key, value in entry.items() if key != "special"}
        words[column] = FeatureWords(**texts)
    return words


NUMBER_FORMAT = re.compile(r"%[,]?(\.[0-9])?[dfe]")


def _special(table: Any, where: str) -> dict[float, str]:
    """{"-1" = "never contacted"}: numbers (as TOML keys) and what each means."""
    special = {}
    for key, label in _check_type(table, dict, where).items():
        try:
            value = float(key)
        except ValueError:
            raise ConfigError(f"{where}: {key[:40]!r} is not a number") from None
        text = _check_type(label, str, f"{where}.{key[:40]}").strip()
        if not math.isfinite(value) or not 0 < len(text) <= 60:
            raise ConfigError(f"{where}.{key[:40]}: a finite number labelled with 1 to 60 characters")
        special[value] = text
    if len(special) > 20:
        raise ConfigError(f"{where}: at most 20 special values")
    return special


def _training(table: dict[str, Any]) -> TrainingSettings:
    where = "[training]"
    defaults = TrainingSettings()
    seed = _check_type(table.get("seed", defaults.seed), int, f"{where}.seed")
    folds = _check_type(table.get("cv_folds", defaults.cv_folds), int, f"{where}.cv_folds")
    if not 2 <= folds <= 20:
        raise ConfigError(f"{where}.cv_folds: must be between 2 and 20, got {folds}")
    validation = _number(table, "validation_fraction", where, 0.05, 0.5, defaults.validation_fraction)
    test = _number(table, "test_fraction", where, 0.05, 0.5, defaults.test_fraction)
    if validation + test > 0.7:
        raise ConfigError(f"{where}: validation_fraction + test_fraction must leave at least 30 % for training")
    return TrainingSettings(seed=seed, validation_fraction=validation, test_fraction=test, cv_folds=folds)


def _bounds(table: dict[str, Any]) -> dict[str, tuple[float, float]]:
    bounds: dict[str, tuple[float, float]] = {}
    for column, pair in _check_type(table, dict, "[dataset.bounds]").items():
        where = f"[dataset.bounds].{column}"
        _check_type(pair, list, where)
        if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in pair):
            raise ConfigError(f"{where}: expected [low, high] as two numbers")
        low, high = float(pair[0]), float(pair[1])
        if not low < high:
            raise ConfigError(f"{where}: low ({low:g}) must be below high ({high:g})")
        bounds[column] = (low, high)
    return bounds


def load_config(path: str | Path) -> DatasetConfig:
    """Read and check a dataset config; relative CSV paths are taken from the config's folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"dataset config not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"dataset config {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"dataset config {path} is not valid TOML: {exc}") from None

    dataset = _check_type(raw.get("dataset"), dict, "[dataset]") if "dataset" in raw else None
    if dataset is None:
        raise ConfigError(f"dataset config {path}: missing the [dataset] table")
    where = "[dataset]"
    separator = _check_type(dataset.get("separator", ","), str, f"{where}.separator")
    if len(separator) != 1:
        raise ConfigError(f"{where}.separator: must be one character, got {separator!r}")
    positive_label = _require(dataset, "positive_label", (str, int), where)
    policy = _check_type(dataset.get("unknown_categories", "warn"), str, f"{where}.unknown_categories")
    if policy not in UNKNOWN_CATEGORY_POLICIES:
        raise ConfigError(f"{where}.unknown_categories: must be 'warn' or 'reject', got {policy!r}")

    config = DatasetConfig(
        path=path,
        name=_check_type(dataset.get("name", path.stem), str, f"{where}.name"),
        csv_path=(path.parent / _require(dataset, "csv", str, where)).resolve(),
        separator=separator,
        target=_require(dataset, "target", str, where),
        positive_label=str(positive_label),
        id_columns=_string_list(dataset, "id_columns", where),
        drop_columns=_string_list(dataset, "drop_columns", where),
        categorical_columns=_string_list(dataset, "categorical_columns", where),
        numeric_columns=_string_list(dataset, "numeric_columns", where),
        unknown_categories=policy,
        hard_bounds=_bounds(dataset.get("bounds", {})),
        business=_business(_check_type(raw["business"], dict, "[business]")) if "business" in raw else None,
        training=_training(_check_type(raw.get("training", {}), dict, "[training]")),
        outcome=_outcome(_check_type(raw.get("outcome", {}), dict, "[outcome]")),
        features=_features(_check_type(raw.get("features", {}), dict, "[features]")),
    )
    _check_consistency(config)
    return config


def _check_consistency(config: DatasetConfig) -> None:
    both = set(config.categorical_columns) & set(config.numeric_columns)
    if both:
        raise ConfigError(f"columns listed as both categorical and numeric: {', '.join(sorted(both))}")
    not_features = {config.target, *config.id_columns, *config.drop_columns}
    for column in [*config.categorical_columns, *config.numeric_columns, *config.hard_bounds]:
        if column in not_features:
            raise ConfigError(f"column '{column}' is the target, an id or dropped, so it cannot be a feature")
    if config.business and config.business.value_column == config.target:
        raise ConfigError("[business].value_column cannot be the target column")
