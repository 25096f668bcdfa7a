"""Starting the app in its own process for a benchmark, and waiting until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from lib.server.http_server import SERVE_OPTIONS

UVICORN = [sys.executable, "-m", "uvicorn", "app:app", *SERVE_OPTIONS, "--host", "127.0.0.1", "--port"]
STREAMLIT_RUN = [
    sys.executable,
    "-m",
    "streamlit",
    "run",
    "app.py",
    "--server.headless",
    "true",
    "--server.address",
    "127.0.0.1",
    "--server.port",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    project: Path,
    model_uri: str,
    log: Path,
    command: list[str] = UVICORN,
    ready_path: str = "/_stcore/health",
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen, str]:
    """Start `command` + a free port; return once `ready_path` answers 200 (60 s at most)."""
    port = free_port()
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [*command, str(port)],
            cwd=project,
            env={**os.environ, "MODEL_URI": model_uri, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}{ready_path}", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-2000:]}")
