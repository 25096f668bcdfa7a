"""The Overview page under AppTest: model card, one prediction, and life without a model."""

import pytest
from streamlit.testing.v1 import AppTest

from lib.bundle import MODEL_FILE
from lib.settings import PROJECT_ROOT

NAVIGATION = str(PROJECT_ROOT / "navigation.py")


@pytest.fixture
def serve(monkeypatch, tmp_path):
    def start(registry) -> AppTest:
        monkeypatch.setenv("MODEL_URI", str(registry))
        monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
        return AppTest.from_file(NAVIGATION, default_timeout=30).run()

    return start


def test_overview_shows_the_served_model(serve, registry_copy, telco_model):
    at = serve(registry_copy)
    assert not at.exception
    assert telco_model.version in at.caption[0].value
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test ROC AUC"] == f"{telco_model.kpis['metrics']['roc_auc']:.3f}"
    assert metrics["Threshold"] == f"{telco_model.threshold:.2f}"


def test_form_scores_one_customer(serve, registry_copy):
    at = serve(registry_copy)
    at.number_input(key="field_tenure").set_value(1)
    at.selectbox(key="field_Contract").set_value("Month-to-month")
    at.button[0].click().run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prediction"] in ("Yes", "No")
    assert metrics["Probability"].endswith("%")
    assert at.dataframe, "the top reasons table is shown"


def test_broken_model_gives_a_clear_message_not_a_crash(serve, registry_copy, telco_model):
    (registry_copy / telco_model.version / MODEL_FILE).write_bytes(b"truncated")
    at = serve(registry_copy)
    assert not at.exception
    assert "Model not loaded" in at.error[0].value
    assert "checksum" in at.error[0].value
