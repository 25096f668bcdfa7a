"""Candidate model families: each one fitted sklearn Pipeline with its own preprocessing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler


def logistic_regression(numeric: list[str], categorical: list[str], seed: int) -> Pipeline:
    """Scaled numbers and one-hot categories into a regularised logistic regression."""
    preprocess = ColumnTransformer(
        [
            ("numeric", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                categorical,
            ),
        ]
    )
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def gradient_boosting(numeric: list[str], categorical: list[str], seed: int) -> Pipeline:
    """Native categorical splits; missing numbers are handled by the trees themselves."""
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, max_categories=250
    )
    preprocess = ColumnTransformer([("categorical", encoder, categorical), ("numeric", "passthrough", numeric)])
    model = HistGradientBoostingClassifier(
        learning_rate=0.05,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        categorical_features=list(range(len(categorical))),
        early_stopping=False,
        random_state=seed,
    )
    return Pipeline([("preprocess", preprocess), ("model", model)])


CANDIDATES: dict[str, Callable[[list[str], list[str], int], Pipeline]] = {
    "logistic_regression": logistic_regression,
    "hist_gradient_boosting": gradient_boosting,
}
