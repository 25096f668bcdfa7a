"""PSI against a hand-computed example, and its status thresholds."""

import math

import pytest

from lib.monitoring.drift import drift_status, psi


def test_psi_matches_the_hand_computed_value():
    # shares 0.5/0.5 -> 0.25/0.75: (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5)
    expected = -0.25 * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi([50, 50], [25, 75]) == pytest.approx(expected, rel=1e-12)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, abs=1e-6)


def test_identical_distributions_have_zero_psi_and_empty_bins_stay_finite():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(psi([10, 10, 0], [0, 10, 10]))


def test_status_thresholds():
    assert [drift_status(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25, 3.0)] == [
        "ok",
        "ok",
        "watch",
        "watch",
        "alert",
        "alert",
    ]


def test_mismatched_or_empty_inputs_are_refused():
    with pytest.raises(ValueError):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        psi([0, 0], [1, 1])
