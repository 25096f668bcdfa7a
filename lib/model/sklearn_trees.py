"""Fitted scikit-learn tree ensembles read into lib.model.trees' own trees, once, when a
model is compiled (at training, or when a bundle without scorer.json is loaded).

Only the histogram gradient boosting pipeline of lib.training.families is read: ordinal-
encoded categories and numbers passed through, into a binary
HistGradientBoostingClassifier. Its splits are restated over the schema's own features
and category names, the way scikit-learn's predictor sends each value, so the compiled
trees need neither scikit-learn nor the encoder to score.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lib.model.schema import FeatureSchema
from lib.model.trees import LEAF, Tree, TreeScorer


def compile_trees(pipeline: Any, schema: FeatureSchema) -> TreeScorer | None:
    """Flatten the gradient-boosting pipeline of lib.training.families (ordinal-encoded
    categories, numbers passed through, a binary HistGradientBoostingClassifier) into
    trees over the schema's own features and categories, or None for any other shape."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder

    steps = getattr(pipeline, "named_steps", {})
    preprocess, model = steps.get("preprocess"), steps.get("model")
    if not (isinstance(preprocess, ColumnTransformer) and isinstance(model, HistGradientBoostingClassifier)):
        return None
    if model.n_trees_per_iteration_ != 1 or len(model.classes_) != 2:
        return None
    inputs: list[tuple[int, dict[float, str] | None]] = []  # per model column: schema index, code -> category
    positions = {name: j for j, name in enumerate(schema.names)}
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder" and transformer == "drop":
            continue
        identity = isinstance(transformer, FunctionTransformer) and transformer.func is None
        if identity or (isinstance(transformer, str) and transformer == "passthrough"):
            if any(not schema.features[positions[c]].is_numeric for c in columns if c in positions):
                return None
            inputs += [(positions[c], None) for c in columns if c in positions]
        elif isinstance(transformer, OrdinalEncoder):
            if not (isinstance(transformer.unknown_value, float) and np.isnan(transformer.unknown_value)):
                return None
            if not np.isnan(transformer.encoded_missing_value):
                return None
            if any(c is not None for c in getattr(transformer, "infrequent_categories_", None) or []):
                return None
            for k, column in enumerate(columns):
                known = {float(i): str(c) for i, c in enumerate(transformer.categories_[k]) if isinstance(c, str)}
                inputs.append((positions[column], known))
        else:
            return None
    if len(inputs) != len(schema.names) or len(inputs) != model.n_features_in_:
        return None
    if any((codes is not None) != bool(model.is_categorical_[i]) for i, (_, codes) in enumerate(inputs)):
        return None
    known_bitsets, bitset_row = model._bin_mapper.make_known_categories_bitsets()
    trees = [
        _tree(predictor, inputs, schema, known_bitsets, bitset_row)
        for iteration in model._predictors
        for predictor in iteration
    ]
    return TreeScorer(schema, float(np.ravel(model._baseline_prediction)[0]), trees)


def _in_bitset(bitset: np.ndarray, value: int) -> bool:
    return bool((int(bitset[value // 32]) >> (value % 32)) & 1)


def _tree(
    predictor: Any,
    inputs: list[tuple[int, dict[float, str] | None]],
    schema: FeatureSchema,
    known_bitsets: np.ndarray,
    bitset_row: np.ndarray,
) -> Tree:
    """One fitted tree, its splits restated over the schema: a category goes the way
    scikit-learn sends its ordinal code (a code the trees never saw goes the missing way)."""
    nodes = predictor.nodes
    tree = Tree([], [], [], [], [], [], [])
    for node in nodes:
        leaf = bool(node["is_leaf"])
        feature, codes = inputs[int(node["feature_idx"])]
        missing_left = bool(node["missing_go_to_left"])
        left_categories = None
        if not leaf and codes is not None:
            left_bits = predictor.raw_left_cat_bitsets[node["bitset_idx"]]
            known = known_bitsets[bitset_row[node["feature_idx"]]]
            code_of = {category: int(code) for code, category in codes.items()}
            left_categories = []
            for category in schema.features[feature].categories:
                code = code_of.get(category)
                if code is None or not (_in_bitset(left_bits, code) or _in_bitset(known, code)):
                    goes_left = missing_left  # unknown to the encoder or to the trees: as missing
                else:
                    goes_left = _in_bitset(left_bits, code)
                if goes_left:
                    left_categories.append(category)
        tree.feature.append(LEAF if leaf else feature)
        tree.threshold.append(None if leaf or codes is not None else float(node["num_threshold"]))
        tree.left_categories.append(left_categories)
        tree.missing_left.append(missing_left)
        tree.left.append(int(node["left"]))
        tree.right.append(int(node["right"]))
        tree.value.append(float(node["value"]) if leaf else 0.0)
    return tree
