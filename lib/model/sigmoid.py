"""The logistic function without SciPy (scipy.special cost the server about 0.1 s of
start-up, on the path to the first rendered page, bench/dashboard.py): `logistic` for one
number (a single record's score), `expit` for arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def logistic(logit: float) -> float:
    """1 / (1 + exp(-logit)) for one number, with no overflow: about 0.1 µs, where numpy
    on a one-element array costs 1.3 µs."""
    if logit >= 0:
        return 1.0 / (1.0 + math.exp(-logit))
    exp = math.exp(logit)
    return exp / (1.0 + exp)


def expit(x: Any) -> Any:
    """1 / (1 + exp(-x)) elementwise, as exp(-log(1 + exp(-x))): no exponential overflows,
    and a single record pays about 1 µs more than scipy's ufunc."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(x, dtype=np.float64)))
