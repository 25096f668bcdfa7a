"""What realised performance is computed from when too many outcomes are known to read
them row by row: per day (of the prediction) and model version, a tally of labelled
predictions, merged when an outcome is recorded or corrected.

A tally holds, for each outcome class, counts per probability bin of 0.001 (bins are
[k/1000, (k+1)/1000): a decision threshold on the 0.01 grid falls on an edge, so the
confusion counts are exact), the sums of p, p², p³ and p⁴ (the Brier score and its
interval, exact), the summed business value of the positives per bin (the realised
campaign value at the threshold), and the sum of p per tenth (calibration, exact but
for a probability exactly on a tenth, which goes to the tenth above). Only ROC AUC and
PR AUC are approximate: predictions within one bin count as ties.

Stored as one float64 blob per (day, version, replica); counts stay exact below 2^53.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BINS = 1000
TENTHS = 10
BIN_EDGES = np.arange(BINS + 1) / BINS
_COUNTS = slice(0, 2 * BINS)  # class 0's bins, then class 1's
_VALUE = slice(2 * BINS, 3 * BINS)  # positives' business value per bin
_POWERS = slice(3 * BINS, 3 * BINS + 8)  # class 0's sums of p..p^4, then class 1's
_TENTH_P = slice(3 * BINS + 8, 3 * BINS + 8 + TENTHS)
SIZE = 3 * BINS + 8 + TENTHS


def bin_of(probability: np.ndarray) -> np.ndarray:
    """Each probability's bin: k where k/1000 <= p < (k+1)/1000 (p = 1 in the last)."""
    return np.clip(np.searchsorted(BIN_EDGES, probability, side="right") - 1, 0, BINS - 1)


@dataclass
class Tally:
    data: np.ndarray  # SIZE float64

    @classmethod
    def empty(cls) -> Tally:
        return cls(np.zeros(SIZE))

    @classmethod
    def from_bytes(cls, blob: bytes) -> Tally:
        data = np.frombuffer(bytes(blob), np.float64)
        if data.shape != (SIZE,):
            raise ValueError(f"an outcome tally has {SIZE} values, not {data.size}")
        return cls(data.copy())

    @classmethod
    def of(
        cls, outcome: np.ndarray, probability: np.ndarray, value: np.ndarray | None = None, sign: float = 1.0
    ) -> Tally:
        """The tally of labelled predictions (sign -1: to take them out, for a correction)."""
        y = np.asarray(outcome, dtype=np.int64)
        p = np.asarray(probability, dtype=np.float64)
        bins = bin_of(p)
        data = np.zeros(SIZE)
        data[_COUNTS] = np.bincount(y * BINS + bins, minlength=2 * BINS)
        if value is not None:
            known = np.nan_to_num(np.asarray(value, dtype=np.float64))
            data[_VALUE] = np.bincount(bins, weights=known * (y == 1), minlength=BINS)
        data[_POWERS] = [float(np.sum(p[y == label] ** power)) for label in (0, 1) for power in (1, 2, 3, 4)]
        data[_TENTH_P] = np.bincount(bins * TENTHS // BINS, weights=p, minlength=TENTHS)
        return cls(sign * data)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.data + other.data)

    def to_bytes(self) -> bytes:
        return self.data.astype(np.float64).tobytes()

    @property
    def counts(self) -> np.ndarray:
        """(2, BINS): counts per bin of the negative (row 0) and positive (row 1) outcomes."""
        return np.rint(self.data[_COUNTS]).astype(np.int64).reshape(2, BINS)

    @property
    def positive_value(self) -> np.ndarray:
        return self.data[_VALUE]

    @property
    def powers(self) -> np.ndarray:
        """(2, 4): per class, the sums of p, p², p³, p⁴."""
        return self.data[_POWERS].reshape(2, 4)

    @property
    def tenth_probability(self) -> np.ndarray:
        return self.data[_TENTH_P]

    @property
    def rows(self) -> int:
        return int(self.counts.sum())
