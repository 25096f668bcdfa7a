"""POST /train, GET /train/{id} and the registry endpoints through the app, with no,
wrong and right token, from this machine and (simulated) from elsewhere."""

import io
import json

import pandas as pd
import pytest

from lib.settings import PROJECT_ROOT
from tests.helpers import wait_for_job

TOKEN = "retrain-token"
BEARER = {"authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
CSV = {"content-type": "text/csv"}


def body(response) -> dict:
    return json.loads(response.text)


ADMIN_CALLS = [
    ("POST", "/train", b'{"data": "nowhere"}', 422),  # allowed, then the body is refused: nothing starts
    ("GET", "/train/20260101T000000Z-abcdef", None, 404),
    ("POST", "/models/rollback", None, 409),  # allowed, then: nothing to roll back to
    ("POST", "/models/nope/promote", None, 404),
]


@pytest.mark.parametrize(("method", "path", "payload", "allowed_status"), ADMIN_CALLS)
def test_admin_endpoints_with_a_token(api, registry_copy, method, path, payload, allowed_status):
    client = api(registry_copy, client="203.0.113.9", ADMIN_TOKEN=TOKEN)
    headers = JSON if method == "POST" else {}
    missing = client.request(method, path, content=payload, headers=headers)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.request(method, path, content=payload, headers={**headers, "authorization": "Bearer nope"})
    assert wrong.status_code == 403
    right = client.request(method, path, content=payload, headers={**headers, **BEARER})
    assert right.status_code == allowed_status, right.text


@pytest.mark.parametrize(("method", "path", "payload", "allowed_status"), ADMIN_CALLS)
def test_admin_endpoints_without_a_token_are_for_this_machine_only(
    api, registry_copy, method, path, payload, allowed_status
):
    headers = JSON if method == "POST" else {}
    local = api(registry_copy, client="127.0.0.1")
    assert local.request(method, path, content=payload, headers=headers).status_code == allowed_status
    proxied = local.request(method, path, content=payload, headers={**headers, "x-forwarded-for": "198.51.100.7"})
    assert proxied.status_code == 403
    remote = api(registry_copy, client="198.51.100.7").request(method, path, content=payload, headers=headers)
    assert remote.status_code == 403 and "ADMIN_TOKEN" in body(remote)["error"]


def test_a_bad_upload_lists_every_problem_and_starts_nothing(api, registry_copy, monitoring_db):
    client = api(registry_copy, client="127.0.0.1")
    frame = pd.read_csv(PROJECT_ROOT / "data" / "telco-customer-churn.csv", nrows=50, dtype=str)
    frame = frame.drop(columns=["tenure"]).assign(Churn="maybe", shoe_size="42")
    raw = io.BytesIO()
    frame.to_csv(raw, index=False)
    response = client.post("/train", content=raw.getvalue(), headers=CSV)
    assert response.status_code == 422
    problems = " | ".join(d["problem"] for d in body(response)["details"])
    for expected in ("missing feature columns (1): tenure", "shoe_size", "positive label 'Yes'", "only 50 rows"):
        assert expected in problems
    assert not (monitoring_db.parent.parent / "kpis" / "jobs").exists()  # KPI_DIR of this test: no job


def test_retrain_promote_roll_back_over_the_api(api, registry_copy, telco_model):
    client = api(registry_copy, client="198.51.100.7", ADMIN_TOKEN=TOKEN)
    assert client.get("/health").json()["model_version"] == telco_model.version
    started = client.post("/train", headers={**BEARER, **JSON})
    assert started.status_code == 202, started.text
    job_id = body(started)["job"]["id"]
    assert started.headers["location"] == f"/train/{job_id}"
    again = client.post("/train", headers={**BEARER, **JSON})  # one job at a time
    assert again.status_code == 409 and body(again)["details"][0]["job_id"] == job_id
    job = wait_for_job(client, job_id, BEARER)
    assert job["status"] == "succeeded", job
    result = job["result"]
    # same data, same seed: the same test split, so the same scores, within the tolerance
    assert result["promoted"] and result["comparison"]["rows"] == 1409
    assert result["comparison"]["challenger"]["roc_auc"] == pytest.approx(
        result["comparison"]["champion"]["roc_auc"], abs=1e-9
    )
    assert any(line.endswith("[7/7] writing bundle " + result["version"]) for line in job["log"])
    listing = body(client.get("/models"))
    statuses = {v["version"]: v["status"] for v in listing["versions"]}
    assert statuses == {result["version"]: "serving", telco_model.version: "archived"}
    assert listing["served"] == result["version"] and listing["previous"] == telco_model.version
    assert client.get("/health").json()["model_version"] == result["version"]  # no restart

    back = client.post("/models/rollback", content=b'{"reason": "check the old one"}', headers={**BEARER, **JSON})
    assert back.status_code == 200, back.text
    assert body(back)["served_here"] == telco_model.version
    assert client.get("/health").json()["model_version"] == telco_model.version
    assert client.post(f"/models/{telco_model.version}/promote", headers={**BEARER, **JSON}).status_code == 409
    forward = client.post(f"/models/{result['version']}/promote", headers={**BEARER, **JSON})
    assert body(forward)["event"]["action"] == "promote"
    events = body(client.get("/models/audit"))["events"]
    assert [e["action"] for e in events][:3] == ["promote", "rollback", "auto_promote"]
    assert events[1]["reason"] == "check the old one" and events[1]["actor"].startswith("api (admin token")


def test_two_starts_at_the_same_moment_make_one_job(api, registry_copy):
    import threading

    client = api(registry_copy, client="127.0.0.1")
    assert client.get("/health/live").status_code == 200  # the runtime starts once, before the threads
    barrier = threading.Barrier(4)
    answers = []

    def start() -> None:
        barrier.wait()
        answers.append(client.post("/train", headers=JSON))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in answers) == [202, 409, 409, 409]
    job_ids = {body(r)["job"]["id"] if r.status_code == 202 else body(r)["details"][0]["job_id"] for r in answers}
    assert len(job_ids) == 1
    assert wait_for_job(client, job_ids.pop(), {})["status"] == "succeeded"


def test_a_running_job_can_be_cancelled_and_changes_nothing(api, registry_copy, telco_model):
    client = api(registry_copy, client="127.0.0.1")
    job_id = body(client.post("/train", headers=JSON))["job"]["id"]
    cancelled = client.delete(f"/train/{job_id}")
    assert cancelled.status_code == 200, cancelled.text
    job = body(cancelled)["job"]
    assert job["status"] == "cancelled" and job["error"].startswith("cancelled by api (this machine")
    assert client.delete(f"/train/{job_id}").status_code == 409  # already over
    assert client.delete("/train/20260101T000000Z-abcdef").status_code == 404
    assert [v["version"] for v in body(client.get("/models"))["versions"]] == [telco_model.version]
    again = client.post("/train", headers=JSON)  # the slot is free
    assert again.status_code == 202
    assert wait_for_job(client, body(again)["job"]["id"], {})["status"] == "succeeded"


def test_a_good_upload_trains_on_that_data(api, registry_copy):
    client = api(registry_copy, client="127.0.0.1")
    frame = pd.read_csv(PROJECT_ROOT / "data" / "telco-customer-churn.csv", dtype=str)
    raw = frame.to_csv(sep=";", index=False).encode()  # another separator than the config's
    started = client.post("/train", params={"name": "march.csv"}, content=raw, headers=CSV)
    assert started.status_code == 202, started.text
    job = wait_for_job(client, body(started)["job"]["id"], {})
    assert job["status"] == "succeeded", job
    assert job["data"] == "upload" and job["data_name"] == "march.csv"
    assert any("loading" in line and "(upload march.csv)" in line for line in job["log"])
    assert job["result"]["comparison"]["rows"] == 1409  # the same rows as the bundled data: the same split


def test_with_a_shared_store_one_job_runs_across_replicas(api, env, registry_copy, postgres_url, tmp_path):
    """Two replicas (their own KPI_DIR, one PostgreSQL): B is refused with A's job, reads it,
    sees it end; then B starts one, and A cancels it from afar."""
    env.set("MONITORING_DB", postgres_url)

    def replica(name: str):
        env.set("REPLICA_ID", name)
        env.set("KPI_DIR", str(tmp_path / name))
        return api(registry_copy, client="127.0.0.1")

    started = replica("replica-a").post("/train", headers=JSON)
    assert started.status_code == 202, started.text
    job_id = body(started)["job"]["id"]
    b = replica("replica-b")
    refused = b.post("/train", headers=JSON)
    assert refused.status_code == 409 and body(refused)["details"][0]["job_id"] == job_id
    assert body(refused)["details"][0]["replica"] == "replica-a" and "on replica replica-a" in body(refused)["error"]
    seen = b.get(f"/train/{job_id}")
    assert seen.status_code == 200 and body(seen)["job"]["replica"] == "replica-a"
    assert not (tmp_path / "replica-b" / "jobs").exists()  # B only read it
    assert wait_for_job(b, job_id, {})["status"] == "succeeded"
    second = b.post("/train", headers=JSON)
    assert second.status_code == 202
    second_id = body(second)["job"]["id"]
    a = replica("replica-a")
    cancelling = a.delete(f"/train/{second_id}")
    assert cancelling.status_code in (200, 202) and body(cancelling)["job"]["status"] in ("cancelling", "cancelled")
    job = wait_for_job(a, second_id, {})  # the job reads the request at its next step
    assert job["status"] == "cancelled" and "cancelled by api" in job["error"]
