"""The confidence rule has a scalar and a vectorised form: they must agree everywhere."""

import numpy as np

from lib.model.confidence import CONFIDENCE_NAMES, confidence_band, confidence_codes


def test_scalar_and_vectorised_bands_agree():
    probability = np.concatenate([np.linspace(0, 1, 2001), [0.2, 0.4, 0.6, 0.8]])
    for threshold in (0.1, 0.24, 0.5, 0.9):
        vectorised = [CONFIDENCE_NAMES[code] for code in confidence_codes(probability, threshold)]
        assert vectorised == [confidence_band(p, threshold) for p in probability]
