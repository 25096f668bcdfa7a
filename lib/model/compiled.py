"""Compiled scoring paths, built once when a bundle is loaded.

A fitted sklearn pipeline spends most of a single-record prediction in input checks
(about 7 ms). For the logistic-regression family the whole pipeline folds into one
number per feature value: imputation, scaling and one-hot encoding become per-feature
logit terms, so a record costs a few dict look-ups and a sigmoid. Any other pipeline is
scored by sklearn itself (`PipelineScorer`, the documented fallback), fed from the same
validated inputs. Every compiled scorer is checked against its pipeline on probe rows
when it is built and replaced by the fallback if it differs by more than 1e-9.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from lib.model.schema import FeatureSchema
from lib.model.sigmoid import expit, logistic
from lib.model.sklearn_trees import compile_trees
from lib.model.trees import TreeScorer
from lib.model.validation import EncodedColumns

if TYPE_CHECKING:  # the scikit-learn fallback builds frames; compiled scorers never do
    import pandas as pd

logger = logging.getLogger(__name__)

EXACTNESS = 1e-9
# Stand-in for a category training never saw: every encoder in the candidate pipelines
# (handle_unknown="ignore" / unknown_value) treats all unseen values alike.
UNSEEN = "\x00unseen"


class Scorer(Protocol):
    """What inference needs from a model: probabilities and per-feature occlusion effects."""

    kind: str

    def probability(self, values: dict[str, Any]) -> float: ...

    def explain(self, values: dict[str, Any]) -> tuple[float, list[float]]:
        """The probability and, per feature, its change when that feature is set to its default."""
        ...

    def probabilities(self, columns: EncodedColumns) -> np.ndarray: ...

    def batch_contributions(self, columns: EncodedColumns, probabilities: np.ndarray) -> np.ndarray: ...


class LinearScorer:
    """Logistic regression over median-imputed scaled numbers and mode-imputed one-hot categories.

    The logit is intercept + sum of one term per feature; resetting a feature to its
    default replaces its term by the default's, which makes reasons O(features).
    """

    kind = "compiled_linear"

    def __init__(self, schema: FeatureSchema, intercept: float, numeric: dict, categorical: dict) -> None:
        self.schema = schema
        self.names = schema.names
        self.intercept = intercept
        # numeric[name] = (weight, mean, scale, fill); categorical[name] = (weights by category, fill weight)
        self.numeric = numeric
        self.categorical = categorical
        self.plan = [(spec.name, spec.is_numeric) for spec in schema.features]
        self.default_terms = [self._term(spec.name, spec.is_numeric, spec.default) for spec in schema.features]
        self.category_weights = {
            spec.name: np.array(
                [categorical[spec.name][0].get(c, 0.0) for c in spec.categories] + [0.0, categorical[spec.name][1]]
            )
            for spec in schema.features
            if not spec.is_numeric
        }

    def to_json(self) -> dict[str, Any]:
        """Everything needed to rebuild this scorer without scikit-learn (bundle's scorer.json)."""
        return {
            "kind": self.kind,
            "intercept": self.intercept,
            "numeric": {name: list(params) for name, params in self.numeric.items()},
            "categorical": {name: {"weights": w, "fill": fill} for name, (w, fill) in self.categorical.items()},
        }

    @classmethod
    def from_json(cls, schema: FeatureSchema, raw: dict[str, Any]) -> LinearScorer:
        """Raises ValueError (or KeyError / TypeError) when `raw` does not fit the schema."""
        if raw.get("kind") != cls.kind:
            raise ValueError(f"not a {cls.kind} scorer")
        numeric = {name: tuple(float(v) for v in params) for name, params in raw["numeric"].items()}
        categorical = {
            name: ({str(k): float(v) for k, v in item["weights"].items()}, float(item["fill"]))
            for name, item in raw["categorical"].items()
        }
        if set(numeric) | set(categorical) != set(schema.names) or any(len(p) != 4 for p in numeric.values()):
            raise ValueError("the scorer's features differ from the schema's")
        return cls(schema, float(raw["intercept"]), numeric, categorical)

    def _term(self, name: str, is_numeric: bool, value: Any) -> float:
        if is_numeric:
            weight, mean, scale, fill = self.numeric[name]
            return weight * (((fill if value is None else value) - mean) / scale)
        weights, fill_weight = self.categorical[name]
        return fill_weight if value is None else weights.get(value, 0.0)

    def terms(self, values: dict[str, Any]) -> list[float]:
        return [self._term(name, is_numeric, values[name]) for name, is_numeric in self.plan]

    def probability(self, values: dict[str, Any]) -> float:
        return logistic(self.intercept + sum(self.terms(values)))

    def explain(self, values: dict[str, Any]) -> tuple[float, list[float]]:
        terms = self.terms(values)  # once, for the probability and every reason
        logit = self.intercept + sum(terms)
        probability = logistic(logit)
        return probability, [
            0.0 if term == default else probability - logistic(logit - term + default)
            for term, default in zip(terms, self.default_terms, strict=True)
        ]

    def _column_terms(self, columns: EncodedColumns) -> Iterator[np.ndarray]:
        """Each feature's logit terms for every row, in schema order."""
        for name, is_numeric in self.plan:
            if is_numeric:
                weight, mean, scale, fill = self.numeric[name]
                x = columns.numbers[name]
                yield weight * ((np.where(np.isnan(x), fill, x) - mean) / scale)
            else:
                yield self.category_weights[name][columns.codes[name]]

    def probabilities(self, columns: EncodedColumns) -> np.ndarray:
        logit = np.full(columns.rows, self.intercept)
        for terms in self._column_terms(columns):
            logit += terms
        return expit(logit)

    def batch_contributions(self, columns: EncodedColumns, probabilities: np.ndarray) -> np.ndarray:
        terms = np.empty((columns.rows, len(self.plan)), order="F")  # filled column by column
        for j, column in enumerate(self._column_terms(columns)):
            terms[:, j] = column
        logit = self.intercept + terms.sum(axis=1, keepdims=True)
        defaults = np.asarray(self.default_terms)[None, :]
        effect = probabilities[:, None] - expit(logit - terms + defaults)
        return np.where(terms == defaults, 0.0, effect)


class PipelineScorer:
    """The fitted sklearn pipeline itself: any model family, about 7 ms per call."""

    kind = "sklearn_pipeline"

    def __init__(self, pipeline: Any, schema: FeatureSchema) -> None:
        self.pipeline = pipeline
        self.schema = schema
        self.fallback_reason: str | None = None  # why no compiled scorer serves this model

    def _frame(self, rows: list[dict[str, Any]]) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(rows, columns=self.schema.names)
        for spec in self.schema.features:
            column = frame[spec.name]
            frame[spec.name] = (
                column.astype(float) if spec.is_numeric else column.astype(object).where(column.notna(), np.nan)
            )
        return frame

    def _predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(frame)[:, 1]

    def probability(self, values: dict[str, Any]) -> float:
        return float(self._predict(self._frame([values]))[0])

    def explain(self, values: dict[str, Any]) -> tuple[float, list[float]]:
        variants = [{**values, spec.name: spec.default} for spec in self.schema.features]
        scored = self._predict(self._frame([values, *variants]))  # one pipeline call for all
        probability = float(scored[0])
        return probability, [
            0.0 if values[spec.name] == spec.default else probability - float(p)
            for spec, p in zip(self.schema.features, scored[1:], strict=True)
        ]

    def decoded(self, columns: EncodedColumns) -> pd.DataFrame:
        import pandas as pd

        data = {}
        for spec in self.schema.features:
            if spec.is_numeric:
                data[spec.name] = columns.numbers[spec.name]
            else:
                lookup = np.array([*spec.categories, UNSEEN, np.nan], dtype=object)
                data[spec.name] = lookup[columns.codes[spec.name]]
        return pd.DataFrame(data)

    def probabilities(self, columns: EncodedColumns) -> np.ndarray:
        return self._predict(self.decoded(columns)) if columns.rows else np.empty(0)

    def batch_contributions(self, columns: EncodedColumns, probabilities: np.ndarray) -> np.ndarray:
        frame = self.decoded(columns)
        effects = np.zeros((columns.rows, len(self.schema.features)))
        for j, spec in enumerate(self.schema.features):
            variant = frame.copy()
            variant[spec.name] = spec.default
            effects[:, j] = probabilities - self._predict(variant)
        return effects


def _compile_linear(pipeline: Any, schema: FeatureSchema) -> LinearScorer | None:
    """Fold the logistic-regression pipeline of lib.training.families into per-feature terms, or None."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    steps = getattr(pipeline, "named_steps", {})
    preprocess, model = steps.get("preprocess"), steps.get("model")
    if not (isinstance(preprocess, ColumnTransformer) and isinstance(model, LogisticRegression)):
        return None
    if model.coef_.shape[0] != 1:
        return None
    coefficients = model.coef_[0]
    numeric, categorical, position = {}, {}, 0
    for name, transformer, columns in preprocess.transformers_:
        if name == "remainder" or transformer == "drop":
            continue
        if not isinstance(transformer, Pipeline) or len(columns) == 0:
            return None
        imputer = transformer.named_steps.get("impute")
        if "scale" in transformer.named_steps:
            scaler = transformer.named_steps["scale"]
            if not isinstance(scaler, StandardScaler):
                return None
            mean = scaler.mean_ if scaler.with_mean else np.zeros(len(columns))
            scale = scaler.scale_ if scaler.with_std else np.ones(len(columns))
            for k, column in enumerate(columns):
                numeric[column] = (
                    float(coefficients[position]),
                    float(mean[k]),
                    float(scale[k]),
                    float(imputer.statistics_[k]),
                )
                position += 1
        elif "encode" in transformer.named_steps:
            encoder = transformer.named_steps["encode"]
            if not isinstance(encoder, OneHotEncoder) or encoder.drop_idx_ is not None:
                return None
            if any(c is not None for c in getattr(encoder, "infrequent_categories_", [None] * len(columns))):
                return None
            for k, column in enumerate(columns):
                weights = {}
                for category in encoder.categories_[k]:
                    weights[str(category)] = float(coefficients[position])
                    position += 1
                categorical[column] = (weights, weights.get(str(imputer.statistics_[k]), 0.0))
        else:
            return None
    if position != len(coefficients) or set(numeric) | set(categorical) != set(schema.names):
        return None
    return LinearScorer(schema, float(model.intercept_[0]), numeric, categorical)


def probe_rows(schema: FeatureSchema) -> list[dict[str, Any]]:
    """The default record, then every feature moved through its range, categories and gaps."""
    base = {spec.name: spec.default for spec in schema.features}
    rows = [base]
    for spec in schema.features:
        if spec.is_numeric:
            low, high = spec.training_range
            options: list[Any] = [low, high, (low + high) / 2, None]
        else:
            options = [*spec.categories, "never-seen-in-training", None]
        rows.extend({**base, spec.name: value} for value in options)
    return rows


STORED_KINDS: dict[str, Any] = {LinearScorer.kind: LinearScorer, TreeScorer.kind: TreeScorer}


def stored_form(scorer: Scorer) -> dict[str, Any] | None:
    """What the bundle's scorer.json holds for a compiled scorer (None for the pipeline)."""
    return scorer.to_json() if isinstance(scorer, LinearScorer | TreeScorer) else None


def scorer_from_json(schema: FeatureSchema, raw: Any) -> Scorer:
    """A compiled scorer from scorer.json; raises ValueError (or KeyError / TypeError) when
    it is not one, or does not fit the schema."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind not in STORED_KINDS:
        raise ValueError(f"unknown scorer kind {str(kind)[:40]!r}")
    return STORED_KINDS[kind].from_json(schema, raw)


def compile_scorer(pipeline: Any, schema: FeatureSchema) -> Scorer:
    """The fastest exact scorer for this pipeline: compiled when it can be, else sklearn
    (its `fallback_reason` says why, for the Health page)."""
    fallback = PipelineScorer(pipeline, schema)
    compiled: Scorer | None = None
    for compiler in (_compile_linear, compile_trees):  # looked up now: tests replace one
        compiled = compiler(pipeline, schema)
        if compiled is not None:
            break
    if compiled is None:
        fallback.fallback_reason = "no compiled form for this model family"
        return fallback
    worst = _worst_difference(compiled, fallback, schema)
    if not worst <= EXACTNESS:
        logger.warning("compiled scorer differs from the pipeline by %.3g: using the pipeline", worst)
        fallback.fallback_reason = f"the compiled scorer differed from the pipeline by {worst:.2g}"
        return fallback
    return compiled


def _worst_difference(compiled: Scorer, fallback: PipelineScorer, schema: FeatureSchema) -> float:
    """Largest difference from the pipeline on the probe rows, scored one by one (the tests
    check the table path against the pipeline on whole datasets)."""
    rows = probe_rows(schema)
    expected = fallback._predict(fallback._frame(rows))
    one_by_one = np.array([compiled.probability(row) for row in rows])
    return float(np.max(np.abs(one_by_one - expected)))
