"""The Dockerfile's key properties, hadolint, and the build context .dockerignore leaves."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lib.server.http_server import SERVE_OPTIONS
from lib.settings import PROJECT_ROOT
from tests.image.dockerfile import (
    build_context,
    env,
    exec_form,
    ignore_rules,
    ignored,
    instructions,
    single,
)

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
FOUND = instructions(DOCKERFILE)


def test_base_image_user_port_healthcheck_and_command():
    assert single(FOUND, "FROM").args == "python:3.11-slim"
    user = single(FOUND, "USER").args
    assert re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user), "a numeric, non-root user and group"
    assert single(FOUND, "EXPOSE").args == "8000"
    assert single(FOUND, "WORKDIR").args == "/app"
    health = single(FOUND, "HEALTHCHECK").args
    assert "--interval=" in health
    check = exec_form(health.split(" CMD ", 1)[1])  # exec form: no shell in the image needed
    assert check[0] == "python" and "urllib.request" in check[-1] and "/health/live" in check[-1]
    assert exec_form(single(FOUND, "CMD").args) == [
        "uvicorn", "app:app", *SERVE_OPTIONS, "--host", "0.0.0.0", "--port", "8000"
    ]  # fmt: skip
    names = [i.name for i in FOUND]
    last_build_step = max(i for i, n in enumerate(names) if n in ("RUN", "COPY"))
    assert names.index("USER") > last_build_step  # the app runs as that user, not as root


def test_requirements_install_in_their_own_layer_before_the_code_without_a_pip_cache():
    steps = [(i.name, i.args) for i in FOUND if i.name in ("COPY", "RUN")]
    assert steps[0] == ("COPY", "requirements.txt .")
    assert steps[1][0] == "RUN" and "pip install --no-cache-dir -r requirements.txt" in steps[1][1]
    assert steps[2] == ("COPY", ". .")


def test_the_user_owns_only_the_folders_it_writes_and_no_secret_is_baked_in():
    setup = next(i.args for i in FOUND if i.name == "RUN" and "useradd" in i.args)
    owned = re.search(r"chown -R 10001:10001 ([^&]+)", setup).group(1).split()
    values = env(FOUND)
    assert sorted(owned) == sorted(["/app/kpis", "/app/.cache", "/app/models"])
    assert values["KPI_DIR"] == "/app/kpis" and values["MODEL_URI"] == "/app/models"
    assert values["MODEL_CACHE_DIR"].startswith("/app/.cache")
    for secret in ("ADMIN_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN"):
        assert secret not in values and secret not in DOCKERFILE.read_text()


def test_hadolint_passes():
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        (".git/HEAD", True),
        (".venv/bin/python", True),
        ("lib/__pycache__/api.cpython-311.pyc", True),
        ("kpis/monitoring.sqlite3", True),
        ("kpis/jobs/20260101T000000Z-abcdef/state.json", True),
        ("kpis/README.md", False),
        (".streamlit/secrets.toml", True),
        (".streamlit/config.toml", False),
        (".env", True),
        (".schemathesis/default/cache/crashes/manifest.json", True),
        (".hypothesis/examples/abc", True),
        (".pytest_cache/v/cache/lastfailed", True),
        ("test-results/screenshots/overview.png", True),
        ("tests/unit/test_data.py", True),
        ("models/.partial-20260101T000000Z-abcdef/model.joblib", True),
        ("models/current.json", False),
        ("lib/api/routes.py", False),
        ("data/telco-customer-churn.csv", False),
        ("requirements.txt", False),
        ("requirements-dev.txt", True),
    ],
)
def test_dockerignore_rules(path, excluded):
    assert ignored(path, ignore_rules(DOCKERIGNORE)) is excluded


TEST_CACHES = (".schemathesis", ".hypothesis", ".pytest_cache")


def test_the_context_holds_what_the_app_needs_and_nothing_local(tmp_path):
    probe = PROJECT_ROOT / "kpis" / "jobs-probe.tmp"
    probe.write_text("a local runtime file")
    new_caches = [PROJECT_ROOT / cache for cache in TEST_CACHES if not (PROJECT_ROOT / cache).exists()]
    for cache in new_caches:  # as a test run leaves them
        (cache / "default").mkdir(parents=True)
        (cache / "default" / "probe.json").write_text("{}")
    try:
        copied = build_context(PROJECT_ROOT, tmp_path / "context", DOCKERIGNORE)
    finally:
        probe.unlink()
        for cache in new_caches:
            shutil.rmtree(cache)
    assert not [p for p in copied if p.startswith(TEST_CACHES)]
    for needed in ("app.py", "navigation.py", "requirements.txt", ".streamlit/config.toml", "models/current.json"):
        assert needed in copied
    assert any(p.startswith("lib/") for p in copied) and any(p.startswith("pages/") for p in copied)
    assert any(p.startswith("data/") and p.endswith(".csv") for p in copied)
    assert not [p for p in copied if p.startswith((".git/", ".venv/", "tests/", "kpis/jobs"))]
    assert "kpis/jobs-probe.tmp" not in copied


def test_streamlit_settings_fit_production():
    config = tomllib.loads((PROJECT_ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["headless"] is True
    assert config["server"]["enableXsrfProtection"] is True
    assert isinstance(config["server"]["maxUploadSize"], int)  # explicit, not Streamlit's default
    assert config["browser"]["gatherUsageStats"] is False
    assert config["theme"]["primaryColor"]


def test_make_run_serves_with_the_same_options_as_the_image():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    declared = re.search(r"^SERVE_OPTIONS := (.+)$", makefile, re.M).group(1).split()
    assert declared == list(SERVE_OPTIONS)
    assert "$(BIN)/uvicorn app:app $(SERVE_OPTIONS)" in makefile


def test_no_test_cache_is_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    assert not [path for path in tracked.splitlines() if path.startswith(TEST_CACHES)]
