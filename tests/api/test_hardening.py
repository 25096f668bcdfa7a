"""The holes hostile testing found, closed (issue 12), in-process through the app.

Cross-site requests, token guessing, forged forwarding headers, server paths in answers,
unbounded echo, loose HTTP input, and the cancel race of retraining jobs.
"""

import json
import tempfile
import threading
import time

import pytest

from lib.model.bundle import MODEL_FILE, read_pointer
from lib.registry import LocalRegistry
from lib.settings import PROJECT_ROOT
from tests.helpers import clone_version, strict, wait_for_job

JSON = {"content-type": "application/json"}
TOKEN = "hardening-token"
BEARER = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def two_versions(registry_copy, telco_model):
    """A registry serving a copy of the model, with the original served before it."""
    first = telco_model.version
    second = clone_version(registry_copy, first, f"{first}-2").name
    LocalRegistry(registry_copy).promote(second, "setup", "two versions")
    return registry_copy, first, second


# --- 1. cross-site request forgery -------------------------------------------------------

ADMIN_ACTIONS = [
    ("POST", "/models/rollback"),
    ("POST", "/train"),
    ("POST", "/models/{first}/promote"),
    ("DELETE", "/train/20260101T000000Z-abcdef"),
]
FOREIGN = [
    {"origin": "http://evil.example"},
    {"origin": "null"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site", "origin": "http://127.0.0.1:9999"},
]


@pytest.mark.parametrize("foreign", FOREIGN)
@pytest.mark.parametrize(("method", "path"), ADMIN_ACTIONS)
def test_a_page_of_another_site_changes_nothing(api, two_versions, method, path, foreign):
    registry, first, second = two_versions
    client = api(registry, client="127.0.0.1")  # the make run default: no token, this machine
    response = client.request(method, path.format(first=first), content=b"{}", headers={**JSON, **foreign})
    assert response.status_code == 403 and strict(response)["details"] == [{"code": "cross_site"}]
    assert read_pointer(registry) == second
    assert not (registry.parent / "kpis" / "jobs").exists()  # no job started


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
@pytest.mark.parametrize(("method", "path"), ADMIN_ACTIONS[:3])
def test_simple_requests_a_browser_sends_without_asking_are_refused(api, two_versions, method, path, content_type):
    registry, first, second = two_versions
    client = api(registry, client="127.0.0.1")
    headers = {"content-type": content_type} if content_type else {}
    response = client.request(method, path.format(first=first), content=b"", headers=headers)
    assert response.status_code == 415
    assert read_pointer(registry) == second


def test_same_origin_and_programs_still_work(api, two_versions):
    registry, first, second = two_versions
    client = api(registry, client="127.0.0.1")
    same_origin = {**JSON, "origin": "http://testserver", "sec-fetch-site": "same-origin"}
    response = client.post("/models/rollback", content=b"{}", headers=same_origin)
    assert response.status_code == 200 and read_pointer(registry) == first
    response = client.post(f"/models/{second}/promote", headers=JSON)  # an empty JSON body is fine
    assert response.status_code == 200 and read_pointer(registry) == second


# --- 2. token guessing --------------------------------------------------------------------


def test_wrong_tokens_are_throttled_per_client_and_counted(api, two_versions):
    registry = two_versions[0]
    client = api(registry, client="203.0.113.9", ADMIN_TOKEN=TOKEN)
    wrong = {**JSON, "authorization": "Bearer guess"}
    statuses = [client.post("/models/rollback", headers=wrong).status_code for _ in range(12)]
    assert statuses[:10] == [403] * 10 and statuses[10:] == [429, 429]
    refused = client.post("/models/rollback", headers={**JSON, **BEARER})  # even the right token, for now
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
    other = api(registry, client="198.51.100.4", ADMIN_TOKEN=TOKEN)
    assert other.post("/models/rollback", headers={**JSON, **BEARER}).status_code == 200  # per client
    admin = strict(other.get("/health"))["checks"]["admin"]
    assert admin["failures"] == 10 and admin["throttled"] == 3 and admin["clients_blocked"] == 1


# --- 3. forwarding headers -----------------------------------------------------------------


def test_forwarding_headers_are_believed_only_from_trusted_proxies(api, two_versions):
    registry, _, second = two_versions
    direct = api(registry, client="203.0.113.9", ADMIN_TOKEN=TOKEN)
    forged = {**JSON, **BEARER, "x-forwarded-for": "8.8.8.8"}
    assert direct.post("/models/rollback", headers=forged).status_code == 200
    assert LocalRegistry(registry).audit()[-1].actor == "api (admin token, 203.0.113.9)"

    proxied = api(registry, client="10.0.0.2", ADMIN_TOKEN=TOKEN, TRUSTED_PROXIES="10.0.0.0/8")
    chain = {**JSON, **BEARER, "x-forwarded-for": "8.8.8.8, 198.51.100.7, 10.0.0.9"}
    assert proxied.post(f"/models/{second}/promote", headers=chain).status_code == 200
    assert LocalRegistry(registry).audit()[-1].actor == "api (admin token, 198.51.100.7)"  # nearest untrusted


@pytest.mark.parametrize(
    ("peer", "trusted", "forwarded_for", "allowed"),
    [
        ("127.0.0.1", "", None, True),  # a browser or curl on this machine
        ("127.0.0.1", "", "127.0.0.1", False),  # a proxy on this machine that nobody declared
        ("127.0.0.1", "127.0.0.1", "127.0.0.1", True),  # a declared local proxy, for a local client
        ("127.0.0.1", "127.0.0.1", "203.0.113.5", False),  # a declared local proxy, for a remote client
        ("203.0.113.5", "", "127.0.0.1", False),  # a forged header from elsewhere
    ],
)
def test_the_this_machine_rule_uses_the_same_logic(api, registry_copy, peer, trusted, forwarded_for, allowed):
    client = api(registry_copy, client=peer, TRUSTED_PROXIES=trusted)
    headers = {**JSON, **({"x-forwarded-for": forwarded_for} if forwarded_for else {})}
    status = client.post("/models/rollback", headers=headers).status_code
    assert (status != 403) == allowed  # allowed: 409, nothing to roll back to


# --- 4. server paths -----------------------------------------------------------------------


def test_no_answer_names_a_server_path(api, registry_copy, telco_model, tmp_path):
    client = api(registry_copy, client="127.0.0.1")
    answers = [
        client.post("/models/..%2F..%2Fetc/promote", headers=JSON),
        client.post("/models/rollback", content=b'{"version": "../../etc"}', headers=JSON),
        client.post("/models/no-such-version/promote", headers=JSON),
        client.post("/models/rollback", content=b'{"version": "nope"}', headers=JSON),
        client.get("/train/..%2F..%2Fetc"),
    ]
    assert [a.status_code for a in answers] == [400, 422, 404, 404, 400]
    (registry_copy / telco_model.version / MODEL_FILE).write_bytes(b"")  # a broken bundle names its file
    answers += [client.get("/health"), client.post("/predict", content=b'{"record": {}}', headers=JSON)]
    assert answers[-1].status_code == 503 and "checksum" in strict(answers[-2])["reason"]
    for answer in answers:
        for place in (str(tmp_path), str(PROJECT_ROOT), tempfile.gettempdir() + "/"):
            assert place not in answer.text, (answer.request.url, answer.text)
    assert "'../../etc' is not a version name" in strict(answers[1])["error"]


# --- 6. what a request can make the server echo or store -----------------------------------


def test_a_huge_category_is_refused_and_not_echoed(api, registry_copy, customer, monitoring_db):
    from lib.monitoring.log import prediction_log

    client = api(registry_copy)
    record = {**customer, "Contract": "x" * 3_000_000}
    response = client.post("/predict", content=json.dumps({"record": record}), headers=JSON)
    assert response.status_code == 422 and len(response.content) < 2_000
    assert strict(response)["details"][0]["code"] == "too_long"
    unseen = {**customer, "Contract": "y" * 150}  # within the limit: a warning quoting 40 characters
    response = client.post("/predict", content=json.dumps({"record": unseen}), headers=JSON)
    assert response.status_code == 200 and len(response.content) < 3_000
    prediction_log().flush()
    assert monitoring_db.stat().st_size < 1_000_000


def test_thousands_of_unknown_fields_make_a_short_answer(api, registry_copy, customer):
    client = api(registry_copy)
    record = {**customer, **{f"field_{i:05d}_{'z' * 50}": 1 for i in range(10_000)}}
    response = client.post("/predict", content=json.dumps({"record": record}), headers=JSON)
    assert response.status_code == 200 and len(response.content) < 5_000
    warning = next(w for w in strict(response)["prediction"]["warnings"] if w["code"] == "ignored_fields")
    assert warning["field"].endswith("(and 9980 more)")
    top = {"record": customer, **{f"extra_{i}": 1 for i in range(10_000)}}
    response = client.post("/predict", content=json.dumps(top), headers=JSON)
    assert response.status_code == 422 and len(response.content) < 5_000 and "and 9980 more" in response.text


# --- 14. strict HTTP input -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "headers", "status", "says"),
    [
        (b'{"record": {}, "record": {}}', JSON, 400, "appears twice"),
        (b"{}", {"content-type": "application/json; charset=latin-1"}, 415, "charset"),
        ('{"record": {}}'.encode("utf-16"), JSON, 400, "byte-order mark"),
        ('{"record": {}}'.encode("utf-16-le"), JSON, 400, "malformed JSON"),
        (b'\xef\xbb\xbf{"record": {}}', JSON, 400, "byte-order mark"),
        (b'{"record": {}}', {**JSON, "content-encoding": "gzip"}, 415, "Content-Encoding"),
        (b'{"record": {}}', {"content-type": "application/evil+json"}, 415, "application/json"),
    ],
)
def test_loose_input_gets_a_clear_error(api, registry_copy, raw, headers, status, says):
    response = api(registry_copy).post("/predict", content=raw, headers=headers)
    assert response.status_code == status and says in strict(response)["error"]


def test_a_repeated_query_parameter_is_refused(api, registry_copy, customer):
    client = api(registry_copy)
    response = client.post("/predict?explain=false&explain=true", json={"record": customer})
    assert response.status_code == 400 and strict(response)["details"] == [{"field": "explain", "code": "repeated"}]
    assert client.get("/metrics/system?window=1h&window=5m").status_code == 400


# --- 11. a cancelled job never starts nor promotes -----------------------------------------


def wait_until_job_processes_are_gone(jobs_folder, timeout: float = 300) -> None:
    """Until no `python -m lib.retraining.job <a folder of jobs_folder>` process is left,
    whether or not it ever wrote its pid."""
    from pathlib import Path

    def running() -> list[str]:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                argv = cmdline.read_bytes().split(b"\0")
            except OSError:  # gone meanwhile
                continue
            if b"lib.retraining.job" in argv and any(str(jobs_folder).encode() in arg for arg in argv):
                found.append(cmdline.parent.name)
        return found

    deadline = time.monotonic() + timeout
    while running():
        assert time.monotonic() < deadline, f"job processes still running: {running()}"
        time.sleep(0.2)


@pytest.mark.slow
def test_a_job_cancelled_at_once_never_starts_nor_promotes_20_times(api, registry_copy, telco_model):
    client = api(registry_copy, client="127.0.0.1")
    served, audit = read_pointer(registry_copy), LocalRegistry(registry_copy).audit()
    for attempt in range(20):
        started = client.post("/train", headers=JSON)
        assert started.status_code == 202, started.text
        job_id = strict(started)["job"]["id"]
        cancelled = client.delete(f"/train/{job_id}")
        assert cancelled.status_code in (200, 202), cancelled.text
        if cancelled.status_code == 202:  # not known gone yet: the slot stays taken
            assert strict(cancelled)["job"]["status"] == "cancelling"
            again = client.post("/train", headers=JSON)
            assert again.status_code in (409, 202), again.text
            if again.status_code == 202:  # the process was gone by then: that job is a new one
                other = strict(again)["job"]["id"]
                client.delete(f"/train/{other}")
                wait_for_job(client, other, {})
        job = wait_for_job(client, job_id, {})
        assert job["status"] == "cancelled", (attempt, job)
    jobs_folder = registry_copy.parent / "kpis" / "jobs"
    wait_until_job_processes_are_gone(jobs_folder)  # an escaped job would have trained and promoted by now
    for folder in (f for f in jobs_folder.iterdir() if f.is_dir()):
        assert json.loads((folder / "state.json").read_text())["status"] == "cancelled", folder.name
    assert read_pointer(registry_copy) == served
    assert [v.version for v in LocalRegistry(registry_copy).versions()] == [telco_model.version]
    assert LocalRegistry(registry_copy).audit() == audit  # nothing promoted


# --- 12. job state writes ------------------------------------------------------------------


def test_concurrent_state_writes_never_collide(tmp_path):
    from lib.storage.files import write_json

    target = tmp_path / "state.json"
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(200):
                write_json(target, {"writer": n, "i": i})
        except Exception as exc:  # the bug: FileNotFoundError on os.replace
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and json.loads(target.read_text())["i"] == 199
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_job_that_succeeds_as_it_exits_is_not_marked_failed(tmp_path, monkeypatch):
    from lib.retraining import jobs
    from lib.storage.files import write_json

    folder = tmp_path / "kpis" / "jobs" / "20260101T000000Z-abcdef"
    folder.mkdir(parents=True)
    running = {"id": folder.name, "status": "running", "pid": 999_999, "created_at": "2026-01-01T00:00:00+00:00"}
    write_json(folder / "state.json", running)

    def alive_then_finished(pid: int) -> bool:  # the job writes its end, then exits, right as we look
        write_json(folder / "state.json", {**running, "status": "succeeded", "result": {"promoted": False}})
        return False

    monkeypatch.setattr(jobs, "_alive", alive_then_finished)
    assert jobs.job_state(folder.name)["status"] == "succeeded"
    assert json.loads((folder / "state.json").read_text())["status"] == "succeeded"


# --- 9. a big batch does not stall the other requests -------------------------------------


@pytest.mark.parametrize("plain", [True, False], ids=["plain-batch-as-columns", "general-path"])
def test_a_batch_is_parsed_scored_and_written_off_the_event_loop(api, registry_copy, customer, monkeypatch, plain):
    import lib.api.batch_body
    import lib.api.predict

    client = api(registry_copy)
    assert client.get("/health/live").status_code == 200  # the runtime is up before the threads
    inside, release = threading.Event(), threading.Event()
    module, name = (lib.api.batch_body, "decode_batch") if plain else (lib.api.predict, "parse_json")
    parse = getattr(module, name)

    def slow_parse(raw: bytes, *args):  # a batch that takes as long as the test wants
        if len(raw) > lib.api.predict.INLINE_BODY_BYTES:
            inside.set()
            assert release.wait(60)
        return parse(raw, *args)

    monkeypatch.setattr(module, name, slow_parse)
    record = customer if plain else {**customer, "not a feature": 1}  # an extra field: the general path
    answers = []
    batch = threading.Thread(target=lambda: answers.append(client.post("/predict", json={"records": [record] * 2000})))
    batch.start()
    try:
        assert inside.wait(30)
        live = []  # answered while the batch is held: the event loop is free
        probe = threading.Thread(target=lambda: live.append(client.get("/health/live").status_code))
        probe.start()
        probe.join(30)
        assert live == [200]
    finally:
        release.set()
        batch.join(60)
    assert answers[0].status_code == 200 and strict(answers[0])["count"] == 2000


def test_the_documented_path_patterns_are_the_ones_checked(api, registry_copy):
    from lib.api.openapi_schemas import JOB_ID_PATTERN, VERSION_PATTERN
    from lib.registry import VERSION_NAME
    from lib.retraining.jobs import JOB_ID

    assert (JOB_ID.pattern, VERSION_NAME.pattern) == (JOB_ID_PATTERN, VERSION_PATTERN)
    client = api(registry_copy, client="127.0.0.1")
    for odd in ("J%5CW", "%20", "x%00y"):  # schema-invalid ids: a 4xx in JSON, never a page or a 500
        response = client.get(f"/train/{odd}")
        assert 400 <= response.status_code < 500 and strict(response)["error"]


def test_a_refusal_is_answered_in_json_even_when_the_log_cannot_record_it(registry_copy, env, monkeypatch):
    """A failure while logging a refused /predict (a bug, a broken store) must not turn the
    caller's 400 into a plain-text 500."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    import lib.api.routes

    def broken(status: int, started: float) -> None:
        raise RuntimeError("the log is broken")

    env.set("MODEL_URI", str(registry_copy))
    monkeypatch.setattr(lib.api.routes, "log_refused_prediction", broken)
    app = Starlette(routes=lib.api.routes.routes())  # the routes as built now, with the broken logger
    response = TestClient(app, raise_server_exceptions=False).post("/predict", content=b"{not json", headers=JSON)
    assert response.status_code == 400 and response.json()["error"].startswith("malformed JSON")
