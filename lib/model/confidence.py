"""Confidence bands: how sure the model is of the label it gives, in three words."""

from __future__ import annotations

import numpy as np

# Confidence is the model's probability that the label it gives is right (p for a positive
# label, 1 - p for a negative one); these edges separate low / medium / high.
CONFIDENCE_EDGES = (0.6, 0.8)
CONFIDENCE_NAMES = ("low", "medium", "high")


def confidence_band(probability: float, threshold: float) -> str:
    """With a low business threshold a customer can be flagged at p = 0.3: low confidence."""
    label_probability = probability if probability >= threshold else 1.0 - probability
    if label_probability < CONFIDENCE_EDGES[0]:
        return CONFIDENCE_NAMES[0]
    return CONFIDENCE_NAMES[1] if label_probability < CONFIDENCE_EDGES[1] else CONFIDENCE_NAMES[2]


def confidence_codes(probability: np.ndarray, threshold: float) -> np.ndarray:
    """confidence_band for many probabilities at once: 0, 1, 2 index CONFIDENCE_NAMES."""
    label_probability = np.where(probability >= threshold, probability, 1.0 - probability)
    return np.searchsorted(np.asarray(CONFIDENCE_EDGES), label_probability, side="right").astype(np.int8)
