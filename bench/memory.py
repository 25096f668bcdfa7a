"""Server memory with many open sessions: one model copy per process, small cost per session."""

from __future__ import annotations

import time
from pathlib import Path

from bench.browser import launch_chromium
from bench.servers import start
from bench.timing import Measurement


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def run(project: Path, model_uri: str, workdir: Path, sessions: int = 20) -> list[Measurement]:
    from playwright.sync_api import sync_playwright

    process, url = start(project, model_uri, workdir / "memory-server.log")
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context()
            pages = []
            one_session = 0.0
            for index in range(sessions):
                page = context.new_page()
                page.goto(url)
                page.get_by_text("Served model", exact=True).wait_for(timeout=30_000)  # the Overview, whole
                pages.append(page)
                if index == 0:
                    time.sleep(0.5)
                    one_session = rss_mb(process.pid)
            time.sleep(1.0)
            all_sessions = rss_mb(process.pid)
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    per_session = (all_sessions - one_session) / max(sessions - 1, 1)
    return [
        Measurement("server RSS, 1 open session", "MB", one_session, one_session, one_session, 1),
        Measurement(
            f"server RSS, {sessions} open sessions",
            "MB",
            all_sessions,
            all_sessions,
            all_sessions,
            1,
            baseline_name="server RSS, 1 open session",
            baseline_median=one_session,
            target="<= 300 MB",
        ),
        Measurement("RSS per extra session", "MB", per_session, per_session, per_session, 1),
    ]
