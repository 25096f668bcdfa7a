"""What shadowing and retraining on outcomes read from the store (issue 18), on both
stores: a challenger's scores next to the served ones on the same labelled predictions,
and recorded outcomes as training rows, one per entity (the newest), the newest held out."""

import json

import numpy as np
import pandas as pd

from lib.monitoring.examples import labelled_examples
from lib.monitoring.ids import id_text
from lib.monitoring.outcomes import OutcomeChecker
from lib.monitoring.rollups import LoggedRow

T0 = 1_790_000_000.0


def record(store, schema, pairs: list[tuple[int, str]]) -> None:
    checked = OutcomeChecker(schema, received_at=T0 + 10_000).check(
        [{"prediction_id": id_text(pid), "outcome": outcome} for pid, outcome in pairs]
    )
    store.record_outcomes(checked.rows, checked.refused, T0 + 10_000)


def test_a_challengers_scores_are_paired_with_the_served_ones(store, telco_model):
    store.write(
        [LoggedRow(T0 + i, "api", "v1", 1.0, "ok", None, 0.1 * (i % 10), "x", "{}", i + 1) for i in range(20)], {}
    )
    store.write_shadow([(i + 1, "v2", 0.5) for i in range(15)])
    store.write_shadow([(1, "v2", 0.9)])  # written twice (two replicas): the first kept
    record(store, telco_model.schema, [(i + 1, "Yes" if i % 2 else "No") for i in range(10)] + [(18, "Yes")])
    outcome, served, shadowed = store.shadow_pairs("v1", "v2", T0)
    assert len(outcome) == 10 and set(shadowed) == {0.5}  # 18 has an outcome but no shadow score
    assert sorted(served) == sorted(0.1 * (i % 10) for i in range(10))
    assert store.shadow_scored("v2") == 15 and store.shadow_scored("v9") == 0


def test_outcomes_become_training_rows_one_per_entity_the_newest_held_out(store, telco_model):
    schema = telco_model.schema
    base = {spec.name: spec.default for spec in schema.features}
    rows = []
    for i in range(600):
        values = {**base, "tenure": i % 70, "TotalCharges": None if i == 5 else 100.5}
        entity = f"C{i % 550:04d}"  # 50 entities predicted twice: their newest prediction counts
        rows.append(LoggedRow(T0 + i, "api", "v1", 1.0, "ok", None, 0.3, "No", json.dumps(values), i + 1, entity))
    store.write(rows, {})
    record(store, schema, [(i + 1, "Yes" if i % 3 == 0 else "No") for i in range(600)])
    examples = labelled_examples(store, schema)
    assert examples.duplicates == 50 and examples.rows == 550 and examples.no_holdout is None
    assert len(examples.holdout) == 110 and len(examples.train) == 440
    assert list(examples.train.columns) == ["customerID", *schema.names, "Churn"]
    newest = examples.holdout.iloc[-1]  # the last prediction made (i = 599, entity C0049)
    assert (newest["customerID"], newest["tenure"], newest["Churn"]) == ("C0049", str(599 % 70), "No")
    everyone = pd.concat([examples.train, examples.holdout]).set_index("customerID")
    assert everyone.loc["C0005", "TotalCharges"] == "100.5"  # its newer prediction, not the one without a value
    oldest = examples.train.iloc[0]
    assert oldest["customerID"] == "C0050" and np.isclose(float(oldest["TotalCharges"]), 100.5)


def test_too_few_outcomes_hold_nothing_out_and_say_why(store, telco_model):
    schema = telco_model.schema
    base = json.dumps({spec.name: spec.default for spec in schema.features})
    store.write([LoggedRow(T0 + i, "api", "v1", 1.0, "ok", None, 0.3, "No", base, i + 1) for i in range(50)], {})
    record(store, schema, [(i + 1, "No") for i in range(50)])
    examples = labelled_examples(store, schema)
    assert examples.holdout is None and len(examples.train) == 50
    assert "would hold 10, fewer than 100" in examples.no_holdout
