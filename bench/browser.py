"""Launching Debian's chromium with Playwright on these machines (shared by bench and tests).

Playwright cannot download its own browsers here; without the background-networking
flags chromium tries to reach hosts this machine cannot resolve.
"""

from __future__ import annotations

import shutil
from typing import Any

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def launch_chromium(playwright: Any) -> Any:
    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium (see .ci/run)")
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
