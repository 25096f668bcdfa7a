"""The Retrain page under AppTest: access, a real retraining job followed to the end,
the comparison, promote and roll back, and a job already running."""

import time

import pytest

from lib.model.bundle import MODEL_FILE
from lib.monitoring.ids import first_id_at
from lib.registry import LocalRegistry
from lib.retraining.jobs import job_state, start_retrain

TOKEN = "page-token"
# Prediction ids carry the moment they were made, and the store prunes what is older than
# 90 days: rows written by a test take ids of now, or a prune in between drops them.
NOW_ID = first_id_at(time.time())


@pytest.fixture
def retrain_page(open_page, registry_copy, env):
    env.set("ADMIN_TOKEN", TOKEN)
    env.set("MODEL_URI", str(registry_copy))  # before any job starts, not only when the page opens

    def start(token: str | None = TOKEN):
        at = open_page(registry_copy, "retrain")
        if token is not None:
            at.text_input(key="admin_token").input(token).run()
        return at

    return start


def wait_until_done(job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = job_state(job_id)
        if state["status"] in ("succeeded", "failed"):
            return state
        time.sleep(0.3)
    raise AssertionError("the job did not finish")


def table(at, column: str):
    """The first table shown with `column` (non-interactive tables carry no key in AppTest)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def test_without_the_token_nothing_can_be_changed(retrain_page):
    at = retrain_page(token=None)
    assert not at.exception
    assert "type the admin token" in at.warning[0].value
    assert not [b for b in at.button if b.key in ("start_retrain", "promote", "rollback")]
    assert table(at, "dataset sha256")["status"].tolist() == ["serving"]  # reading stays open
    at.text_input(key="admin_token").input("wrong").run()
    assert "the admin token is wrong" in at.warning[0].value


def test_a_retrain_runs_to_the_end_and_is_compared_and_promoted(retrain_page, registry_copy, telco_model):
    at = retrain_page()
    assert not at.warning
    at.button(key="start_retrain").click().run()
    job_id = at.session_state["job_id"]
    assert any("A retraining job is running" in i.value for i in at.info)
    state = wait_until_done(job_id)
    assert state["status"] == "succeeded", state
    at.run()
    assert not at.exception
    new = state["result"]["version"]
    assert any(new in s.value and "promoted automatically" in s.value for s in at.success)
    comparison = table(at, "new model").set_index("metric")
    assert comparison.loc["roc_auc", "new model"] == pytest.approx(telco_model.kpis.metrics["roc_auc"], abs=1e-4)
    assert len(at.get("plotly_chart")) == 1  # ROC curves overlaid
    versions = table(at, "dataset sha256").set_index("version")["status"].to_dict()
    assert versions == {new: "serving", telco_model.version: "archived"}
    assert table(at, "action")["action"].tolist() == ["auto_promote", "promote"]  # then the training CLI's


def test_promote_and_roll_back_from_the_page(retrain_page, registry_copy, telco_model):
    other = f"{telco_model.version}-b"
    from tests.helpers import clone_version

    clone_version(registry_copy, telco_model.version, other)
    at = retrain_page()
    at.selectbox(key="promote_version").set_value(other)
    at.text_input(key="promote_reason").input("try the copy").run()
    at.button(key="promote").click().run()
    assert not at.exception
    assert LocalRegistry(registry_copy).served() == other
    assert any(f"Now serving {other}" in s.value for s in at.success)
    at.button(key="rollback").click().run()
    assert LocalRegistry(registry_copy).served() == telco_model.version
    audit = table(at, "action")
    assert audit["action"].tolist()[:2] == ["rollback", "promote"] and audit["reason"].tolist()[1] == "try the copy"
    assert audit["actor"].tolist()[:2] == ["analyst (ui)", "analyst (ui)"]


def test_a_running_job_is_shown_instead_of_a_second_start(retrain_page):
    state, started = start_retrain("someone else", None, "bundled dataset")
    assert started
    at = retrain_page()
    assert any("A retraining job is running" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "start_retrain"]
    assert state["id"] in at.markdown[0].value or any(state["id"] in m.value for m in at.markdown)
    wait_until_done(state["id"])


def test_a_broken_served_model_leaves_the_page_usable(retrain_page, registry_copy, telco_model):
    (registry_copy / telco_model.version / MODEL_FILE).write_bytes(b"")
    at = retrain_page()
    assert not at.exception
    assert any("cannot be loaded" in w.value and "checksum" in w.value for w in at.warning)
    assert [b for b in at.button if b.key == "start_retrain"]


def test_a_running_job_can_be_cancelled_from_the_page(retrain_page, registry_copy, telco_model):
    state, _ = start_retrain("someone else", None, "bundled dataset")
    at = retrain_page()
    at.button(key="cancel_job").click().run()
    assert not at.exception
    assert job_state(state["id"])["status"] == "cancelled"
    assert any("cancelled by analyst (ui)" in w.value for w in at.warning)
    assert LocalRegistry(registry_copy).served() == telco_model.version
    assert [b for b in at.button if b.key == "start_retrain"]  # a new job can start


def test_wrong_tokens_typed_on_the_page_are_throttled_like_the_api(retrain_page):
    from lib.server.access import MAX_AUTH_FAILURES, auth_throttle

    at = retrain_page(token=None)
    at.text_input(key="admin_token").input("wrong-0").run()
    at.run()  # the same wrong token shown again by a rerun: counted once
    assert auth_throttle.status()["failures"] == 1
    for attempt in range(1, MAX_AUTH_FAILURES):
        at.text_input(key="admin_token").input(f"wrong-{attempt}").run()
    at.text_input(key="admin_token").input(TOKEN).run()  # even the right one, for now
    assert "too many wrong admin tokens" in at.warning[0].value
    assert not [b for b in at.button if b.key in ("start_retrain", "promote", "rollback")]


def test_a_version_is_put_in_shadow_and_compared_on_live_outcomes(retrain_page, registry_copy):
    import numpy as np

    from lib.model_loader import get_model
    from lib.monitoring.ids import id_text
    from lib.monitoring.log import prediction_log
    from lib.monitoring.rollups import LoggedRow
    from lib.serving.shadow import shadow, shadow_setting
    from tests.helpers import clone_version

    served = LocalRegistry(registry_copy).served()
    clone_version(registry_copy, served, "shadow-1")
    at = retrain_page()
    assert "No version is in shadow" in " ".join(c.value for c in at.caption)
    at.selectbox(key="shadow_version").set_value("shadow-1")
    at.button(key="shadow_start").click().run()
    store = prediction_log().store
    assert shadow_setting(store).version == "shadow-1" and shadow.version == "shadow-1"
    model = get_model()
    p = np.random.default_rng(8).uniform(0, 1, 200)
    y = (p > 0.4).astype(int)
    store.write([LoggedRow(time.time(), "api", model.version, 1.0, "ok", None, float(p[i]), "x", "{}", NOW_ID + i)
                 for i in range(200)], {})  # fmt: skip
    store.write_shadow([(NOW_ID + i, "shadow-1", float(1 - p[i])) for i in range(200)])  # ranking backwards
    labels = {1: model.schema.positive_label, 0: model.schema.negative_label}
    prediction_log().record_outcomes(model, [{"prediction_id": id_text(NOW_ID + i), "outcome": labels[int(y[i])]}
                                             for i in range(200)])  # fmt: skip
    deadline, compared = time.monotonic() + 30, None  # the page's comparison, once it is there
    while compared is None and time.monotonic() < deadline:
        at.run()
        compared = next((frame.value for frame in at.dataframe if "metric" in frame.value.columns), None)
    assert compared is not None, [e.value for e in (*at.info, *at.warning, *at.error, *at.caption)]
    compared = compared.set_index("metric")
    assert compared.loc["roc_auc", model.version] == 1.0 and compared.loc["roc_auc", "shadow-1"] == 0.0
    at.button(key="shadow_stop").click().run()
    assert shadow_setting(store) is None and shadow.version is None


def test_the_bundled_data_with_recorded_outcomes_is_offered_with_what_it_holds(retrain_page):
    import json

    from lib.model_loader import get_model
    from lib.monitoring.ids import id_text
    from lib.monitoring.log import prediction_log
    from lib.monitoring.rollups import LoggedRow

    at = retrain_page()
    at.radio(key="retrain_source").set_value("outcomes").run()
    assert "no recorded outcome has its prediction's features logged yet" in at.error[0].value
    assert at.button(key="start_retrain").disabled
    model = get_model()
    features = json.dumps({spec.name: spec.default for spec in model.schema.features})
    prediction_log().store.write(
        [LoggedRow(time.time(), "api", model.version, 1.0, "ok", None, 0.4, "No", features, NOW_ID + i, f"K{i}")
         for i in range(600)], {},
    )  # fmt: skip
    labels = [model.schema.positive_label, model.schema.negative_label]
    prediction_log().record_outcomes(model, [{"prediction_id": id_text(NOW_ID + i), "outcome": labels[i % 2]}
                                             for i in range(600)])  # fmt: skip
    at.run()
    assert not at.error
    summary = " ".join(c.value for c in at.caption)
    assert "600 recorded outcomes with their features" in summary and "480 added to the bundled data" in summary
    assert "the newest 120 held out" in summary and not at.button(key="start_retrain").disabled
