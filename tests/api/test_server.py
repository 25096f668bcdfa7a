"""The API over real HTTP: `uvicorn app:app` on loopback, every endpoint and status code,
schemathesis against its OpenAPI document, and one probability across every face."""

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from lib.model.inference import score_record
from lib.model_loader import load_model
from lib.settings import PROJECT_ROOT
from tests.helpers import COMMITTED_REGISTRY, wait_for
from tests.servers import Server, launch

pytestmark = pytest.mark.slow
TOKEN = "test-admin-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = launch(
        tmp_path_factory.mktemp("api"),
        MODEL_URI=str(COMMITTED_REGISTRY),
        ADMIN_TOKEN=TOKEN,
        MAX_BATCH="50",
        MAX_BODY_MB="1",
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def model():
    return load_model(str(COMMITTED_REGISTRY))


def call(
    server: Server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def record_of(model) -> dict:
    return {spec.name: spec.default for spec in model.schema.features}


JSON = {"content-type": "application/json"}


def refuse_constant(name: str) -> None:
    pytest.fail(f"{name} in a response: not valid JSON")


def cases(model) -> list[tuple[str, str, bytes | None, dict[str, str], int]]:
    record = record_of(model)
    good = json.dumps({"record": record}).encode()
    return [
        ("GET", "/health", None, {}, 200),
        ("GET", "/health/live", None, {}, 200),
        ("GET", "/health/ready", None, {}, 200),
        ("POST", "/predict", good, JSON, 200),
        ("POST", "/predict?explain=false", json.dumps({"records": [record, record]}).encode(), JSON, 200),
        ("POST", "/predict", json.dumps({"record": {**record, "tenure": "12"}}).encode(), JSON, 422),
        ("POST", "/predict", json.dumps({"records": [record] * 51}).encode(), JSON, 422),
        ("POST", "/predict", b'{"record": {"tenure": NaN}}', JSON, 400),
        ("POST", "/predict", b"{", JSON, 400),
        ("POST", "/predict", b"x" * 1_100_000, JSON, 413),
        ("POST", "/predict", good, {"content-type": "text/csv"}, 415),
        ("GET", "/predict", None, {}, 405),
        ("POST", "/train", None, {}, 401),
        ("POST", "/train", None, {"authorization": "Bearer wrong"}, 403),
        ("POST", "/train", b'{"data": "x"}', {"authorization": f"Bearer {TOKEN}", **JSON}, 422),
        ("GET", "/train/20260101T000000Z-abcdef", None, {"authorization": f"Bearer {TOKEN}"}, 404),
        ("GET", "/train/20260101T000000Z-abcdef", None, {}, 401),
        ("GET", "/models", None, {}, 200),
        ("GET", "/models/audit", None, {}, 200),
        ("POST", "/models/rollback", None, {}, 401),
        ("POST", "/models/nope/promote", None, {"authorization": f"Bearer {TOKEN}", **JSON}, 404),
        ("GET", "/metrics", None, {}, 200),
        ("GET", "/metrics/model", None, {}, 200),
        ("GET", "/metrics/system?window=24h", None, {}, 200),
        ("GET", "/metrics/system?window=1y", None, {}, 422),
        ("GET", "/metrics/kpis", None, {}, 200),
        ("GET", "/metrics/feature-distribution?feature=tenure", None, {}, 200),
        ("GET", "/metrics/feature-distribution?feature=nope", None, {}, 404),
        ("GET", "/metrics/unknown", None, {}, 404),
        ("DELETE", "/metrics", None, {}, 405),
        ("GET", "/openapi.json", None, {}, 200),
    ]


def test_every_endpoint_and_status_code_over_http(server, model):
    for method, path, body, headers, expected in cases(model):
        status, response_headers, data = call(server, method, path, body, headers)
        assert status == expected, (method, path, status, data[:300])
        assert response_headers["content-type"].startswith("application/json"), (method, path)
        parsed = json.loads(data, parse_constant=refuse_constant)
        if status >= 400:
            assert set(parsed) == {"error", "details"}, (method, path)
            assert "Traceback" not in data.decode()
        if status == 405:
            assert response_headers["allow"]


def get_json(server: Server, path: str) -> dict:
    return json.loads(call(server, "GET", path)[2])


def api_requests(server: Server) -> int:
    return get_json(server, "/metrics/system?window=5m").get("by_source", {}).get("api", {}).get("requests", 0)


def settled(server: Server) -> bool:
    """Nothing waiting to be written: earlier tests' predictions are all counted."""
    return get_json(server, "/health")["checks"]["store"]["pending_rows"] == 0


def test_predictions_are_logged_and_counted_by_the_system_metrics(server, model):
    wait_for(lambda: settled(server))
    before = api_requests(server)
    body = json.dumps({"record": record_of(model)}).encode()
    for _ in range(4):
        assert call(server, "POST", "/predict", body, JSON)[0] == 200
    assert call(server, "POST", "/predict", b"{", JSON)[0] == 400
    wait_for(lambda: api_requests(server) == before + 5)
    assert get_json(server, "/health")["checks"]["store"]["state"] == "ok"


def test_store_faults_degrade_health_but_never_predictions(tmp_path, model):
    """The store deleted, then made read-only, while a real server runs."""
    running = launch(tmp_path, MODEL_URI=str(COMMITTED_REGISTRY))
    store = tmp_path / "kpis" / "monitoring.sqlite3"
    body = json.dumps({"record": record_of(model)}).encode()
    try:
        wait_for(lambda: get_json(running, "/health")["status"] == "ok" and store.exists())
        for suffix in ("", "-wal", "-shm"):
            store.with_name(store.name + suffix).unlink(missing_ok=True)
        health = wait_for(lambda: (h := get_json(running, "/health"))["status"] == "degraded" and h)
        assert "was deleted" in health["reason"] and health["checks"]["store"]["ok"] is False
        assert call(running, "POST", "/predict", body, JSON)[0] == 200  # predicting goes on
        wait_for(lambda: get_json(running, "/health")["status"] == "ok")  # recreated by itself
        wait_for(lambda: api_requests(running) == 1)  # the prediction made meanwhile landed

        subprocess.run(["chattr", "+i", str(store)], check=True)
        try:
            health = wait_for(lambda: (h := get_json(running, "/health"))["status"] == "degraded" and h)
            assert "read-only" in health["reason"]
            for _ in range(3):
                assert call(running, "POST", "/predict", body, JSON)[0] == 200
            assert call(running, "GET", "/metrics/system?window=5m")[0] in (200, 503)  # never a crash
        finally:
            subprocess.run(["chattr", "-i", str(store)], check=True)
        wait_for(lambda: get_json(running, "/health")["status"] == "ok")
        wait_for(lambda: api_requests(running) == 4)  # nothing lost while it was read-only
        assert "Traceback" not in running.log_text()
    finally:
        running.stop()


def test_api_page_and_function_give_the_same_probability(server, model, env):
    record = {**record_of(model), "tenure": 4, "Contract": "Month-to-month", "PaymentMethod": "Electronic check"}
    status, _, data = call(server, "POST", "/predict", json.dumps({"record": record}).encode(), JSON)
    assert status == 200
    from_api = json.loads(data)["prediction"]["probability"]
    from_function = score_record(record, model).probability
    env.set("MODEL_URI", str(COMMITTED_REGISTRY))
    at = AppTest.from_file(str(PROJECT_ROOT / "navigation.py"), default_timeout=60).run()
    at.switch_page("pages/predict.py").run()
    at.number_input(key="field_tenure").set_value(4)
    at.selectbox(key="field_Contract").set_value("Month-to-month")
    at.selectbox(key="field_PaymentMethod").set_value("Electronic check")
    at.button[0].click().run()
    from_page = next(m.value for m in at.metric if m.label == "Probability")
    assert from_api == pytest.approx(from_function, abs=1e-12)
    assert from_page == f"{from_function:.1%}"


def test_schemathesis_finds_nothing(server, tmp_path):
    """All checks, deterministic generation, at least 500 cases over every operation."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "60",
            "--generation-deterministic",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-6000:]
    generated = int(output.split(" generated")[0].rsplit("\n", 1)[-1].strip().split()[-1])
    assert generated >= 500, output[-2000:]


def test_without_a_model_the_real_server_answers_503_as_json(tmp_path, registry_copy, telco_model):
    (registry_copy / telco_model.version / "model.joblib").write_bytes(b"")
    broken = launch(tmp_path, MODEL_URI=str(registry_copy))
    try:
        record = json.dumps({"record": record_of(telco_model)}).encode()
        for method, path, body, headers in (
            ("GET", "/health", None, {}),
            ("GET", "/health/ready", None, {}),
            ("POST", "/predict", record, JSON),
            ("GET", "/metrics/model", None, {}),
        ):
            status, _, data = call(broken, method, path, body, headers)
            assert status == 503, (path, data[:200])
            assert "checksum" in data.decode()
        assert call(broken, "GET", "/health/live")[0] == 200
    finally:
        broken.stop()
