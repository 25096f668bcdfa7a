"""Plain helpers shared by tests (fixtures live in conftest.py files)."""

from __future__ import annotations

import socket

import pytest

from lib.settings import PROJECT_ROOT, reload_settings

TELCO_CONFIG = PROJECT_ROOT / "data" / "telco.toml"
COMMITTED_REGISTRY = PROJECT_ROOT / "models"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Environment:
    """Set or unset environment variables for one test, then re-read the settings as a
    restarted process would (a process reads them once); undone after the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def set(self, name: str, value: str) -> None:
        self._monkeypatch.setenv(name, value)
        reload_settings()

    def unset(self, name: str) -> None:
        self._monkeypatch.delenv(name, raising=False)
        reload_settings()
