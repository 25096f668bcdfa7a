"""Plain helpers shared by tests (fixtures live in conftest.py files)."""

from __future__ import annotations

import socket

from lib.settings import PROJECT_ROOT

TELCO_CONFIG = PROJECT_ROOT / "data" / "telco.toml"
COMMITTED_REGISTRY = PROJECT_ROOT / "models"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
