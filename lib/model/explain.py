"""What-if analysis: one customer's probability as one feature moves through its range."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from lib.model.loaded import LoadedModel

WHAT_IF_POINTS = 41


class UnknownFeature(ValueError):
    """The feature asked for is not one of the model's."""


def default_what_if_feature(model: LoadedModel, reasons: list[dict[str, Any]]) -> str:
    """The feature that moves this customer most, else the one that matters most overall."""
    if reasons:
        return reasons[0]["feature"]
    ranked = model.kpis.feature_importance or [{"feature": model.schema.names[0]}]
    return ranked[0]["feature"]


def what_if(model: LoadedModel, values: dict[str, Any], feature: str, points: int = WHAT_IF_POINTS) -> pd.DataFrame:
    """Probability for each value of `feature` (its training range, or every category).

    `values` are validated values (as lib.model.validation returns them); the other features
    stay as they are. The customer's own value is always included and flagged. A special
    value of a number ("never contacted") is a row of its own, named in `case`.
    """
    spec = next((s for s in model.schema.features if s.name == feature), None)
    if spec is None:
        raise UnknownFeature(f"{feature!r} is not a feature of model {model.version}")
    current = values.get(feature)
    if spec.is_numeric:
        grid = np.linspace(*spec.training_range, points)
        if spec.dtype == "int64":
            grid = np.unique(np.round(grid))
        special = spec.special_values
        ordinary = [current] if current is not None and current not in special else []
        options: list[Any] = sorted({*grid.tolist(), *ordinary}) + list(special)
    else:
        options = list(spec.categories)
        if current is not None and current not in spec.category_set:
            options.append(current)
    probabilities = [model.scorer.probability({**values, feature: option}) for option in options]
    cases = [spec.special_values.get(option) if spec.is_numeric else None for option in options]
    return pd.DataFrame(
        {"value": options, "probability": probabilities, "is_current": [o == current for o in options], "case": cases}
    )
