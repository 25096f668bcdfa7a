"""Shared fixtures: a model trained once per session into a temporary registry, a second
synthetic dataset with its own config, and a real S3 API (moto's server) on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.browser import launch_chromium
from lib.model.bundle import SCHEMA_FILE, read_contract, read_pointer
from lib.model_loader import LoadedModel, forget_model, load_model
from lib.settings import PROJECT_ROOT
from lib.training.config import load_config
from lib.training.pipeline import TrainingResult, train
from tests.helpers import Environment


@dataclass(frozen=True)
class CliRun:
    registry: Path
    result: TrainingResult
    stdout: str


@pytest.fixture(scope="session")
def telco_cli_run(tmp_path_factory: pytest.TempPathFactory) -> CliRun:
    """`python -m lib.training` with the default config, once, into a fresh registry."""
    registry = tmp_path_factory.mktemp("registry")
    environment = {**os.environ, "MODEL_URI": str(registry)}
    environment.pop("DATA_CONFIG", None)
    completed = subprocess.run(
        [sys.executable, "-m", "lib.training"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    folder = registry / read_pointer(registry)
    schema = json.loads((folder / SCHEMA_FILE).read_text())
    written = read_contract(folder, [feature["name"] for feature in schema["features"]])
    return CliRun(registry, TrainingResult(folder.name, folder, written.metadata, written.kpis), completed.stdout)


@pytest.fixture(scope="session")
def telco_training(telco_cli_run: CliRun) -> tuple[Path, TrainingResult]:
    return telco_cli_run.registry, telco_cli_run.result


@pytest.fixture(scope="session")
def telco_model(telco_training: tuple[Path, TrainingResult]) -> LoadedModel:
    return load_model(str(telco_training[0]))


@pytest.fixture
def registry_copy(tmp_path: Path, telco_training: tuple[Path, TrainingResult]) -> Path:
    """A private copy of the session registry that a test may damage."""
    target = tmp_path / "models"
    shutil.copytree(telco_training[0], target)
    return target


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    """Every test starts with no model loaded, no wrong admin token counted and no download kept."""
    from lib.server.access import auth_throttle
    from lib.storage.downloads import downloads

    forget_model()
    auth_throttle.reset()
    yield
    forget_model()
    auth_throttle.reset()
    downloads.clear()  # the files a test's pages made


@pytest.fixture(autouse=True)
def monitoring_db(tmp_path: Path, env: Environment) -> Iterator[Path]:
    """Every test keeps its runtime files (prediction log, retraining jobs) in its own
    folder, never in the project's kpis/; and a test that forgets to set MODEL_URI finds
    no model rather than the committed registry (a retraining job would write into it).
    The process's prediction log is closed after the test: the next one opens its own."""
    from lib.monitoring.decay import close_decay_watcher
    from lib.monitoring.log import close_prediction_log
    from lib.serving.shadow import shadow

    path = tmp_path / "monitoring" / "monitoring.sqlite3"
    env.set("MONITORING_DB", str(path))
    env.set("KPI_DIR", str(tmp_path / "kpis"))
    env.set("MODEL_URI", str(tmp_path / "no-registry-set-by-this-test"))
    yield path
    shadow.stop()  # before the log: its thread writes the store
    close_decay_watcher()  # likewise
    close_prediction_log()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Environment:
    """Change environment variables for one test; the settings are re-read each time."""
    return Environment(monkeypatch)


def write_synthetic_dataset(folder: Path, rows: int = 1500, seed: int = 7) -> Path:
    """A dataset unlike Telco: ';' separator, target 'left' = 'gone', id 'account_no',
    blanks in a numeric column, a numeric label-like column and text categories."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, rows)
    balance = rng.normal(2000, 800, rows).round(2)
    plan = rng.choice(["basic", "plus", "premium"], rows, p=[0.5, 0.3, 0.2])
    region = rng.choice(["north", "south", "east", "west"], rows)
    logit = -1.0 + 0.08 * (50 - age) + np.where(plan == "basic", 1.5, -1.0) - balance / 2000
    left = rng.random(rows) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "account_no": [f"A{i:05d}" for i in range(rows)],
            "age": age,
            "plan": plan,
            "balance": balance.astype(str),
            "region": region,
            "status": np.where(left, "gone", "stayed"),
            "notes": "n/a",
        }
    )
    frame.loc[rng.choice(rows, 25, replace=False), "balance"] = "  "
    csv_path = folder / "accounts.csv"
    frame.to_csv(csv_path, sep=";", index=False)
    config = folder / "accounts.toml"
    config.write_text(
        '[dataset]\nname = "Accounts"\ncsv = "accounts.csv"\nseparator = ";"\ntarget = "status"\n'
        'positive_label = "gone"\nid_columns = ["account_no"]\ndrop_columns = ["notes"]\n'
        'unknown_categories = "reject"\n\n[training]\nseed = 3\ncv_folds = 3\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="session")
def synthetic_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"))


def trained_registry(config: Path, factory: pytest.TempPathFactory, name: str) -> Path:
    """A fresh registry serving a model trained from `config` (quietly)."""
    registry = factory.mktemp(name)
    train(load_config(config), registry, log=lambda _line: None)
    return registry


def write_campaign_dataset(folder: Path, rows: int = 1200, seed: int = 11) -> Path:
    """A conversion campaign unlike the others: a sentinel number (pdays = -1, never
    contacted), blank balances, and words for its columns in the config."""
    rng = np.random.default_rng(seed)
    contacted = rng.random(rows) < 0.4
    pdays = np.where(contacted, rng.integers(1, 400, rows), -1)
    job = rng.choice(["admin", "technician", "services", "retired"], rows)
    age = rng.integers(18, 90, rows)
    balance = rng.normal(1500, 900, rows).round(2)
    logit = -2.0 + np.where(contacted, 1.2 - pdays / 300, 0.0) + np.where(job == "retired", 0.8, 0.0)
    subscribed = rng.random(rows) < 1 / (1 + np.exp(-logit))
    margin = rng.gamma(2.0, 60.0, rows).round(2)  # what a subscription brings: never below 0
    frame = pd.DataFrame(
        {
            "age": age,
            "job": job,
            "pdays": pdays,
            "balance": balance,
            "margin": margin,
            "subscribed": np.where(subscribed, "yes", "no"),
        }
    )
    frame["balance"] = frame["balance"].astype(str)
    frame.loc[rng.choice(rows, 30, replace=False), "balance"] = ""
    frame.to_csv(folder / "campaign.csv", index=False)
    config = folder / "campaign.toml"
    config.write_text(
        """[dataset]
name = "Term deposit campaign"
csv = "campaign.csv"
target = "subscribed"
positive_label = "yes"

[outcome]
name = "Subscription"
positive = "Subscribed"
negative = "Did not subscribe"
positive_is = "opportunity"

[features.pdays]
label = "Days since last contact"
special = { "-1" = "never contacted" }

[business]
kind = "conversion"
value_column = "margin"
contact_cost = 4.0
uplift = 0.5
currency = "€"

[training]
seed = 5
cv_folds = 2
""",
        encoding="utf-8",
    )
    return config


@pytest.fixture(scope="session")
def campaign_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_campaign_dataset(tmp_path_factory.mktemp("campaign"))


@pytest.fixture(scope="session")
def campaign_registry(campaign_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_registry(campaign_config, tmp_path_factory, "campaign-registry")


@pytest.fixture(scope="session")
def opportunity_config(synthetic_config: Path) -> Path:
    """The synthetic data told as good news (the positive class is an opportunity), with
    words for two of its columns."""
    extra = """
[outcome]
name = "Upgrade"
positive = "Upgraded"
negative = "Kept plan"
positive_is = "opportunity"

[features.age]
label = "Age"
unit = "years"
description = "Age of the account holder"

[features.plan]
label = "Plan"
"""
    path = synthetic_config.with_name("upgrades.toml")
    path.write_text(synthetic_config.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def opportunity_registry(opportunity_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained_registry(opportunity_config, tmp_path_factory, "opportunity-registry")


@pytest.fixture(scope="session")
def tree_registry(synthetic_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gradient-boosting bundle trained from the synthetic config (the only family offered)."""
    import lib.training.pipeline

    only_trees = {"hist_gradient_boosting": lib.training.pipeline.CANDIDATES["hist_gradient_boosting"]}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lib.training.pipeline, "CANDIDATES", only_trees)
        return trained_registry(synthetic_config, tmp_path_factory, "tree-registry")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 API over HTTP on loopback (moto in server mode, writes applied one at a time)."""
    from tests.servers import S3Server

    server = S3Server()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[object]:
    """A real PostgreSQL server (Debian's package) on loopback, for the whole session."""
    from tests.servers import PostgresServer

    server = PostgresServer()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A new empty database on the test PostgreSQL server."""
    return postgres_server.new_database()


@pytest.fixture
def s3_env(moto_endpoint: str, env: Environment) -> str:
    """Point plain boto3 at the moto server, with dummy credentials."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        env.set(name, value)
    env.unset("AWS_PROFILE")
    return moto_endpoint


@pytest.fixture(scope="session")
def synthetic_registry(synthetic_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle trained from another dataset config: other columns, labels, no [business]."""
    return trained_registry(synthetic_config, tmp_path_factory, "synthetic-registry")


# --- a real browser, shared by every test that needs one (one Playwright per session) ---


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright; missing chromium is a failure, never a skip."""
    from playwright.sync_api import sync_playwright

    if shutil.which("chromium") is None:
        pytest.fail("chromium is not installed: run .ci/run (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


def _page(browser, height: int) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture
def page(browser) -> Iterator[object]:
    """A 1280-pixel-wide window, the narrowest the dashboard is designed for."""
    yield from _page(browser, 1000)


@pytest.fixture
def tall_page(browser) -> Iterator[object]:
    """The same width, tall enough for a whole page in one screenshot."""
    yield from _page(browser, 2600)
