"""Every endpoint and status code, in-process through Starlette's TestClient."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lib.model.bundle import MODEL_FILE
from lib.model.inference import score_record
from lib.monitoring.log import prediction_log
from tests.helpers import strict

JSON = {"content-type": "application/json"}


def post(client, body, **kwargs):
    return client.post("/predict", content=json.dumps(body), headers={"content-type": "application/json"}, **kwargs)


# --- health ----------------------------------------------------------------------------


def test_health_reports_the_served_model(api, registry_copy, telco_model):
    body = strict(api(registry_copy).get("/health"))
    assert body["status"] == "ok" and body["model_loaded"] and body["kpis_loaded"]
    assert body["model_version"] == telco_model.version
    assert body["checks"]["model"]["scorer"] == "compiled_linear"
    assert body["uptime_s"] >= 0


def test_without_a_model_health_and_predict_say_why(api, registry_copy, telco_model, customer):
    (registry_copy / telco_model.version / MODEL_FILE).write_bytes(b"")
    client = api(registry_copy)
    response = client.get("/health")
    assert response.status_code == 503
    body = strict(response)
    assert body["status"] == "unavailable" and not body["model_loaded"]
    assert "checksum" in body["reason"]
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 503
    refused = post(client, {"record": customer})
    assert refused.status_code == 503 and "no model loaded" in strict(refused)["error"]


def test_readiness_runs_a_smoke_prediction(api, registry_copy):
    body = strict(api(registry_copy).get("/health/ready"))
    assert body["status"] == "ready" and 0 < body["smoke_probability"] < 1


# --- predict ---------------------------------------------------------------------------


def test_one_record_gets_what_the_scoring_function_gives(api, registry_copy, telco_model, customer):
    record = {**customer, "tenure": 2, "Contract": "Month-to-month"}
    body = strict(post(api(registry_copy), {"record": record}))
    expected = score_record(record, telco_model)
    assert body["prediction"]["probability"] == pytest.approx(expected.probability, abs=1e-12)
    assert body["prediction"]["label"] == expected.label
    assert [r["feature"] for r in body["prediction"]["reasons"]] == [r["feature"] for r in expected.reasons]
    assert body["model_version"] == telco_model.version


def test_explain_false_skips_the_reasons(api, registry_copy, customer):
    client = api(registry_copy)
    body = strict(post(client, {"record": {**customer, "tenure": 2}}, params={"explain": "false"}))
    assert body["prediction"]["reasons"] == []
    bad = post(client, {"record": customer}, params={"explain": "maybe"})
    assert bad.status_code == 422 and strict(bad)["details"][0]["field"] == "explain"


def test_many_records_are_scored_in_order(api, registry_copy, telco_model, customer):
    records = [{**customer, "tenure": tenure} for tenure in (1, 30, 70)]
    body = strict(post(api(registry_copy), {"records": records}))
    assert body["count"] == 3
    expected = [score_record(r, telco_model).probability for r in records]
    assert [p["probability"] for p in body["predictions"]] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("tenure", "12", "wrong_type"),
        ("tenure", True, "wrong_type"),
        ("tenure", None, "missing"),
        ("tenure", {"months": 3}, "wrong_type"),
        ("tenure", -1, "out_of_bounds"),
        ("tenure", 10**30, "out_of_bounds"),
        ("Contract", 3, "wrong_type"),
    ],
)
def test_bad_fields_are_named_with_their_record_index(api, registry_copy, customer, field, value, code):
    client = api(registry_copy)
    records = [customer, {**customer, field: value}]
    response = post(client, {"records": records})
    assert response.status_code == 422
    details = strict(response)["details"]
    assert {"index": 1, "field": field, "code": code} == {k: details[0][k] for k in ("index", "field", "code")}
    single = post(client, {"record": {**customer, field: value}})
    assert single.status_code == 422 and strict(single)["details"][0]["field"] == field


def test_missing_field_and_wrong_shapes_are_422(api, registry_copy, customer):
    client = api(registry_copy)
    partial = dict(customer)
    del partial["Contract"]
    assert strict(post(client, {"record": partial}))["details"][0]["code"] == "missing"
    for body in (
        [customer],
        {"record": customer, "records": [customer]},
        {"rec": customer},
        {"records": []},
        {"records": "x"},
        {"record": [1, 2]},
        {"record": customer, "extra": 1},
    ):
        assert post(client, body).status_code == 422, body


def test_unseen_category_is_scored_with_a_warning(api, registry_copy, customer):
    body = strict(post(api(registry_copy), {"record": {**customer, "PaymentMethod": "Crypto"}}))
    assert [w["code"] for w in body["prediction"]["warnings"]] == ["unseen_category"]


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"record": NaN}',
        b'{"record": {"tenure": Infinity}}',
        b'{"record": {"tenure": -Infinity}}',
        b'{"record": {"tenure": 1e999}}',
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff\xfe",
        b"",
    ],
)
def test_malformed_json_is_400(api, registry_copy, raw):
    response = api(registry_copy).post("/predict", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert strict(response)["error"].startswith("malformed JSON")


def test_body_over_the_limit_is_413(api, registry_copy, customer):
    client = api(registry_copy, MAX_BODY_MB="1")
    big = {"records": [customer] * 3000}
    response = post(client, big)
    assert response.status_code == 413 and "MAX_BODY_MB" in strict(response)["error"]


def test_too_many_records_is_422(api, registry_copy, customer):
    response = post(api(registry_copy, MAX_BATCH="2"), {"records": [customer] * 3})
    assert response.status_code == 422 and "MAX_BATCH" in strict(response)["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(api, registry_copy, content_type, customer):
    headers = {"content-type": content_type} if content_type else {}
    response = api(registry_copy).post("/predict", content=json.dumps({"record": customer}), headers=headers)
    assert response.status_code == 415


# --- train and access ------------------------------------------------------------------


def test_train_needs_the_admin_token(api, registry_copy):
    client = api(registry_copy, ADMIN_TOKEN="s3cret-token")
    missing = client.post("/train", headers=JSON)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.post("/train", headers={"authorization": "Bearer nope", **JSON}).status_code == 403
    assert client.post("/train", headers={"authorization": "Basic s3cret-token", **JSON}).status_code == 401
    wrong_body = client.post(
        "/train", content=b'{"data": "elsewhere"}', headers={"authorization": "Bearer s3cret-token", **JSON}
    )
    assert wrong_body.status_code == 422  # the token let it through to the body check


def test_without_a_token_train_is_refused_to_remote_clients(api, registry_copy):
    response = api(registry_copy).post("/train", headers=JSON)  # TestClient's client is not on loopback
    assert response.status_code == 403 and "ADMIN_TOKEN" in strict(response)["error"]


# --- HTTP semantics --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/predict", "POST"),
        ("PUT", "/predict", "POST"),
        ("POST", "/health", "GET, HEAD"),
        ("DELETE", "/metrics", "GET, HEAD"),
        ("GET", "/train", "POST"),
        ("OPTIONS", "/openapi.json", "GET, HEAD"),
    ],
)
def test_wrong_method_is_405_json_with_allow(api, registry_copy, method, path, allow):
    response = api(registry_copy).request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert strict(response)["error"].startswith(f"{method} is not allowed")


@pytest.mark.parametrize("path", ["/metrics/nope", "/metrics/model/extra", "/health/deep", "/predict/batch"])
def test_unknown_api_paths_are_404_json(api, registry_copy, path):
    response = api(registry_copy).get(path)
    assert response.status_code == 404 and "no such endpoint" in strict(response)["error"]


# --- metrics ---------------------------------------------------------------------------


def test_metrics_summary_and_model(api, registry_copy, telco_model):
    client = api(registry_copy)
    summary = strict(client.get("/metrics"))
    assert set(summary) == {"model", "system", "kpis"}
    model = strict(client.get("/metrics/model"))
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "pr_auc", "brier", "confusion_matrix"):
        assert model[key] == telco_model.kpis.metrics[key]
    assert model["version"] == telco_model.version and model["threshold"] == telco_model.threshold


def test_system_metrics_count_every_predict_request(api, registry_copy, customer, telco_model):
    client = api(registry_copy)
    for _ in range(3):
        post(client, {"record": customer})
    post(client, {"record": {}})
    client.get("/predict")
    client.get("/metrics/nope")  # not a prediction: not logged
    prediction_log().flush()
    body = strict(client.get("/metrics/system", params={"window": "5m"}))
    assert (body["requests"], body["errors"]) == (5, 2)
    assert body["by_source"]["api"]["requests"] == 5
    assert body["by_version"][telco_model.version]["errors"] == 2
    assert 0 < body["latency_ms"]["p50"] <= body["latency_ms"]["p99"]
    assert sum(point["requests"] for point in body["series"]) == 5
    assert [e["error_kind"] for e in prediction_log().recent_errors()] == ["method_not_allowed", "invalid_input"]
    assert strict(client.get("/metrics/kpis"))["predictions_made"] == {"ui": 0, "batch": 0, "api": 3}
    assert client.get("/metrics/system", params={"window": "2w"}).status_code == 422


def test_kpis_expose_the_business_figures(api, registry_copy, telco_model):
    body = strict(api(registry_copy).get("/metrics/kpis"))
    assert body["business_available"]
    assert body["business"]["expected_profit"] == pytest.approx(telco_model.kpis.business["expected_profit"])
    assert {"base_rate", "value_at_stake", "value_at_stake_actual"} <= set(body["business"])


def test_kpi_names_are_neutral_even_for_a_bundle_written_with_churn_words(api, registry_copy):
    version = json.loads((registry_copy / "current.json").read_text())["version"]
    path = registry_copy / version / "kpis.json"
    kpis = json.loads(path.read_text())
    old = {
        "base_rate": "base_churn_rate",
        "value_at_stake": "revenue_at_risk",
        "value_at_stake_actual": "revenue_lost_actual",
    }
    kpis["business"] = {old.get(key, key): value for key, value in kpis["business"].items()}
    path.write_text(json.dumps(kpis))  # as bundles written before the neutral names were
    body = strict(api(registry_copy).get("/metrics/kpis"))
    assert body["business"]["base_rate"] == kpis["business"]["base_churn_rate"]
    assert body["business"]["value_at_stake"] == kpis["business"]["revenue_at_risk"]
    assert not {"base_churn_rate", "revenue_at_risk", "revenue_lost_actual"} & set(body["business"])
    assert body["base_rate"] == pytest.approx(1869 / 7043)


def test_feature_distribution_is_paginated(api, registry_copy, telco_model, customer):
    client = api(registry_copy)
    first = strict(client.get("/metrics/feature-distribution", params={"page_size": 5}))
    assert [f["feature"] for f in first["features"]] == telco_model.schema.names[:5]
    assert (first["total"], first["pages"]) == (19, 4)
    last = strict(client.get("/metrics/feature-distribution", params={"page_size": 5, "page": 4}))
    assert len(last["features"]) == 4
    post(client, {"record": {**customer, "Contract": "Two year"}})
    prediction_log().flush()
    one = strict(client.get("/metrics/feature-distribution", params={"feature": "Contract"}))
    contract = one["features"][0]
    assert contract["recent_counts"][contract["bins"].index("Two year")] == 1 and contract["recent_rows"] == 1
    assert contract["status"] == "too_few" and one["probability"]["recent_rows"] == 1
    assert client.get("/metrics/feature-distribution", params={"feature": "nope"}).status_code == 404
    for bad in ({"page": "0"}, {"page": "x"}, {"page_size": "1000"}):
        assert client.get("/metrics/feature-distribution", params=bad).status_code == 422


# --- OpenAPI ---------------------------------------------------------------------------


def test_openapi_record_schema_follows_the_served_model(api, registry_copy, telco_model):
    document = strict(api(registry_copy).get("/openapi.json"))
    assert document["openapi"] == "3.1.0"
    for path in (
        "/health",
        "/health/live",
        "/health/ready",
        "/predict",
        "/train",
        "/metrics",
        "/metrics/model",
        "/metrics/system",
        "/metrics/kpis",
        "/metrics/feature-distribution",
        "/outcomes",
    ):
        assert path in document["paths"]
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    record = body["oneOf"][0]["properties"]["record"]
    assert record["required"] == telco_model.schema.names
    assert (record["properties"]["tenure"]["minimum"], record["properties"]["tenure"]["maximum"]) == (0, 1200)
    assert record["properties"]["TotalCharges"]["type"] == ["number", "null"]
    assert record["properties"]["Contract"]["examples"] == ["Month-to-month", "One year", "Two year"]


def test_openapi_uses_enums_when_unknown_categories_are_refused(api, synthetic_registry):
    document = strict(api(synthetic_registry).get("/openapi.json"))
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["oneOf"][0]["properties"]["record"]["properties"]["plan"]["enum"] == ["basic", "plus", "premium"]


# --- generated bodies ------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_json_body_gets_a_json_answer_never_a_server_error(api, registry_copy, customer, data):
    client = api(registry_copy)
    field = data.draw(st.sampled_from(sorted(customer)))
    body = data.draw(
        st.one_of(
            json_values,
            st.builds(lambda v: {"record": {**customer, field: v}}, json_values),
            st.builds(lambda v: {"records": [customer, {**customer, field: v}]}, json_values),
        )
    )
    response = post(client, body)
    assert response.status_code in (200, 400, 422)
    parsed = strict(response)
    if response.status_code == 200:
        assert 0 <= (parsed.get("prediction") or parsed["predictions"][0])["probability"] <= 1
    else:
        assert parsed["error"] and isinstance(parsed["details"], list)


def test_openapi_describes_features_in_the_configs_words(api, opportunity_registry):
    document = strict(api(opportunity_registry).get("/openapi.json"))
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    properties = body["oneOf"][0]["properties"]["record"]["properties"]
    assert properties["age"]["title"] == "Age"
    assert properties["age"]["description"].startswith("Age (years). Age of the account holder. training range")
    assert "title" not in properties["region"]  # no words configured for it


@pytest.mark.parametrize("example", ["models", "models/campaign", "generated by the tests"])
def test_every_endpoint_answers_on_both_shipped_examples_and_a_generated_one(api, request, example):
    from lib.settings import PROJECT_ROOT

    generated = example == "generated by the tests"
    client = api(request.getfixturevalue("campaign_registry") if generated else PROJECT_ROOT / example)
    assert strict(client.get("/health"))["status"] == "ok"
    document = strict(client.get("/openapi.json"))
    record = {
        name: prop["x-default"]
        for name, prop in document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"][
            "oneOf"
        ][0]["properties"]["record"]["properties"].items()
    }
    prediction = strict(client.post("/predict", json={"record": record}))["prediction"]
    assert 0 < prediction["probability"] < 1
    for path in ("/metrics", "/metrics/model", "/metrics/system", "/metrics/kpis", "/metrics/feature-distribution"):
        assert client.get(path).status_code == 200, path
    kpis = strict(client.get("/metrics/kpis"))
    assert kpis["business_available"] and "value_at_stake" in kpis["business"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_prometheus_metrics_count_what_the_store_holds(
    backend, api, env, registry_copy, customer, telco_model, request
):
    """Parsed with prometheus_client's own parser: names, types and values a scraper reads."""
    from prometheus_client.parser import text_string_to_metric_families

    import lib.server.prometheus

    if backend == "postgresql":
        env.set("MONITORING_DB", request.getfixturevalue("postgres_url"))
    env.set("REPLICA_ID", "replica-a")
    client = api(registry_copy)
    for _ in range(3):
        post(client, {"record": customer})
    post(client, {"record": {**customer, "tenure": "many"}})
    prediction_log().flush()
    lib.server.prometheus._refresher.slow = lib.server.prometheus.compute_slow()  # what the thread computes
    response = client.get("/metrics/prometheus")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    predictions = families["prediction_dashboard_predictions"]
    assert predictions.type == "counter"
    scored = [s for s in predictions.samples if s.name.endswith("_total")]
    assert sum(s.value for s in scored) == 3 == prediction_log().store.system("5m")["requests"] - 1
    assert {s.labels["source"] for s in scored} == {"api"}
    assert {s.labels["model_version"] for s in scored} == {telco_model.version}
    refused = [s for s in families["prediction_dashboard_refused"].samples if s.name.endswith("_total")]
    assert [(s.labels["kind"], s.value) for s in refused] == [("invalid_input", 1.0)]
    latency = families["prediction_dashboard_prediction_latency_seconds"]
    count = next(s for s in latency.samples if s.name.endswith("_count"))
    infinite = next(s for s in latency.samples if s.labels.get("le") == "+Inf")
    assert latency.type == "histogram" and count.value == infinite.value == 4
    model = families["prediction_dashboard_model_info"].samples[0]
    assert model.labels["version"] == telco_model.version and model.value == 1
    assert families["prediction_dashboard_replica_info"].samples[0].labels["replica"] == "replica-a"
    assert families["prediction_dashboard_store_up"].samples[0].labels["backend"] == backend
    psi = {s.labels["feature"] for s in families["prediction_dashboard_feature_psi"].samples}
    assert psi == set(telco_model.schema.names)
    statuses = [s for s in families["prediction_dashboard_feature_drift_status"].samples if s.value == 1]
    assert len(statuses) == len(telco_model.schema.names)
    assert all(s.labels["status"] == "too_few" for s in statuses)  # 3 inputs: too few for a status
    jobs = {s.labels["state"]: s.value for s in families["prediction_dashboard_training_jobs"].samples}
    assert jobs["running"] == 0 and set(jobs) >= {"queued", "running", "succeeded", "failed"}
    assert families["prediction_dashboard_live_labelled_predictions"].samples[0].value == 0  # no outcome yet
    assert families["prediction_dashboard_live_coverage_ratio"].samples[0].value == 0
    assert families["prediction_dashboard_live_metric"].samples == []  # withheld: too few outcomes


def test_a_download_is_sent_as_an_attachment_by_its_token_only(api, registry_copy, tmp_path):
    """GET /downloads/<token>: the file a page made, saved under its name, never cached
    or sniffed; an unknown, malformed or dropped token is a JSON 404, another method a 405."""
    from lib.storage.downloads import downloads

    client = api(registry_copy)
    made = downloads.new("session-1", 'scored-"q1"\r\nX: y.csv', "text/csv; charset=utf-8")
    made.path.write_bytes(b"row,probability\r\n1,0.5\r\n")
    sent = client.get(f"/downloads/{made.token}")
    assert sent.status_code == 200 and sent.content == b"row,probability\r\n1,0.5\r\n"
    assert sent.headers["content-type"] == "text/csv; charset=utf-8"
    assert (
        sent.headers["content-disposition"].startswith("attachment;")
        and "\r" not in sent.headers["content-disposition"]
    )
    assert "X" not in sent.headers  # the name could not add a header
    assert (sent.headers["cache-control"], sent.headers["x-content-type-options"]) == ("no-store", "nosniff")
    assert client.post(f"/downloads/{made.token}").status_code == 405
    for token in ("x" * 43, made.token[:-1], made.token + "a", "%25"):
        refused = client.get(f"/downloads/{token}")
        assert refused.status_code == 404 and "expired" in strict(refused)["error"], token
    climbing = client.get("/downloads/..%2F..%2Fetc%2Fpasswd")
    assert climbing.status_code == 400 and "malformed path" in strict(climbing)["error"]
    downloads.keep_only(set())  # its session ended
    assert client.get(f"/downloads/{made.token}").status_code == 404
