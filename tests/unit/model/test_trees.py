"""The compiled tree scorer: trained, stored and served on a dataset of its own (missing
numbers, closed categories), exact against scikit-learn, reasons as the pipeline's own
occlusion, every mask width, and a scorer.json that is not trees refused."""

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lib.model.compiled
from lib.model.bundle import METADATA_FILE, MODEL_FILE, POINTER_FILE, SCORER_FILE
from lib.model.compiled import PipelineScorer, compile_scorer, stored_form
from lib.model.frame_validation import validate_frame
from lib.model.inference import score_batch, score_record
from lib.model.trees import TreeFormatError, TreeScorer
from lib.model_loader import load_model
from lib.server.health import health_report
from lib.storage.files import file_sha256
from lib.training.config import load_config
from lib.training.data import load_dataset
from tests.helpers import score_in_a_fresh_process

EXACT = 1e-9


@pytest.fixture(scope="module")
def accounts(synthetic_config):
    """The synthetic dataset: ';' separator, blank balances, a closed set of plans."""
    return load_dataset(load_config(synthetic_config)).features


@pytest.fixture
def tree_model(tree_registry):
    return load_model(str(tree_registry))


def records_of(frame: pd.DataFrame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def served_folder(registry):
    return registry / json.loads((registry / POINTER_FILE).read_text())["version"]


def test_training_stores_the_tree_scorer_and_serving_needs_no_pickle(tree_registry, accounts, tmp_path):
    tree_registry = Path(shutil.copytree(tree_registry, tmp_path / "registry"))  # damaged below
    folder = served_folder(tree_registry)
    metadata = json.loads((folder / METADATA_FILE).read_text())
    assert metadata["scorer"] == "compiled_trees" and metadata["model"]["family"] == "hist_gradient_boosting"
    assert json.loads((folder / SCORER_FILE).read_text())["kind"] == "compiled_trees"
    kpis = json.loads((folder / "kpis.json").read_text())
    assert [(c["family"], c["scorer"]) for c in kpis["candidates"]] == [("hist_gradient_boosting", "compiled_trees")]
    expected = load_model(str(tree_registry)).pipeline.predict_proba(accounts)[:, 1]
    (folder / MODEL_FILE).write_bytes(b"not a pickle")  # the pipeline is never needed to score
    metadata["model_sha256"] = file_sha256(folder / MODEL_FILE)
    (folder / METADATA_FILE).write_text(json.dumps(metadata))
    model = load_model(str(tree_registry))
    assert isinstance(model.scorer, TreeScorer)
    batch = score_batch(accounts, model)
    np.testing.assert_allclose(batch.table["probability"], expected[batch.table.index], rtol=0, atol=EXACT)


def test_every_row_one_by_one_and_as_a_table_equals_scikit_learn(tree_model, accounts):
    expected = tree_model.pipeline.predict_proba(accounts)[:, 1]
    records = records_of(accounts)
    assert any(r["balance"] is None for r in records)  # missing numbers are covered
    singles = [score_record(record, tree_model, explain=False).probability for record in records[:400]]
    np.testing.assert_allclose(singles, expected[:400], rtol=0, atol=EXACT)
    batch = score_batch(accounts, tree_model)
    np.testing.assert_allclose(batch.table["probability"], expected, rtol=0, atol=EXACT)


def test_values_outside_the_training_range_score_as_scikit_learn_does(tree_model, accounts):
    extreme = accounts.head(50).copy()
    extreme["age"] = np.linspace(-500, 5000, 50)
    extreme["balance"] = np.linspace(-1e6, 1e6, 50)
    expected = tree_model.pipeline.predict_proba(extreme)[:, 1]
    encoded, errors, _ = validate_frame(extreme, tree_model.schema)
    assert not errors
    np.testing.assert_allclose(tree_model.scorer.probabilities(encoded), expected, rtol=0, atol=EXACT)


def test_reasons_are_the_pipelines_own_occlusion_one_by_one_and_in_a_batch(tree_model, accounts):
    """The slow reference: one pipeline call per feature, with that feature at its default."""
    sample = records_of(accounts.sample(25, random_state=1))
    reference = PipelineScorer(tree_model.pipeline, tree_model.schema)
    batch = score_batch(sample, tree_model, explain=True)
    for index, record in enumerate(sample):
        values = {name: record[name] for name in tree_model.schema.names}
        probability, effects = tree_model.scorer.explain(values)
        slow_probability, slow_effects = reference.explain(values)
        assert probability == pytest.approx(slow_probability, abs=EXACT)
        np.testing.assert_allclose(effects, slow_effects, rtol=0, atol=EXACT)
        single = score_record(record, tree_model).reasons
        assert [(r["feature"], r["contribution"]) for r in single] == [
            (r["feature"], r["contribution"]) for r in batch.reasons[index]
        ]


def test_unseen_categories_follow_the_dataset_policy_and_missing_categories_score(tree_model, accounts):
    record = records_of(accounts.head(1))[0]
    refused = score_batch([{**record, "plan": "platinum"}], tree_model)  # this config refuses unknown plans
    assert refused.errors and refused.errors[0].problems[0].code == "unknown_category"
    scorer = tree_model.scorer
    values = {name: record[name] for name in tree_model.schema.names}
    for category in (*tree_model.schema.features[1].categories, "never-seen"):
        moved = {**values, "plan": category}
        frame = pd.DataFrame([moved])[tree_model.schema.names]
        assert scorer.probability(moved) == pytest.approx(tree_model.pipeline.predict_proba(frame)[0, 1], abs=EXACT)


@pytest.mark.parametrize("leaves", [2, 31, 63])
def test_every_mask_width_and_unused_features(accounts, tree_model, leaves):
    """2 leaves: one split, most features never tested; 31 and 63: 32- and 64-bit masks."""
    from lib.training.families import gradient_boosting

    target = (accounts["age"].to_numpy() < 40) ^ (accounts["plan"].to_numpy() == "basic")
    pipeline = gradient_boosting(["age", "balance"], ["plan", "region"], 0)
    pipeline.set_params(model__max_leaf_nodes=leaves, model__max_iter=20, model__min_samples_leaf=5)
    pipeline.fit(accounts[tree_model.schema.names], target)
    scorer = compile_scorer(pipeline, tree_model.schema)
    assert isinstance(scorer, TreeScorer)
    encoded, _, _ = validate_frame(accounts, tree_model.schema)
    expected = pipeline.predict_proba(accounts[tree_model.schema.names])[:, 1]
    np.testing.assert_allclose(scorer.probabilities(encoded), expected, rtol=0, atol=EXACT)
    values = {name: records_of(accounts.head(1))[0][name] for name in tree_model.schema.names}
    _, effects = scorer.explain(values)
    never_tested = set(range(len(tree_model.schema.names))) - set(scorer.used)
    assert all(effects[j] == 0.0 for j in never_tested)


def test_a_tree_scorer_that_disagrees_falls_back_and_the_health_report_says_why(tree_model, monkeypatch):
    original = lib.model.compiled.compile_trees

    def off_by_a_little(pipeline, schema):
        scorer = original(pipeline, schema)
        return TreeScorer(schema, scorer.baseline + 1e-6, scorer.trees)

    monkeypatch.setattr(lib.model.compiled, "compile_trees", off_by_a_little)
    fallback = compile_scorer(tree_model.pipeline, tree_model.schema)
    assert isinstance(fallback, PipelineScorer) and "differed from the pipeline by" in fallback.fallback_reason
    tree_model.scorer = fallback
    assert health_report(tree_model, None)["checks"]["model"]["fallback_reason"] == fallback.fallback_reason


def break_a_split(raw, kind, change):
    """Apply `change` to the first split of `kind` (numeric: it has a threshold) found."""
    for tree in raw["trees"]:
        for node, feature in enumerate(tree["feature"]):
            numeric = tree["threshold"][node] is not None
            if feature != -1 and kind in ("any", "numeric" if numeric else "categorical"):
                change(tree, node)
                return raw
    raise AssertionError(f"no {kind} split to break")


@pytest.mark.parametrize(
    ("kind", "change"),
    [
        ("any", lambda t, n: t["left"].__setitem__(n, 0)),  # a cycle back to the root
        ("any", lambda t, n: t["right"].__setitem__(n, 10_000)),  # a child that does not exist
        ("any", lambda t, n: t["feature"].__setitem__(n, 99)),  # a feature the schema does not have
        ("any", lambda t, n: t["value"].pop()),  # lists of different lengths
        ("any", lambda t, n: t["missing_left"].__setitem__(n, "yes")),
        ("numeric", lambda t, n: t["threshold"].__setitem__(n, "high")),
        ("categorical", lambda t, n: t["left_categories"].__setitem__(n, ["platinum"])),
    ],
)
def test_a_scorer_json_that_is_not_trees_over_the_schema_is_refused(tree_model, kind, change):
    raw = break_a_split(copy.deepcopy(stored_form(tree_model.scorer)), kind, change)
    with pytest.raises(TreeFormatError):
        TreeScorer.from_json(tree_model.schema, raw)


def test_a_scorer_json_with_a_non_finite_leaf_or_baseline_is_refused(tree_model):
    raw = copy.deepcopy(stored_form(tree_model.scorer))
    leaf = raw["trees"][0]["feature"].index(-1)
    raw["trees"][0]["value"][leaf] = float("inf")
    with pytest.raises(TreeFormatError, match="finite"):
        TreeScorer.from_json(tree_model.schema, raw)
    with pytest.raises(TreeFormatError, match="baseline"):
        TreeScorer.from_json(tree_model.schema, {**stored_form(tree_model.scorer), "baseline": None})


def test_serving_a_tree_model_imports_no_scikit_learn(tree_registry):
    kind, probability, imported = score_in_a_fresh_process(tree_registry, ("sklearn",))
    assert (kind, imported) == ("compiled_trees", {"sklearn": False})
    assert 0 < probability < 1
