"""The registry on local disk and on a real S3 API (moto's server over HTTP): publish,
list, promote, roll back, audit, and refusing what cannot be served."""

import json
import secrets
from pathlib import Path

import boto3
import pytest

from lib.model.bundle import MODEL_FILE, POINTER_FILE
from lib.registry import LocalRegistry, RegistryError, S3Registry
from tests.helpers import clone_version, new_bucket


@pytest.fixture
def local_versions(registry_copy, telco_model) -> tuple[Path, list[str]]:
    """A local registry with three versions, the first served."""
    first = telco_model.version
    for name in ("v2", "v3"):
        clone_version(registry_copy, first, f"{first}-{name}")
    return registry_copy, [first, f"{first}-v2", f"{first}-v3"]


@pytest.fixture(params=["local", "s3"])
def registry(request, local_versions, tmp_path):
    root, versions = local_versions
    if request.param == "local":
        return LocalRegistry(root), versions
    request.getfixturevalue("s3_env")
    remote = S3Registry(f"s3://{new_bucket()}/team/churn")
    for version in versions:
        assert remote.publish(root / version) == version
    remote.promote(versions[0], "setup", "first served")
    return remote, versions


def test_lists_every_version_newest_first_with_metrics_and_status(registry, telco_model):
    store, versions = registry
    listed = store.versions()
    assert [v.version for v in listed] == sorted(versions, reverse=True)
    by_name = {v.version: v for v in listed}
    assert by_name[versions[0]].status == "serving"
    assert by_name[versions[1]].status == "candidate"
    assert by_name[versions[0]].metrics["roc_auc"] == pytest.approx(telco_model.kpis.metrics["roc_auc"])
    assert by_name[versions[0]].dataset_sha256 == telco_model.metadata.dataset.sha256


def test_promote_then_roll_back_switches_the_pointer_and_records_who(registry):
    store, versions = registry
    event = store.promote(versions[2], "ana", "better recall")
    assert (event.from_version, event.to_version, event.actor) == (versions[0], versions[2], "ana")
    assert store.served() == versions[2]
    statuses = {v.version: v.status for v in store.versions()}
    assert statuses == {versions[0]: "archived", versions[1]: "candidate", versions[2]: "serving"}
    back = store.rollback("bob", "recall was a fluke")
    assert (back.action, back.from_version, back.to_version) == ("rollback", versions[2], versions[0])
    assert store.served() == versions[0]
    assert [(e.actor, e.action) for e in store.audit()][-2:] == [("ana", "promote"), ("bob", "rollback")]


def test_refuses_unknown_current_and_incomplete_versions(registry):
    store, versions = registry
    with pytest.raises(RegistryError, match="no complete version"):
        store.promote("nope", "ana", "")
    with pytest.raises(RegistryError, match="already the served version"):
        store.promote(versions[0], "ana", "")
    assert store.served() == versions[0]


def test_a_corrupted_local_bundle_is_never_pointed_at(local_versions):
    root, versions = local_versions
    (root / versions[1] / MODEL_FILE).write_bytes(b"truncated")
    store = LocalRegistry(root)
    with pytest.raises(RegistryError, match="checksum"):
        store.promote(versions[1], "ana", "")
    assert store.served() == versions[0]


def test_an_s3_version_without_its_metadata_is_not_listed(local_versions, s3_env):
    root, versions = local_versions
    bucket = new_bucket()
    store = S3Registry(f"s3://{bucket}")
    store.publish(root / versions[0])
    boto3.client("s3").upload_file(
        str(root / versions[1] / MODEL_FILE), bucket, f"{versions[1]}/{MODEL_FILE}"
    )  # cut short
    assert store.version_names() == [versions[0]]
    assert store.served() is None
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        store.rollback("ana", "")


def test_a_torn_audit_line_is_skipped(local_versions):
    root, versions = local_versions
    store = LocalRegistry(root)
    store.promote(versions[1], "ana", "")
    with open(root / "audit.jsonl", "a") as handle:
        handle.write('{"at": "2030-01-01", "actor": "cut sh')  # a crash mid-append
    assert [e.to_version for e in store.audit()][-1] == versions[1]
    assert json.loads((root / POINTER_FILE).read_text())["version"] == versions[1]


def test_the_command_line_publishes_lists_promotes_and_rolls_back(local_versions, s3_env, capsys):
    from lib.registry.__main__ import main

    root, versions = local_versions
    uri = f"s3://{new_bucket()}/churn"
    assert main(["--registry", uri, "publish", str(root / versions[0]), "--serve"]) == 0
    assert main(["--registry", uri, "publish", str(root / versions[1])]) == 0
    assert main(["--registry", uri, "promote", versions[1], "--reason", "try it"]) == 0
    assert main(["--registry", uri, "rollback"]) == 0
    assert S3Registry(uri).served() == versions[0]
    assert main(["--registry", uri, "list"]) == 0
    listing = capsys.readouterr().out
    assert f"{versions[0]}  serving" in listing and f"{versions[1]}  archived" in listing
    assert main(["--registry", str(root), "publish", str(root / versions[0])]) == 2  # local: nothing to upload
    assert "S3 registry" in capsys.readouterr().err


def _promote_at_once(make_registry, targets: list[str]) -> list[object]:
    """Promote each target from its own registry object and thread; every promotion reads
    the pointer before any of them writes it (a barrier between the read and the swap)."""
    import threading

    barrier = threading.Barrier(len(targets))
    results: list[object] = [None] * len(targets)

    def promote(index: int) -> None:
        store = make_registry()
        read, calls = store._read_pointer, []

        def read_then_wait():
            state = read()
            calls.append(state)
            if len(calls) == 1:  # the promotion's own reading; the swap's check reads again
                barrier.wait(timeout=30)
            return state

        store._read_pointer = read_then_wait
        try:
            results[index] = store.promote(targets[index], f"actor-{index}", "race")
        except RegistryError as exc:
            results[index] = exc

    threads = [threading.Thread(target=promote, args=(i,), name=f"promoter-{i}") for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_promotions_at_the_same_instant_one_wins_the_other_gets_a_conflict(registry):
    store, versions = registry
    make = (lambda: LocalRegistry(store.root)) if isinstance(store, LocalRegistry) else (lambda: S3Registry(store.uri))
    before = len(store.audit())
    results = _promote_at_once(make, [versions[1], versions[2]])
    winners = [r for r in results if not isinstance(r, RegistryError)]
    losers = [r for r in results if isinstance(r, RegistryError)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].kind == "conflict" and "another promotion" in str(losers[0])
    fresh = make()
    assert fresh.served() == winners[0].to_version
    audit = fresh.audit()
    assert len(audit) == before + 1  # the loser left no trace
    assert (audit[-1].to_version, audit[-1].from_version) == (winners[0].to_version, versions[0])


def test_a_crash_between_the_switch_and_the_audit_record_loses_no_event(registry, monkeypatch):
    store, versions = registry
    monkeypatch.setattr(type(store), "_append_audit", _crash)
    with pytest.raises(SystemExit):
        store.promote(versions[1], "ana", "crashed after the switch")
    monkeypatch.undo()
    assert store.served() == versions[1]
    assert store.audit()[-1].reason == "crashed after the switch"  # read from the pointer
    store.promote(versions[2], "bob", "next one")  # records the pending event first
    stored = [(e.actor, e.to_version) for e in store._stored_audit()]
    assert stored[-2:] == [("ana", versions[1]), ("bob", versions[2])]
    assert [(e.actor, e.to_version) for e in store.audit()] == stored  # no event twice


def _crash(self, event):
    raise SystemExit("killed")


def test_the_s3_server_enforces_conditional_writes(s3_env):
    from botocore.exceptions import ClientError

    client, bucket = boto3.client("s3"), new_bucket()
    etag = client.put_object(Bucket=bucket, Key="k", Body=b"1")["ETag"]
    client.put_object(Bucket=bucket, Key="k", Body=b"2", IfMatch=etag)
    with pytest.raises(ClientError) as stale:
        client.put_object(Bucket=bucket, Key="k", Body=b"3", IfMatch=etag)
    with pytest.raises(ClientError) as exists:
        client.put_object(Bucket=bucket, Key="k", Body=b"4", IfNoneMatch="*")
    assert stale.value.response["Error"]["Code"] == exists.value.response["Error"]["Code"] == "PreconditionFailed"
    assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"2"


def test_a_promotion_from_a_version_no_longer_served_is_refused(registry):
    store, versions = registry
    store.promote(versions[1], "ana", "first", expected=versions[0])
    with pytest.raises(RegistryError) as stale:
        store.promote(versions[2], "bob", "from what I saw", expected=versions[0])
    assert stale.value.kind == "conflict" and f"{versions[1]} is" in str(stale.value)
    assert store.served() == versions[1] and store.audit()[-1].actor == "ana"


def test_seed_makes_the_bucket_and_serves_the_local_model_once(local_versions, s3_env, capsys):
    from lib.registry.__main__ import main

    root, versions = local_versions
    uri = f"s3://models-seed-{secrets.token_hex(3)}/telco"
    assert main(["--registry", uri, "seed", str(root)]) == 0
    assert S3Registry(uri).served() == versions[0] and "serving it" in capsys.readouterr().out
    assert main(["--registry", uri, "seed", str(root)]) == 0  # again: nothing changes
    assert "nothing to do" in capsys.readouterr().out and len(S3Registry(uri).audit()) == 1


def test_a_pointer_deleted_during_a_promotion_is_a_conflict_not_an_outage(local_versions, s3_env):
    root, versions = local_versions
    uri = f"s3://{new_bucket()}/churn"
    store = S3Registry(uri)
    for version in versions[:2]:
        store.publish(root / version)
    store.promote(versions[0], "setup", "first")
    read = store._read_pointer

    def read_then_delete():
        state = read()
        boto3.client("s3").delete_object(Bucket=store.bucket, Key=f"churn/{POINTER_FILE}")
        return state

    store._read_pointer = read_then_delete
    with pytest.raises(RegistryError) as lost:
        store.promote(versions[1], "ana", "")
    assert lost.value.kind == "conflict"
