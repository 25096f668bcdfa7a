"""Business views of a scored portfolio: segments, top-risk customers, campaign simulation."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lib.model.inference import BatchScore, score_batch
from lib.model.loaded import LoadedModel
from lib.serving.csv_io import read_csv_bytes
from lib.training.config import DatasetConfig, load_config

SEGMENT_BANDS = 5


@dataclass(frozen=True)
class Campaign:
    """What a retention campaign costs and earns; defaults come from the dataset config."""

    contact_cost: float
    offer_cost: float
    offer_success_rate: float
    horizon_months: float


@dataclass(frozen=True)
class Portfolio:
    """Scored customers: their input columns plus probability, label and, when known,
    the actual outcome (`actual`, 0/1) and the monthly value (`value`)."""

    frame: pd.DataFrame
    source: str
    has_actual: bool
    has_value: bool


def portfolio_from_batch(rows: pd.DataFrame, batch: BatchScore, model: LoadedModel, source: str) -> Portfolio:
    """Join the scored rows back to their input columns (refused rows are left out)."""
    frame = rows.iloc[batch.table.index].reset_index(drop=True)
    for column in ("probability", "predicted_positive", "label", "confidence"):
        frame[column] = batch.table[column].to_numpy()
    schema = model.schema
    has_actual = schema.target in rows.columns
    if has_actual:
        frame["actual"] = (frame[schema.target].astype(str).str.strip() == schema.positive_label).astype(int)
    business = model.metadata.business
    has_value = business is not None and business.value_column in rows.columns
    if business is not None and has_value:
        frame["value"] = pd.to_numeric(frame[business.value_column], errors="coerce").fillna(0.0).to_numpy()
    return Portfolio(frame=frame, source=source, has_actual=has_actual, has_value=has_value)


def reference_portfolio(model: LoadedModel, config: DatasetConfig) -> Portfolio:
    """The dataset of the config, scored by the served model: the default customer base."""
    rows = read_csv_bytes(Path(config.csv_path).read_bytes(), model.schema, config.separator)
    batch = score_batch(rows, model)
    return portfolio_from_batch(rows, batch, model, f"{config.name} ({len(rows):,} customers)")


_reference_cache: dict[tuple[str, str], Portfolio] = {}
_reference_lock = threading.Lock()


def cached_reference_portfolio(model: LoadedModel, config_path: Path) -> Portfolio:
    """reference_portfolio once per (served version, config) in this process, shared by all."""
    key = (model.version, str(config_path))
    with _reference_lock:
        if key not in _reference_cache:
            _reference_cache.clear()  # one version is served at a time
            _reference_cache[key] = reference_portfolio(model, load_config(config_path))
        return _reference_cache[key]


def campaign_defaults(model: LoadedModel) -> Campaign | None:
    business = model.metadata.business
    if not business:
        return None
    return Campaign(
        contact_cost=business.contact_cost,
        offer_cost=business.offer_cost,
        offer_success_rate=business.offer_success_rate,
        horizon_months=business.horizon_months,
    )


def default_segment_feature(model: LoadedModel) -> str:
    """The categorical feature that matters most to the model (else the first feature)."""
    categorical = {spec.name for spec in model.schema.features if not spec.is_numeric}
    ranked = [item["feature"] for item in model.kpis.feature_importance]
    return next((name for name in ranked if name in categorical), model.schema.names[0])


def threshold_row(table: dict[str, list[Any]], threshold: float) -> dict[str, Any]:
    """The training-time threshold table's row nearest `threshold` (the grid step is 0.01)."""
    position = min(range(len(table["threshold"])), key=lambda i: abs(table["threshold"][i] - threshold))
    return {name: values[position] for name, values in table.items()}


def business_optimal_threshold(table: dict[str, list[Any]]) -> float | None:
    """The threshold of highest expected profit on the test split, if profit was computed."""
    if not table["profit"] or table["profit"][0] is None:
        return None
    return table["threshold"][max(range(len(table["profit"])), key=lambda i: table["profit"][i])]


def _segments(values: pd.Series, numeric: bool) -> pd.Series:
    if not numeric:
        return values.astype(object).where(values.notna(), "(missing)").astype(str)
    numbers = pd.to_numeric(values, errors="coerce")
    bands = pd.qcut(numbers, SEGMENT_BANDS, duplicates="drop")
    lowest = numbers.min()  # qcut moves the first edge just below the minimum
    labels = bands.map(lambda band: f"{max(band.left, lowest):g} to {band.right:g}", na_action="ignore")
    return labels.astype(object).where(labels.notna(), "(missing)").astype(str)


def segment_table(portfolio: Portfolio, model: LoadedModel, feature: str, campaign: Campaign | None) -> pd.DataFrame:
    """Per segment of `feature` (its categories, or quantile bands of a number): size,
    predicted and actual positive rate, customers flagged, and the value at stake."""
    spec = next(s for s in model.schema.features if s.name == feature)
    frame = portfolio.frame
    parts = pd.DataFrame(
        {
            "segment": _segments(frame[feature], spec.is_numeric).to_numpy(),
            "probability": frame["probability"].to_numpy(),
            "flagged": frame["predicted_positive"].to_numpy().astype(int),
        }
    )
    if portfolio.has_actual:
        parts["actual_rate"] = frame["actual"].to_numpy()
    if portfolio.has_value and campaign is not None:
        parts["revenue_at_risk"] = parts["probability"] * frame["value"].to_numpy() * campaign.horizon_months
    grouped = parts.groupby("segment", sort=False)
    table = grouped.agg(
        customers=("probability", "size"),
        predicted_rate=("probability", "mean"),
        flagged=("flagged", "sum"),
        **({"actual_rate": ("actual_rate", "mean")} if "actual_rate" in parts else {}),
        **({"revenue_at_risk": ("revenue_at_risk", "sum")} if "revenue_at_risk" in parts else {}),
    )
    table.insert(1, "share", table["customers"] / len(frame))
    if spec.is_numeric:  # bands in their natural order
        starts = [float(label.split(" to ")[0]) if label != "(missing)" else np.inf for label in table.index]
        return table.iloc[np.argsort(starts, kind="stable")].reset_index()
    order = "revenue_at_risk" if "revenue_at_risk" in table else "predicted_rate"
    return table.sort_values(order, ascending=False).reset_index()


def revenue_at_risk(portfolio: Portfolio, campaign: Campaign) -> float:
    """Expected revenue lost over the horizon if nothing is done: sum of p x value x horizon."""
    frame = portfolio.frame
    return float((frame["probability"] * frame["value"]).sum() * campaign.horizon_months)


def campaign_curve(portfolio: Portfolio, campaign: Campaign) -> pd.DataFrame:
    """Expected profit of contacting the k most likely positives, for every k.

    Profit = sum over contacted of p x success rate x value x horizon, minus
    k x (contact cost + offer cost): the expected counterpart of the training KPI.
    """
    frame = portfolio.frame.sort_values("probability", ascending=False, kind="stable")
    probability = frame["probability"].to_numpy()
    gain = probability * campaign.offer_success_rate * frame["value"].to_numpy() * campaign.horizon_months
    targeted = np.arange(1, len(frame) + 1)
    profit = np.cumsum(gain) - targeted * (campaign.contact_cost + campaign.offer_cost)
    return pd.DataFrame(
        {
            "targeted": np.concatenate([[0], targeted]),
            "cutoff": np.concatenate([[1.0], probability]),
            "expected_profit": np.concatenate([[0.0], profit]),
        }
    )


def best_cutoff(curve: pd.DataFrame) -> pd.Series:
    return curve.loc[curve["expected_profit"].idxmax()]


def top_risk(portfolio: Portfolio, model: LoadedModel, count: int = 20) -> pd.DataFrame:
    columns = [c for c in model.schema.id_columns if c in portfolio.frame.columns]
    columns += ["probability", "label", "confidence"]
    columns += ["value"] if portfolio.has_value else []
    columns += [spec.name for spec in model.schema.features[:6]]
    return portfolio.frame.nlargest(count, "probability")[list(dict.fromkeys(columns))].reset_index(drop=True)
