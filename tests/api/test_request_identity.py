"""Request ids on every API answer, JSON log lines, and opt-in CORS (issue 19), in-process."""

import json
import logging
import re

import pytest

from lib.api.routes import SAME_ORIGIN_ONLY, routes
from lib.server.logs import JsonFormatter
from lib.server.request_context import MAX_REQUEST_ID, request_id
from lib.settings import SettingsError, get_settings

JSON = {"content-type": "application/json"}
FRONT = "http://front.example:3000"
GENERATED = re.compile(r"^[0-9a-f]{32}$")


def _fixed_paths() -> list[str]:
    return sorted({r.path for r in routes() if "{" not in r.path})


def test_every_api_answer_carries_a_request_id(api, registry_copy, customer):
    client = api(registry_copy)
    answers = [client.get(path) for path in _fixed_paths()]  # 200s, 405s, 401/403s alike
    answers += [
        client.post("/predict", json={"record": customer}),
        client.post("/predict", content=b"{", headers=JSON),  # malformed
        client.get("/predict/nothing-here"),  # unknown endpoint
        client.get("/models//b"),  # refused before any handler
        client.options("/predict", headers={"origin": FRONT, "access-control-request-method": "POST"}),
    ]
    statuses = {response.status_code for response in answers}
    assert {200, 400, 403, 404, 405} <= statuses
    for response in answers:
        assert GENERATED.match(response.headers["x-request-id"]), response.request.url
    assert len({response.headers["x-request-id"] for response in answers}) == len(answers)  # one per request


def test_a_callers_request_id_is_kept_and_a_hostile_one_is_cleaned(api, registry_copy, customer):
    client = api(registry_copy)
    kept = client.post("/predict", json={"record": customer}, headers={"x-request-id": "trace-42.a:b/c"})
    assert kept.headers["x-request-id"] == "trace-42.a:b/c"
    refused = client.get("/models//b", headers={"x-request-id": "from-proxy"})
    assert refused.status_code == 400 and refused.headers["x-request-id"] == "from-proxy"
    long = client.get("/health/live", headers={"x-request-id": "x" * 5000})
    assert long.headers["x-request-id"] == "x" * MAX_REQUEST_ID
    hostile = client.get("/health/live", headers={"x-request-id": 'a"b<script>{}; c'})
    assert hostile.headers["x-request-id"] == "abscriptc"
    assert request_id("\u00e9\u2028\t") != "" and GENERATED.match(request_id("\u00e9\u2028\t"))  # nothing usable
    assert GENERATED.match(client.get("/health/live", headers={"x-request-id": ""}).headers["x-request-id"])


def test_a_json_log_line_is_one_object_even_for_a_hostile_message():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "bad %s", ('value\n{"level": "CRITICAL"}',), None)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["message"].endswith('{"level": "CRITICAL"}')
    assert set(entry) == {"time", "level", "logger", "message"}


# --- CORS ----------------------------------------------------------------------------------


def _preflight(client, path, method="POST", headers="content-type", origin=FRONT):
    return client.options(
        path,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": headers,
        },
    )


def test_without_cors_origins_nothing_changes(api, registry_copy, customer):
    client = api(registry_copy)
    assert get_settings().cors_origins == ()
    read = client.get("/health", headers={"origin": FRONT})
    assert read.status_code == 200 and "access-control-allow-origin" not in read.headers
    assert _preflight(client, "/predict").status_code == 403
    cross = client.post(
        "/predict", json={"record": customer}, headers={"origin": FRONT, "sec-fetch-site": "cross-site"}
    )
    assert cross.status_code == 403 and "access-control-allow-origin" not in cross.headers


def test_a_listed_origin_may_call_the_api_but_never_an_admin_action(api, registry_copy, customer):
    client = api(registry_copy, client="127.0.0.1", CORS_ORIGINS=f"https://other.example, {FRONT.upper()}")
    preflight = _preflight(client, "/predict", headers="Content-Type, X-Request-ID")
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == FRONT
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["vary"] == "Origin"
    cross = {"origin": FRONT, "sec-fetch-site": "cross-site"}
    scored = client.post("/predict", json={"record": customer}, headers=cross)
    assert scored.status_code == 200, scored.text
    assert scored.headers["access-control-allow-origin"] == FRONT
    assert "X-Request-ID" in scored.headers["access-control-expose-headers"]
    # Admin actions: preflight refused and the request itself refused, even from this machine.
    for path in ("/train", "/models/rollback", "/outcomes", "/models/shadow"):
        refused = _preflight(client, path)
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers, path
    train = client.post("/train", content=b"{}", headers={**JSON, **cross})
    assert train.status_code == 403 and "access-control-allow-origin" not in train.headers
    assert "/train" in SAME_ORIGIN_ONLY and "/outcomes" in SAME_ORIGIN_ONLY
    # What a preflight may not ask for, and an origin not listed.
    assert _preflight(client, "/predict", headers="authorization").status_code == 403
    assert _preflight(client, "/predict", method="DELETE").status_code == 403
    assert _preflight(client, "/predict", origin="http://evil.example").status_code == 403
    evil = client.post(
        "/predict", json={"record": customer}, headers={"origin": "http://evil.example", "sec-fetch-site": "cross-site"}
    )
    assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers


@pytest.mark.parametrize(
    "value",
    ["front.example", "ftp://front.example", "http://front.example/path", "http://user@front.example", "http://"],
)
def test_cors_origins_must_be_origins(value):
    with pytest.raises(SettingsError, match="CORS_ORIGINS"):
        get_settings({"CORS_ORIGINS": value})


def test_log_format_and_language_are_checked():
    assert get_settings({"LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        get_settings({"LOG_FORMAT": "xml"})
    with pytest.raises(SettingsError, match="UI_LANGUAGE"):
        get_settings({"UI_LANGUAGE": "de"})
