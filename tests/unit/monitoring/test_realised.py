"""Realised performance (issue 18): every figure equal to scikit-learn's on the same
rows, intervals that hold the truth about 95 % of the time, and nothing said from too
few outcomes."""

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from lib.monitoring.realised import realised_metrics


def labelled(rows: int, seed: int, decimals: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from the probabilities themselves (a calibrated model), rounded to
    `decimals` to make ties, as a model with few distinct scores has."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 5, rows)
    if decimals is not None:
        p = np.round(p, decimals)
    return (rng.random(rows) < p).astype(int), p


@pytest.mark.parametrize(("rows", "decimals", "threshold"), [(500, None, 0.3), (5000, 2, 0.5), (20_000, 1, 0.25)])
def test_every_figure_equals_scikit_learns(rows, decimals, threshold):
    y, p = labelled(rows, seed=rows, decimals=decimals)
    realised = realised_metrics(y, p, threshold)
    assert realised.withheld is None and realised.rows == rows and realised.positives == int(y.sum())
    predicted = (p >= threshold).astype(int)
    expected = {
        "accuracy": accuracy_score(y, predicted),
        "precision": precision_score(y, predicted, zero_division=0),
        "recall": recall_score(y, predicted),
        "f1": f1_score(y, predicted),
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
    }
    for name, value in expected.items():
        figure = realised.figures[name]
        assert figure.value == pytest.approx(value, abs=1e-12), name
        if figure.low is not None:
            assert figure.low <= figure.value <= figure.high, name
    observed, predicted_mean = calibration_curve(y, p, n_bins=10)
    bins = realised.calibration
    np.testing.assert_allclose([b["observed"] for b in bins], observed, atol=1e-12)
    np.testing.assert_allclose([b["predicted"] for b in bins], predicted_mean, atol=1e-12)
    confusion = realised.confusion
    assert confusion["tp"] + confusion["fn"] == int(y.sum()) and sum(confusion.values()) == rows


def test_the_intervals_hold_the_population_figure_about_95_percent_of_the_time():
    """200 samples of 400 rows from one population: each interval should miss the
    population's value about 5 % of the time (a fixed seed: the count is always the same)."""
    y_all, p_all = labelled(400_000, seed=1)
    truth = {"roc_auc": roc_auc_score(y_all, p_all), "recall": recall_score(y_all, p_all >= 0.3)}
    rng = np.random.default_rng(2)
    held = dict.fromkeys(truth, 0)
    for _ in range(200):
        pick = rng.choice(len(y_all), 400, replace=False)
        realised = realised_metrics(y_all[pick], p_all[pick], 0.3)
        for name, value in truth.items():
            figure = realised.figures[name]
            held[name] += figure.low <= value <= figure.high
    assert all(180 <= count <= 199 for count in held.values()), held


@pytest.mark.parametrize(
    ("y", "reason"),
    [
        ([1, 0] * 40, "80 labelled predictions; at least 100 are needed"),
        ([1] * 5 + [0] * 195, "5 positive and 195 negative outcomes; at least 10 of each are needed"),
        ([], "0 labelled predictions"),
    ],
)
def test_figures_are_withheld_with_the_reason_below_the_minimum(y, reason):
    realised = realised_metrics(np.array(y), np.linspace(0, 1, len(y)), 0.5)
    assert realised.withheld.startswith(reason) and realised.figures == {}
    assert realised.to_dict()["metrics"] == {} and realised.to_dict()["withheld"] == realised.withheld
