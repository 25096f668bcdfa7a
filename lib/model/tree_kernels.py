"""The loops of the tree scorer, compiled to machine code by numba (imported only when a
tree model is served: a linear model never loads it).

The masks and tables are built in numpy by lib.model.trees; these loops only AND one row
of masks per feature and add up the leaves that remain. Written as plain loops over
rows, trees and features: numba turns the inner AND over trees into vector
instructions. No loop releases memory or allocates per row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Position of the lowest set bit of every 16-bit value (0 for 0, which never occurs).
LOWEST_BIT = np.zeros(1 << 16, dtype=np.int8)
for _bit in range(16):
    LOWEST_BIT[1 << _bit :: 1 << (_bit + 1)] = _bit


@njit(nogil=True, cache=False)
def _lowest_bit(mask: int, lowest: np.ndarray) -> int:
    """The index of the single set bit of a mask of up to 64 bits, 16 bits at a time."""
    shift = 0
    while (mask >> shift) & 0xFFFF == 0:
        shift += 16
    return shift + lowest[(mask >> shift) & 0xFFFF]


@njit(nogil=True, cache=False)
def _leaf_sum(mask_row: np.ndarray, values: np.ndarray, lowest: np.ndarray) -> float:
    total = 0.0
    for t in range(mask_row.shape[0]):
        total += values[t, _lowest_bit(mask_row[t], lowest)]
    return total


@njit(nogil=True, cache=False)
def raw_scores(
    bins: np.ndarray,  # (features, rows) bin of each used feature
    offsets: np.ndarray,  # (features,) first row of each feature's masks in `masks`
    masks: np.ndarray,  # (all bins, trees) leaves left reachable, per feature bin and tree
    full: np.ndarray,  # (trees,) every leaf's bit
    values: np.ndarray,  # (trees, max leaves) leaf values by bit position
    lowest: np.ndarray,
    out: np.ndarray,  # (rows,) sum of the reached leaves' values
) -> None:
    features, rows = bins.shape
    reached = full.copy()
    for i in range(rows):
        reached[:] = full
        for f in range(features):
            row = masks[offsets[f] + bins[f, i]]
            for t in range(reached.shape[0]):
                reached[t] &= row[t]
        out[i] = _leaf_sum(reached, values, lowest)


@njit(nogil=True, cache=False)
def occluded_scores(
    bins: np.ndarray,  # (features, rows)
    default_bins: np.ndarray,  # (features,) bin of the typical customer's value
    offsets: np.ndarray,
    masks: np.ndarray,
    full: np.ndarray,
    values: np.ndarray,
    lowest: np.ndarray,
    out: np.ndarray,  # (rows, 1 + features): the row as it is, then with each feature at its default
) -> None:
    """Prefix and suffix ANDs give "every feature but j" for all j in O(features x trees)."""
    features, rows = bins.shape
    trees = full.shape[0]
    before = np.empty((features + 1, trees), dtype=masks.dtype)
    after = np.empty((features + 1, trees), dtype=masks.dtype)
    occluded = full.copy()
    for i in range(rows):
        before[0, :] = full
        after[features, :] = full
        for f in range(features):
            row = masks[offsets[f] + bins[f, i]]
            for t in range(trees):
                before[f + 1, t] = before[f, t] & row[t]
        for f in range(features - 1, -1, -1):
            row = masks[offsets[f] + bins[f, i]]
            for t in range(trees):
                after[f, t] = after[f + 1, t] & row[t]
        out[i, 0] = _leaf_sum(before[features], values, lowest)
        for f in range(features):
            if bins[f, i] == default_bins[f]:
                out[i, f + 1] = out[i, 0]
                continue
            default_row = masks[offsets[f] + default_bins[f]]
            for t in range(trees):
                occluded[t] = before[f, t] & after[f + 1, t] & default_row[t]
            out[i, f + 1] = _leaf_sum(occluded, values, lowest)
