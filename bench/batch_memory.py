"""Server memory around big batch uploads: the peak while scoring, and what stays after.

Three browser sessions (one of 1 MB in --quick) each upload a CSV of about 50 MB (362k rows) on
the Batch scoring page and wait for the scores; the server's RSS is sampled every 50 ms
for the peak. Then the browsers close; once the server reports their sessions closed
(SESSION_RECONNECT_S is 1 s here, 120 s by default) and the prediction log has written
their rows, RSS is read again. Target: back within 50 MB of the idle server's RSS (the
same server, measured before the uploads). Then (not in --quick) one session uploads a
1,000,000-row CSV to a fresh server (one_big_upload).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

from bench.browser import launch_chromium
from bench.memory import rss_mb
from bench.servers import UVICORN, start
from bench.timing import Measurement

TARGET_BYTES = 49_900_000


def write_upload(source: Path, target: Path, size: int) -> int:
    """The bundled CSV's rows repeated up to `size` bytes; returns the number of rows."""
    lines = source.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], lines[1:]
    written, count = len(header) + 1, 0
    with open(target, "w", encoding="utf-8") as handle:
        handle.write(header + "\n")
        while True:
            for row in rows:
                if written + len(row) + 1 > size:
                    return count
                handle.write(row + "\n")
                written += len(row) + 1
                count += 1


def _checks(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/health", timeout=30) as response:
        return json.loads(response.read())["checks"]


def _sessions(url: str) -> dict:
    return _checks(url)["sessions"]


def _all_freed(url: str) -> bool:
    """Every session closed, no upload held, and the prediction log has written every row."""
    checks = _checks(url)
    sessions = checks["sessions"]
    return (
        not (sessions["active"] or sessions["disconnected"] or sessions["upload_bytes"])
        and not checks["store"]["pending_rows"]
    )


class _PeakSampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> _PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    from playwright.sync_api import expect, sync_playwright

    upload = workdir / "batch-50mb.csv"
    size = TARGET_BYTES // (50 if quick else 1)
    rows = write_upload(project / "data" / "telco-customer-churn.csv", upload, size)
    sessions = 1 if quick else 3
    log = workdir / "batch-memory-server.log"
    process, url = start(project, model_uri, log, UVICORN, "/health/ready", env={"SESSION_RECONNECT_S": "1"})
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            warm = browser.new_context()
            page = warm.new_page()
            page.goto(f"{url}/batch-scoring")
            page.get_by_text("Upload a file, or use the sample").wait_for(timeout=60_000)
            warm.close()
            _wait(lambda: _all_freed(url), 60)
            time.sleep(1.0)
            idle = rss_mb(process.pid)
            with _PeakSampler(process.pid) as sampler:
                contexts = []
                for _ in range(sessions):
                    context = browser.new_context()
                    page = context.new_page()
                    page.set_default_timeout(300_000)
                    page.goto(f"{url}/batch-scoring")
                    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
                    expect(page.get_by_test_id("stMetric").filter(has_text="Scored")).to_contain_text(
                        f"{rows:,}", timeout=300_000
                    )
                    contexts.append(context)
                held = rss_mb(process.pid)
            for context in contexts:
                context.close()
            browser.close()
        _wait(lambda: _all_freed(url), 180)
        time.sleep(6.0)  # one more janitor pass: it gives memory back after the log has let go of the rows
        after = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
    label = f"{sessions} session{'s' if sessions > 1 else ''} x {size / 1e6:.1f} MB CSV"
    big = [] if quick else one_big_upload(project, model_uri, workdir)
    return [
        *big,
        Measurement("server RSS idle, before the uploads", "MB", idle, idle, idle, 1),
        Measurement(
            f"server RSS peak while scoring ({label}, {rows:,} rows each)",
            "MB",
            sampler.peak,
            idle,
            sampler.peak,
            1,
            baseline_name="idle",
            baseline_median=idle,
        ),
        Measurement(f"server RSS with the {label} sessions open", "MB", held, held, held, 1),
        Measurement(
            "server RSS after those sessions ended",
            "MB",
            after,
            after,
            after,
            1,
            baseline_name="idle",
            baseline_median=idle,
            target="<= idle + 50 MB",
        ),
    ]


def one_big_upload(project: Path, model_uri: str, workdir: Path) -> list[Measurement]:
    """Issue 17, target 3, through a real server: one chromium session uploads a CSV of
    1,000,000 rows (138 MB; MAX_UPLOAD_MB=200) on the Batch scoring page; the time until
    its scores show, the time to fetch its download (every row with its scores), and the
    server's peak RSS above idle against the file's size (target: at most 4x)."""
    from playwright.sync_api import expect, sync_playwright

    from bench.csv_stream import write_csv

    upload = workdir / "one-million.csv"
    size_mb = write_csv(upload, 1_000_000) / 1e6
    env = {"SESSION_RECONNECT_S": "1", "MAX_UPLOAD_MB": "200"}
    process, url = start(project, model_uri, workdir / "big-upload-server.log", UVICORN, "/health/ready", env=env)
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            context = browser.new_context()
            page = context.new_page()
            page.set_default_timeout(300_000)
            page.goto(f"{url}/batch-scoring")
            page.get_by_text("Upload a file, or use the sample").wait_for()
            time.sleep(1.0)  # the page's first run settled
            idle = rss_mb(process.pid)
            with _PeakSampler(process.pid) as sampler:
                started = time.perf_counter()
                page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
                scored = page.get_by_test_id("stMetric").filter(has_text="Scored")
                expect(scored).to_contain_text("1,000,000", timeout=300_000)
                shown = time.perf_counter() - started
                link = page.get_by_role("link", name="Download every row with its scores (CSV)").get_attribute("href")
                started = time.perf_counter()
                received = 0
                with urllib.request.urlopen(f"{url}/{link.removeprefix('./')}", timeout=300) as response:
                    while block := response.read(1 << 20):
                        received += len(block)
                fetched = time.perf_counter() - started
            browser.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    if received < upload.stat().st_size:
        raise RuntimeError(f"the download has {received} bytes, less than the upload")
    label = f"one session, {size_mb:,.0f} MB CSV of 1,000,000 rows"
    return [
        Measurement(f"upload to scores shown ({label})", "s", shown, shown, shown, 1),
        Measurement(f"its download fetched ({received / 1e6:,.0f} MB)", "s", fetched, fetched, fetched, 1),
        Measurement(
            f"server RSS peak above idle ({label})",
            "MB",
            sampler.peak - idle,
            sampler.peak - idle,
            sampler.peak - idle,
            1,
            baseline_name="4x the file",
            baseline_median=4 * size_mb,
            target="<= 4x the file",
        ),
    ]


def _wait(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise RuntimeError(f"condition not met within {timeout} s")


if __name__ == "__main__":
    import sys
    import tempfile

    from lib.settings import PROJECT_ROOT

    with tempfile.TemporaryDirectory() as folder:
        for m in run(PROJECT_ROOT, str(PROJECT_ROOT / "models"), Path(folder), quick="--quick" in sys.argv):
            print(f"{m.name}: {m.median:.1f} {m.unit}")
