"""Crash safety with real processes and signals: a retraining job killed part-way, and a
server killed while it is promoting, leave a served version that is the old or the new
one, complete and loadable, and a registry that lists no broken version."""

import http.client
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from lib.model.bundle import read_pointer
from lib.model_loader import load_model, read_bundle
from lib.registry import LocalRegistry, S3Registry
from lib.retraining.jobs import active_job, job_state, start_retrain
from lib.settings import PROJECT_ROOT
from tests.helpers import clone_version, new_bucket
from tests.servers import launch

pytestmark = pytest.mark.slow
TOKEN = "crash-token"


def assert_registry_sound(root, allowed: set[str]) -> None:
    served = read_pointer(root)
    assert served in allowed, served
    read_bundle(root / served)  # complete, checksums match
    registry = LocalRegistry(root)
    for version in registry.versions():
        read_bundle(root / version.version)
    registry.audit()  # a torn last line is skipped, never an error


@pytest.mark.parametrize("kill_at_step", ["[1/7]", "[3/7]", "[6/7]", "[7/7]"])
def test_a_training_job_killed_part_way_changes_nothing(registry_copy, telco_model, env, kill_at_step):
    """SIGKILL as soon as the job reports the step: [7/7] is while the bundle is written."""
    env.set("MODEL_URI", str(registry_copy))
    before = read_pointer(registry_copy)
    state, started = start_retrain("crash test", None, "bundled dataset")
    assert started
    deadline = time.monotonic() + 60
    current = job_state(state["id"])
    while not current["step"].startswith(kill_at_step) and current["status"] != "succeeded":
        assert time.monotonic() < deadline, current
        time.sleep(0.005)
        current = job_state(state["id"])
    if current["status"] == "succeeded":  # finished first: then the new version must be whole
        assert_registry_sound(registry_copy, {before, current["result"]["version"]})
        return
    os.kill(current["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while job_state(state["id"])["status"] not in ("failed", "succeeded") and time.monotonic() < deadline:
        time.sleep(0.05)
    after = job_state(state["id"])
    assert after["status"] == "failed" and "ended" in after["error"], after
    assert read_pointer(registry_copy) == before  # the served version did not move
    assert_registry_sound(registry_copy, {before})
    assert active_job() is None  # the slot is free: the next job can start
    print(f"killed at {after['step']!r}; registry holds {sorted(p.name for p in registry_copy.iterdir())}")


def promote_forever(server, versions: list[str], stop: threading.Event) -> None:
    index = 0
    while not stop.is_set():
        index += 1
        request = urllib.request.Request(
            f"{server.url}/models/{versions[index % 2]}/promote",
            b"",
            {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
            method="POST",
        )
        try:
            urllib.request.urlopen(request, timeout=5).read()
        except (OSError, http.client.HTTPException):  # the server was killed under us, maybe mid-answer: expected
            return


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_server_killed_while_promoting_leaves_a_whole_served_version(tmp_path, registry_copy, telco_model, seed):
    first = telco_model.version
    second = clone_version(registry_copy, first, f"{first}-2").name
    server = launch(tmp_path, MODEL_URI=str(registry_copy), ADMIN_TOKEN=TOKEN)
    stop = threading.Event()
    client = threading.Thread(target=promote_forever, args=(server, [first, second], stop))
    client.start()
    time.sleep(random.Random(seed).uniform(0.3, 1.2))
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()
    stop.set()
    client.join()
    promotions = len(LocalRegistry(registry_copy).audit())
    assert promotions > 0, "the server was killed before any promotion: the test proved nothing"
    assert_registry_sound(registry_copy, {first, second})


PROMOTE_LOOP = """
import sys
from lib.registry import S3Registry
registry = S3Registry(sys.argv[1])
versions = sys.argv[2:]
i = 0
while True:
    i += 1
    try:
        registry.promote(versions[i % 2], "loop", "crash test")
    except Exception:
        pass
    print(i, flush=True)
"""


def test_a_process_killed_while_promoting_on_s3_leaves_a_whole_served_version(
    s3_env, registry_copy, telco_model, tmp_path
):
    first = telco_model.version
    second = clone_version(registry_copy, first, f"{first}-2").name
    uri = f"s3://{new_bucket()}/reg"
    registry = S3Registry(uri)
    for version in (first, second):
        registry.publish(registry_copy / version)
    registry.promote(first, "setup", "")
    for seed in range(3):
        process = subprocess.Popen(
            [sys.executable, "-c", PROMOTE_LOOP, uri, first, second],
            cwd=PROJECT_ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout.readline()  # at least one promotion went through
        time.sleep(random.Random(seed).uniform(0.05, 0.5))
        process.kill()
        process.wait()
        assert registry.served() in (first, second)
        assert {v.version for v in registry.versions()} == {first, second}
        assert load_model(uri, cache_dir=tmp_path / f"cache-{seed}").version == registry.served()
    assert all(event.to_version in (first, second) for event in registry.audit())
