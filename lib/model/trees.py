"""A compiled scorer for tree ensembles (histogram gradient boosting), built once per model.

Every split of every tree tests one feature, and across all trees a feature is only ever
compared with a few hundred thresholds (the training bins), so each input value falls in
one of few intervals ("bins"): between two thresholds, above them all, or missing; for a
category, its position in the schema (or unseen, or missing). Within a bin every split on
that feature goes the same way.

The trees are then evaluated without walking them (the QuickScorer idea): each leaf of a
tree is a bit; each split, depending on the way a row goes, rules out the leaves of the
other side. For every feature and bin, the leaves its splits rule out in every tree are
precomputed once, as one bit mask per tree. A row's leaves are the AND of one row of masks
per feature: the single bit left in each tree's mask is the leaf the row reaches. The
tables are built here with numpy; the loops over rows (AND, then add up the leaves) are
compiled (lib.model.tree_kernels).

Reasons use occlusion, as for every scorer: the change in probability when one feature is
set to the typical customer's value. With masks that is cheap: the masks of "all features
but j" come from prefix and suffix ANDs, and feature j's default bin is AND-ed in.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from lib.model.schema import FeatureSchema, FeatureSpec
from lib.model.sigmoid import expit, logistic
from lib.model.validation import EncodedColumns

LEAF = -1  # the feature index of a leaf
MAX_LEAVES = 64  # leaves of one tree must fit the bits of one mask
MAX_NODES = 1_000_000  # all trees together: bounds what a scorer.json may ask us to build


class TreeFormatError(ValueError):
    """A tree scorer's JSON does not describe valid trees over the schema's features."""


@dataclass(frozen=True)
class Tree:
    """One tree over the schema's features, in node order (node 0 is the root).

    feature[n] is the schema index of the feature node n tests, or LEAF. A numeric split
    sends a value <= threshold[n] left; a categorical split sends the categories listed
    in left_categories[n] left. Missing values, and categories training never saw, go
    left when missing_left[n].
    """

    feature: list[int]
    threshold: list[float | None]
    left_categories: list[list[str] | None]
    missing_left: list[bool]
    left: list[int]
    right: list[int]
    value: list[float]

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in Tree.__dataclass_fields__}

    @classmethod
    def from_json(cls, raw: Any, schema: FeatureSchema) -> Tree:
        if not isinstance(raw, dict):
            raise TreeFormatError("a tree must be an object")
        fields: dict[str, Any] = {name: raw.get(name) for name in Tree.__dataclass_fields__}
        tree = cls(**fields)
        tree.check(schema)
        return tree

    def check(self, schema: FeatureSchema) -> None:
        """Every list as long as the others, every reference in range, and the nodes one
        binary tree reached from node 0 (no cycle, no orphan)."""
        columns = [getattr(self, name) for name in Tree.__dataclass_fields__]
        if not all(isinstance(column, list) for column in columns) or len({len(c) for c in columns}) != 1:
            raise TreeFormatError("a tree's node lists must all be lists of the same length")
        nodes = len(self.feature)
        seen, stack, leaves = set(), [0], 0
        while stack:
            node = stack.pop()
            if not isinstance(node, int) or not 0 <= node < nodes or node in seen:
                raise TreeFormatError("a tree's children must form one tree from node 0")
            seen.add(node)
            feature = self.feature[node]
            if feature == LEAF:
                leaves += 1
                if not isinstance(self.value[node], int | float) or not math.isfinite(self.value[node]):
                    raise TreeFormatError("a leaf value must be a finite number")
                continue
            if not isinstance(feature, int) or not 0 <= feature < len(schema.features):
                raise TreeFormatError("a split must test one of the schema's features")
            self._check_split(node, schema.features[feature])
            stack += [self.left[node], self.right[node]]
        if len(seen) != nodes or not 1 <= leaves <= MAX_LEAVES:
            raise TreeFormatError(f"a tree must be one tree of 1 to {MAX_LEAVES} leaves")

    def _check_split(self, node: int, spec: FeatureSpec) -> None:
        if not isinstance(self.missing_left[node], bool):
            raise TreeFormatError("missing_left must be true or false")
        if spec.is_numeric:
            threshold = self.threshold[node]
            if not isinstance(threshold, int | float) or isinstance(threshold, bool) or math.isnan(threshold):
                raise TreeFormatError(f"a split on {spec.name!r} needs a numeric threshold")
        else:
            names = self.left_categories[node]
            if not isinstance(names, list) or not set(names) <= spec.category_set:
                raise TreeFormatError(f"a split on {spec.name!r} must list known categories")

    def leaf_masks(self) -> tuple[dict[int, int], dict[int, int]]:
        """(leaf bit per leaf node, bits of the leaves under each node)."""
        bit: dict[int, int] = {}
        under: dict[int, int] = {}

        def visit(node: int) -> int:
            if self.feature[node] == LEAF:
                bit[node] = 1 << len(bit)
                under[node] = bit[node]
            else:
                under[node] = visit(self.left[node]) | visit(self.right[node])
            return under[node]

        visit(0)
        return bit, under


class _FeatureBins:
    """How one feature's values map to bins: thresholds for a number, codes for a category."""

    def __init__(self, spec: FeatureSpec, thresholds: list[float]) -> None:
        self.spec, self.numeric = spec, spec.is_numeric  # read per value scored: kept as a plain attribute
        self.thresholds = sorted(set(thresholds))
        self.array = np.asarray(self.thresholds, dtype=float)
        self.codes = {category: code for code, category in enumerate(spec.categories or [])}
        # numeric: bins 0..len(thresholds) by value, then missing; categorical: codes, unseen, missing
        self.count = len(self.thresholds) + 2 if self.numeric else len(self.codes) + 2

    def one(self, value: Any) -> int:
        if value is None:
            return self.count - 1
        if self.numeric:
            return bisect.bisect_left(self.thresholds, value)
        return self.codes.get(value, self.count - 2)

    def column(self, columns: EncodedColumns) -> np.ndarray:
        if not self.numeric:
            return columns.codes[self.spec.name]
        values = columns.numbers[self.spec.name]
        bins = np.searchsorted(self.array, values, side="left")
        return np.where(np.isnan(values), self.count - 1, bins)

    def goes_left(self, tree: Tree, node: int) -> np.ndarray:
        """For every bin of this feature, whether the split at `node` sends it left."""
        left = np.empty(self.count, dtype=bool)
        if self.numeric:
            # bin b holds the values in (thresholds[b-1], thresholds[b]]; the next, those above all
            left[:-1] = np.append(self.array <= tree.threshold[node], False)
        else:
            names = set(tree.left_categories[node] or ())
            left[:-2] = [category in names for category in self.spec.categories]
            left[-2] = tree.missing_left[node]  # a category training never saw goes the missing way
        left[-1] = tree.missing_left[node]
        return left


class TreeScorer:
    """A sum of trees and a sigmoid: P(positive) = expit(baseline + sum of leaf values)."""

    kind = "compiled_trees"

    def __init__(self, schema: FeatureSchema, baseline: float, trees: list[Tree]) -> None:
        if sum(len(tree.feature) for tree in trees) > MAX_NODES:
            raise TreeFormatError(f"more than {MAX_NODES:,} nodes")
        self.schema, self.baseline, self.trees = schema, baseline, trees
        thresholds: dict[int, list[float]] = {}
        for tree in trees:
            for node, feature in enumerate(tree.feature):
                if feature != LEAF and schema.features[feature].is_numeric:
                    thresholds.setdefault(feature, []).append(float(tree.threshold[node]))  # type: ignore[arg-type]
        self.bins = [_FeatureBins(spec, thresholds.get(j, [])) for j, spec in enumerate(schema.features)]
        width = max((tree.feature.count(LEAF) for tree in trees), default=1)
        self.mask_type = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(t).bits >= width)
        # every leaf's bit set: the start of each tree's mask
        self.full = np.array([(1 << tree.feature.count(LEAF)) - 1 for tree in trees], dtype=self.mask_type)
        self.used = sorted({f for tree in trees for f in tree.feature if f != LEAF})
        self._leaves = [tree.leaf_masks() for tree in trees]  # (leaf bits, leaves under each node), once
        tables = [self._masks(j) for j in self.used] or [self.full[None, :]]
        self.masks = np.ascontiguousarray(np.concatenate(tables))  # every used feature's bins, stacked
        self.offsets = np.cumsum([0] + [len(table) for table in tables[:-1]]).astype(np.int64)
        self.values = self._leaf_values(width)
        self.default_bins = np.array([self.bins[j].one(schema.features[j].default) for j in self.used], np.int64)
        self._used_bins = [self.bins[j] for j in self.used]
        from lib.model import tree_kernels  # numba: imported when a tree model is built, never for a linear one

        self._kernels: ModuleType = tree_kernels
        self._tables = (self.offsets, self.masks, self.full, self.values, tree_kernels.LOWEST_BIT)
        self._warm_up()

    def _masks(self, feature: int) -> np.ndarray:
        """Per bin of `feature`, per tree: the leaves still reachable after its splits on it."""
        bins = self.bins[feature]
        masks = np.tile(self.full, (bins.count, 1))
        for t, (tree, (_, under)) in enumerate(zip(self.trees, self._leaves, strict=True)):
            for node, tested in enumerate(tree.feature):
                if tested == feature:
                    every = int(self.full[t])
                    keep_if_left = self.mask_type(every & ~under[tree.right[node]])
                    keep_if_right = self.mask_type(every & ~under[tree.left[node]])
                    masks[:, t] &= np.where(bins.goes_left(tree, node), keep_if_left, keep_if_right)
        return masks

    def _leaf_values(self, width: int) -> np.ndarray:
        """values[t, position of the leaf's bit]: the leaf a mask's single bit names."""
        values = np.zeros((len(self.trees), width))
        for t, (tree, (bit, _)) in enumerate(zip(self.trees, self._leaves, strict=True)):
            for node, mask in bit.items():
                values[t, mask.bit_length() - 1] = tree.value[node]
        return values

    # --- JSON (the bundle's scorer.json) --------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "baseline": self.baseline, "trees": [tree.to_json() for tree in self.trees]}

    @classmethod
    def from_json(cls, schema: FeatureSchema, raw: dict[str, Any]) -> TreeScorer:
        """Raises ValueError when `raw` does not describe trees over this schema."""
        if raw.get("kind") != cls.kind:
            raise TreeFormatError(f"not a {cls.kind} scorer")
        baseline, trees = raw.get("baseline"), raw.get("trees")
        if not isinstance(baseline, int | float) or not math.isfinite(baseline) or not isinstance(trees, list):
            raise TreeFormatError("a tree scorer needs a finite baseline and a list of trees")
        return cls(schema, float(baseline), [Tree.from_json(tree, schema) for tree in trees])

    # --- scoring (the loops are in lib.model.tree_kernels) -----------------------------

    def _warm_up(self) -> None:
        """Compile the kernels for this mask type now, not on the first request."""
        record = {spec.name: spec.default for spec in self.schema.features}
        self.explain(record)
        self.probability(record)

    def _record_bins(self, values: dict[str, Any]) -> np.ndarray:
        bins = [(feature_bins.one(values[feature_bins.spec.name]),) for feature_bins in self._used_bins]
        return np.array(bins, dtype=np.int64)

    def _column_bins(self, columns: EncodedColumns) -> np.ndarray:
        bins = np.empty((len(self.used), columns.rows), dtype=np.int64)
        for position, j in enumerate(self.used):
            bins[position] = self.bins[j].column(columns)
        return bins

    def _raw(self, bins: np.ndarray) -> np.ndarray:
        out = np.empty(bins.shape[1])
        if len(self.used):
            self._kernels.raw_scores(bins, *self._tables, out)
        else:
            out[:] = self.values.sum() if len(self.trees) else 0.0  # single-leaf trees
        return self.baseline + out

    def _occluded(self, bins: np.ndarray) -> np.ndarray:
        """(rows, 1 + used features): the raw score as is, then with each used feature at its default."""
        out = np.empty((bins.shape[1], 1 + len(self.used)))
        self._kernels.occluded_scores(bins, self.default_bins, *self._tables, out)
        return self.baseline + out

    def probability(self, values: dict[str, Any]) -> float:
        return logistic(float(self._raw(self._record_bins(values))[0]))

    def explain(self, values: dict[str, Any]) -> tuple[float, list[float]]:
        if not self.used:
            return self.probability(values), [0.0] * len(self.schema.features)
        scored = expit(self._occluded(self._record_bins(values))[0])
        effects = [0.0] * len(self.schema.features)
        for position, j in enumerate(self.used):
            effects[j] = float(scored[0] - scored[position + 1])
        return float(scored[0]), effects

    def probabilities(self, columns: EncodedColumns) -> np.ndarray:
        return expit(self._raw(self._column_bins(columns)))

    def batch_contributions(self, columns: EncodedColumns, probabilities: np.ndarray) -> np.ndarray:
        """Per row and feature, the change in probability when the feature is set to its default."""
        effects = np.zeros((columns.rows, len(self.schema.features)))
        if self.used and columns.rows:
            scored = expit(self._occluded(self._column_bins(columns)))
            effects[:, self.used] = probabilities[:, None] - scored[:, 1:]
        return effects
