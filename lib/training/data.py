"""Load a dataset CSV as its config describes: clean it, infer column types, split it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lib.model.schema import FeatureSchema, FeatureSpec
from lib.redact import listed, shown
from lib.storage.files import file_sha256
from lib.training.config import DatasetConfig, FeatureWords


class DataError(ValueError):
    """The dataset cannot be used for training as configured; the message says why."""


@dataclass(frozen=True)
class Dataset:
    """Cleaned features (numeric as float, categorical as text or NaN) and a 0/1 target."""

    features: pd.DataFrame
    target: np.ndarray
    numeric: list[str]
    categorical: list[str]
    integer: list[str]
    negative_label: str
    business_value: np.ndarray | None
    sha256: str
    rows_read: int
    rows_dropped: int
    columns_dropped: list[str]


@dataclass(frozen=True)
class Split:
    """Row positions of the train, validation and test parts (stratified, fixed seed)."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


def read_raw(config: DatasetConfig) -> pd.DataFrame:
    """Every cell as stripped text, blanks as missing: types are inferred afterwards."""
    try:
        raw = pd.read_csv(config.csv_path, sep=config.separator, dtype=str, keep_default_na=False, na_values=[])
    except FileNotFoundError:
        raise DataError(f"dataset CSV not found: {config.csv_path}") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"dataset CSV {config.csv_path} cannot be read: {exc}") from None
    raw.columns = [str(column).strip() for column in raw.columns]
    if raw.columns.duplicated().any():
        raise DataError(f"dataset CSV has duplicate column names: {sorted(set(raw.columns[raw.columns.duplicated()]))}")
    raw = raw.astype(object)
    for column in raw.columns:
        stripped = raw[column].str.strip()
        raw[column] = stripped.where(stripped != "", np.nan)
    return raw


SEPARATORS = (",", ";", "\t", "|")


def _check_columns(raw: pd.DataFrame, config: DatasetConfig) -> None:
    """Every column the config names is in the CSV; else the key and the value are named,
    and the separator is suggested only when the header really looks mis-split."""
    keys: list[tuple[str, str]] = [("[dataset].target", config.target)]
    keys += [("[dataset].id_columns", c) for c in config.id_columns]
    keys += [("[dataset].drop_columns", c) for c in config.drop_columns]
    keys += [("[dataset].categorical_columns", c) for c in config.categorical_columns]
    keys += [("[dataset].numeric_columns", c) for c in config.numeric_columns]
    keys += [("[dataset.bounds]", c) for c in config.hard_bounds]
    keys += [(f"[features.{c[:60]}]", c) for c in config.features]
    if config.business:
        keys.append(("[business].value_column", config.business.value_column))
    missing = [f"{key} = {shown(column)}" for key, column in keys if column not in raw.columns]
    if not missing:
        return
    message = f"{config.path.name} names columns that {config.csv_path.name} does not have: {'; '.join(missing)}"
    header = str(raw.columns[0]) if len(raw.columns) == 1 else ""
    other = next((sep for sep in SEPARATORS if sep != config.separator and sep in header), None)
    if other is not None:
        message += (
            f". The header reads as one column split by {other!r}: set [dataset].separator = {other!r} "
            f"(it is {config.separator!r})"
        )
    else:
        message += f" (its columns: {listed(list(raw.columns))})"
    raise DataError(message)


def _is_numeric(values: pd.Series) -> bool:
    present = values.dropna()
    return len(present) > 0 and pd.to_numeric(present, errors="coerce").notna().all()


def _encode_target(raw: pd.DataFrame, config: DatasetConfig) -> tuple[np.ndarray, str]:
    labels = raw[config.target].dropna().unique().tolist()
    if config.positive_label not in labels:
        raise DataError(
            f"positive label {config.positive_label!r} never appears in target column "
            f"'{config.target}' (values seen: {sorted(labels)[:10]})"
        )
    if len(labels) != 2:
        raise DataError(
            f"target column '{config.target}' must have exactly 2 values, found {len(labels)}: {sorted(labels)[:10]}"
        )
    negative = next(label for label in labels if label != config.positive_label)
    return (raw[config.target] == config.positive_label).to_numpy(dtype=np.int8), negative


def load_dataset(config: DatasetConfig) -> Dataset:
    """Read, clean and type the dataset; rows without a target are dropped and counted."""
    raw = read_raw(config)
    _check_columns(raw, config)
    rows_read = len(raw)
    raw = raw[raw[config.target].notna()].reset_index(drop=True)
    target, negative_label = _encode_target(raw, config)

    excluded = {config.target, *config.id_columns, *config.drop_columns}
    feature_columns = [column for column in raw.columns if column not in excluded]
    empty = [column for column in feature_columns if raw[column].isna().all()]
    feature_columns = [column for column in feature_columns if column not in empty]
    if not feature_columns:
        raise DataError("no feature column is left once the target, ids and dropped columns are removed")

    numeric, categorical, integer = [], [], []
    features = pd.DataFrame(index=raw.index)
    for column in feature_columns:
        wants_numeric = column in config.numeric_columns or (
            column not in config.categorical_columns and _is_numeric(raw[column])
        )
        if wants_numeric:
            values = pd.to_numeric(raw[column], errors="coerce").astype(float)
            bad = raw[column].notna() & values.isna()
            if bad.any():
                example = raw.loc[bad, column].iloc[0]
                raise DataError(f"column '{column}' is configured as numeric but holds text such as {example!r}")
            numeric.append(column)
            present = values.dropna()
            if len(present) and (present == np.round(present)).all():
                integer.append(column)
            features[column] = values
        else:
            categorical.append(column)
            features[column] = raw[column]

    business_value = None
    if config.business:
        value = pd.to_numeric(raw[config.business.value_column], errors="coerce")
        if value.notna().sum() == 0:
            raise DataError(f"[business].value_column '{config.business.value_column}' holds no numbers")
        if (value < 0).any():  # an account balance is not what a customer is worth to a campaign
            raise DataError(
                f"[business].value_column '{config.business.value_column}' has {int((value < 0).sum()):,} negative "
                f"values (lowest {value.min():g}): a campaign value is what a positive customer brings or keeps, "
                "never below 0. Choose another column, or prepare one without negative values"
            )
        business_value = value.fillna(0.0).to_numpy(dtype=float)

    positives = int(target.sum())
    if positives < 2 * config.training.cv_folds or len(target) - positives < 2 * config.training.cv_folds:
        raise DataError(f"too few rows of one class to train ({positives} positive of {len(target)})")
    return Dataset(
        features=features,
        target=target,
        numeric=numeric,
        categorical=categorical,
        integer=integer,
        negative_label=negative_label,
        business_value=business_value,
        sha256=file_sha256(config.csv_path),
        rows_read=rows_read,
        rows_dropped=rows_read - len(raw),
        columns_dropped=empty,
    )


def split_rows(target: np.ndarray, config: DatasetConfig) -> Split:
    """Stratified train / validation / test row positions; the same seed gives the same split."""
    settings = config.training
    positions = np.arange(len(target))
    rest, test = train_test_split(
        positions, test_size=settings.test_fraction, stratify=target, random_state=settings.seed
    )
    validation_share = settings.validation_fraction / (1.0 - settings.test_fraction)
    train, validation = train_test_split(
        rest, test_size=validation_share, stratify=target[rest], random_state=settings.seed
    )
    return Split(train=np.sort(train), validation=np.sort(validation), test=np.sort(test))


def _words(config: DatasetConfig, column: str) -> FeatureWords:
    return config.features.get(column, FeatureWords())


def build_schema(dataset: Dataset, train_rows: np.ndarray, config: DatasetConfig) -> FeatureSchema:
    """Describe the features as the training part saw them (ranges, categories, defaults)."""
    train = dataset.features.iloc[train_rows]
    specs = []
    for name in dataset.features.columns:
        values = train[name]
        nullable = bool(dataset.features[name].isna().any())
        words = _words(config, name)
        if name in dataset.numeric:
            integer = name in dataset.integer
            median = float(values.median())  # the typical customer may well be a special case
            ordinary = values[~values.isin(list(words.special))] if words.special else values
            ordinary = ordinary if ordinary.notna().any() else values
            hard_min, hard_max = config.hard_bounds.get(name, (None, None))
            specs.append(
                FeatureSpec(
                    name=name,
                    kind="numeric",
                    dtype="int64" if integer else "float64",
                    default=float(round(median)) if integer else median,
                    nullable=nullable,
                    min=float(ordinary.min()),  # the range of real numbers, sentinels aside
                    max=float(ordinary.max()),
                    hard_min=hard_min,
                    hard_max=hard_max,
                    label=words.label,
                    description=words.description,
                    unit=words.unit,
                    special={repr(value): label for value, label in words.special.items()},
                    number_format=words.format,
                )
            )
        else:
            if words.special or words.format:
                key = "special" if words.special else "format"
                raise DataError(f"[features.{name[:60]}].{key}: {name[:60]!r} is not a numeric column")
            counts = values.value_counts()
            specs.append(
                FeatureSpec(
                    name=name,
                    kind="categorical",
                    dtype="object",
                    default=str(counts.index[0]),
                    nullable=nullable,
                    categories=sorted(str(category) for category in counts.index),
                    label=words.label,
                    description=words.description,
                    unit=words.unit,
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
