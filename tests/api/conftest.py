"""API fixtures: Starlette's TestClient on the real app object, pointed at a registry."""

from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.helpers import Environment


@pytest.fixture
def api(env: Environment, tmp_path: Path) -> Callable[..., TestClient]:
    """A TestClient for `app.app` with MODEL_URI and other settings from keyword arguments,
    seen as coming from `client` (not loopback by default).

    The client is not entered as a context manager: Streamlit's runtime starts once per
    process and cannot start again after a lifespan shut it down. The settings are re-read
    when `env` changes them, and the model cache is reset around every test (tests/conftest.py).
    """

    def start(registry: Path, client: str = "testclient", **settings: str) -> TestClient:
        env.set("MODEL_URI", str(registry))
        env.set("MODEL_CACHE_DIR", str(tmp_path / "cache"))
        for name in ("ADMIN_TOKEN", "MAX_BATCH", "MAX_BODY_MB", "PROMOTION_TOLERANCE", "PROMOTION_METRIC"):
            env.unset(name)
        for name, value in settings.items():
            env.set(name, value)
        from app import app

        return TestClient(app, client=(client, 50000))  # "127.0.0.1": a client on this machine

    return start


@pytest.fixture
def customer(telco_model) -> dict:
    return {spec.name: spec.default for spec in telco_model.schema.features}
