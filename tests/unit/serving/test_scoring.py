"""The scoring service: every prediction and every refusal is logged once, whatever the face."""

import pytest

import lib.serving.scoring
from lib.model.inference import InvalidInput
from lib.monitoring.log import PredictionLog
from lib.serving.scoring import score_and_log, score_and_log_records


@pytest.fixture
def log(tmp_path, monkeypatch):
    log = PredictionLog(tmp_path / "monitoring.sqlite3", raw_max_age_s=86_400, raw_max_rows=100_000)
    monkeypatch.setattr(lib.serving.scoring, "prediction_log", lambda: log)
    yield log
    log.stop()


def test_one_record_is_logged_and_an_invalid_one_is_logged_as_refused(log, telco_model):
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    assert score_and_log(customer, telco_model, "ui").model_version == telco_model.version
    with pytest.raises(InvalidInput):
        score_and_log({**customer, "tenure": "soon"}, telco_model, "ui")
    log.flush()
    system = log.system("5m")
    assert system["by_source"]["ui"]["requests"] == 2 and system["by_source"]["ui"]["errors"] == 1


def test_records_are_all_or_nothing_and_a_refusal_counts_once(log, telco_model):
    customer = {spec.name: spec.default for spec in telco_model.schema.features}
    assert len(score_and_log_records([customer] * 3, telco_model, "api")) == 3
    with pytest.raises(InvalidInput) as refused:
        score_and_log_records([customer, {**customer, "tenure": -5e20}, {}], telco_model, "api")
    assert [error.index for error in refused.value.errors] == [1, 2]
    log.flush()
    api = log.system("5m")["by_source"]["api"]
    assert api["requests"] == 4 and api["errors"] == 1  # three scored, one request refused whole
