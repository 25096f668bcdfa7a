"""Compiled scoring gives the sklearn pipeline's probabilities (within 1e-9) for every family."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lib.model.compiled
from lib.model.compiled import LinearScorer, PipelineScorer, compile_scorer, probe_rows
from lib.model.inference import score_batch, score_record
from lib.model.trees import TreeScorer
from lib.model_loader import LoadedModel
from lib.training.config import load_config
from lib.training.data import load_dataset, split_rows
from lib.training.families import CANDIDATES
from tests.helpers import TELCO_CONFIG

EXACT = 1e-9


@pytest.fixture(scope="module")
def telco_parts():
    config = load_config(TELCO_CONFIG)
    dataset = load_dataset(config)
    split = split_rows(dataset.target, config)
    return dataset, split


@pytest.fixture(scope="module", params=list(CANDIDATES))
def family_model(request, telco_parts, telco_model):
    """A bundle-like model of each family the training pipeline can select."""
    dataset, split = telco_parts
    pipeline = CANDIDATES[request.param](dataset.numeric, dataset.categorical, 42)
    pipeline.fit(dataset.features.iloc[split.train], dataset.target[split.train])
    metadata = replace(telco_model.metadata, version=f"test-{request.param}", threshold=0.3)
    return LoadedModel(telco_model.schema, metadata, telco_model.kpis, "test", Path(), pipeline=pipeline)


def frame_of(records, schema):
    frame = pd.DataFrame(records, columns=schema.names)
    for spec in schema.features:
        if spec.is_numeric:
            frame[spec.name] = frame[spec.name].astype(float)
        else:
            frame[spec.name] = frame[spec.name].astype(object).where(frame[spec.name].notna(), np.nan)
    return frame


def test_every_family_the_pipeline_trains_gets_a_compiled_scorer(family_model):
    expected = LinearScorer if family_model.metadata.version.endswith("logistic_regression") else TreeScorer
    assert isinstance(family_model.scorer, expected)


def test_whole_test_split_matches_the_pipeline(family_model, telco_parts):
    dataset, split = telco_parts
    test = dataset.features.iloc[split.test].reset_index(drop=True)
    expected = family_model.pipeline.predict_proba(test)[:, 1]
    batch = score_batch(test, family_model)
    np.testing.assert_allclose(batch.table["probability"].to_numpy(), expected, rtol=0, atol=EXACT)
    records = test.astype(object).where(test.notna(), None).to_dict("records")
    singles = [score_record(record, family_model, explain=False).probability for record in records[:300]]
    np.testing.assert_allclose(singles, expected[:300], rtol=0, atol=EXACT)


def test_probe_rows_cover_every_category_range_and_gap(telco_model):
    rows = probe_rows(telco_model.schema)
    contract = {row["Contract"] for row in rows}
    assert {"Month-to-month", "One year", "Two year", None, "never-seen-in-training"} <= contract
    assert {row["tenure"] for row in rows} >= {0.0, 72.0, None}


def test_reasons_equal_occlusion_through_the_pipeline(family_model, telco_parts):
    dataset, split = telco_parts
    test = dataset.features.iloc[split.test].head(40).reset_index(drop=True)
    batch = score_batch(test, family_model, explain=True)
    schema = family_model.schema
    for position in (0, 7, 39):
        record = test.iloc[position].astype(object).where(test.iloc[position].notna(), None).to_dict()
        single = score_record(record, family_model)
        from_batch = batch.reasons[position]
        assert [r["feature"] for r in single.reasons] == [r["feature"] for r in from_batch]
        assert [r["value"] for r in single.reasons] == [r["value"] for r in from_batch]
        for one, many in zip(single.reasons, from_batch, strict=True):
            assert one["contribution"] == pytest.approx(many["contribution"], abs=EXACT)
        for reason in single.reasons:
            variant = {**record, reason["feature"]: reason["reference"]}
            moved = single.probability - family_model.pipeline.predict_proba(frame_of([variant], schema))[0, 1]
            assert reason["contribution"] == pytest.approx(moved, abs=EXACT)


def test_a_compiled_scorer_that_disagrees_is_replaced_by_the_pipeline(telco_model, monkeypatch):
    original = lib.model.compiled._compile_linear

    def off_by_a_little(pipeline, schema):
        scorer = original(pipeline, schema)
        scorer.intercept += 1e-6
        return scorer

    monkeypatch.setattr(lib.model.compiled, "_compile_linear", off_by_a_little)
    assert isinstance(compile_scorer(telco_model.pipeline, telco_model.schema), PipelineScorer)


def test_an_unknown_pipeline_shape_uses_the_pipeline(telco_parts, telco_model):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    dataset, split = telco_parts
    pipeline = Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        (
                            "categorical",
                            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                            dataset.categorical,
                        ),
                        ("numeric", "passthrough", dataset.numeric),
                    ]
                ),
            ),
            ("model", RandomForestClassifier(n_estimators=5, random_state=0)),
        ]
    ).fit(dataset.features.iloc[split.train].fillna(0), dataset.target[split.train])
    assert isinstance(compile_scorer(pipeline, telco_model.schema), PipelineScorer)


def value_for(spec):
    if spec.is_numeric:
        low = spec.hard_min if spec.hard_min is not None else -1e6
        high = spec.hard_max if spec.hard_max is not None else 1e6
        return st.one_of(st.floats(low, high, allow_nan=False), st.integers(int(low), int(high)), st.none())
    return st.one_of(st.sampled_from(spec.categories), st.text(max_size=8), st.none())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_records_match_the_pipeline(family_model, data):
    schema = family_model.schema
    record = {spec.name: data.draw(value_for(spec), label=spec.name) for spec in schema.features}
    nullable = {spec.name for spec in schema.features if spec.nullable}
    if any(value is None and name not in nullable for name, value in record.items()):
        with pytest.raises(Exception, match="a value is required"):
            score_record(record, family_model)
        return
    prediction = score_record(record, family_model, explain=False)
    expected = family_model.pipeline.predict_proba(frame_of([record], schema))[0, 1]
    assert abs(prediction.probability - expected) <= EXACT
    # A table is read like a CSV: cells are trimmed and a blank cell is missing, so only
    # records whose text survives that unchanged must score the same through a table.
    if all(not isinstance(v, str) or (v.strip() == v and v) for v in record.values()):
        batch = score_batch(frame_of([record], schema), family_model)
        assert abs(batch.table["probability"].iloc[0] - expected) <= EXACT
