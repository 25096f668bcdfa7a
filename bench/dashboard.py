"""Dashboard speed: the Predict form submit's script time, and server start to first page."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.browser import launch_chromium
from bench.servers import UVICORN, free_port
from bench.timing import Measurement
from lib.model_loader import load_model
from lib.settings import reload_settings


@contextmanager
def _timed_script_runs() -> Iterator[list[float]]:
    """Collect the duration of every script run (ScriptRunner._run_script) in this process.

    AppTest compiles the scripts afresh on every run, where the server's Runtime keeps one
    bytecode cache per process; the cache is shared across runs here too, so the figure is
    the server's script time, not AppTest's.
    """
    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    durations: list[float] = []
    compiled: dict[str, Any] = {}
    run_script, get_bytecode = script_runner.ScriptRunner._run_script, ScriptCache.get_bytecode

    def timed_run(self: Any, rerun_data: Any) -> None:
        started = time.perf_counter()
        try:
            run_script(self, rerun_data)
        finally:
            durations.append(time.perf_counter() - started)

    def shared_bytecode(self: Any, script_path: str) -> Any:
        key = os.path.abspath(script_path)
        if key not in compiled:
            compiled[key] = get_bytecode(self, script_path)
        return compiled[key]

    script_runner.ScriptRunner._run_script, ScriptCache.get_bytecode = timed_run, shared_bytecode
    try:
        yield durations
    finally:
        script_runner.ScriptRunner._run_script, ScriptCache.get_bytecode = run_script, get_bytecode


def _submit_times(project: Path, model_uri: str, submits: int) -> list[float]:
    """Seconds of script time per Predict submit (a full rerun), driven by Streamlit's AppTest."""
    from streamlit.testing.v1 import AppTest

    os.environ["MODEL_URI"] = model_uri
    reload_settings()
    spec = next(s for s in load_model(model_uri).schema.features if s.is_numeric)  # the first number of the form
    low, high = spec.training_range
    cast = int if spec.dtype == "int64" else float
    with _timed_script_runs() as durations:
        at = AppTest.from_file(str(project / "navigation.py"), default_timeout=60).run()
        at.switch_page("pages/predict.py").run()
        for index in range(submits + 3):
            at.number_input(key=f"field_{spec.name}").set_value(cast(low + (high - low) * (index % 10) / 10))
            at.button[0].click().run()
    if at.exception:
        raise RuntimeError(f"the Predict page failed: {at.exception}")
    return durations[-submits:]  # the first reruns warm caches and imports


def submit_script_time(project: Path, model_uri: str, quick: bool) -> list[Measurement]:
    from lib.model.compiled import PipelineScorer
    from lib.model_loader import forget_model, get_model

    submits = 10 if quick else 60
    forget_model()
    compiled = _submit_times(project, model_uri, submits)
    model = get_model()  # the process-wide instance the page used: now scored by sklearn
    model.scorer = PipelineScorer(model.pipeline, model.schema)
    naive = _submit_times(project, model_uri, submits)
    forget_model()
    naive_ms = [t * 1000 for t in naive]
    compiled_ms = [t * 1000 for t in compiled]
    naive_label = "Predict submit rerun, scored by the sklearn pipeline"
    return [
        Measurement(naive_label, "ms", statistics.median(naive_ms), min(naive_ms), max(naive_ms), len(naive_ms)),
        Measurement(
            "Predict submit rerun (script time)",
            "ms",
            statistics.median(compiled_ms),
            min(compiled_ms),
            max(compiled_ms),
            len(compiled_ms),
            baseline_name=naive_label,
            baseline_median=statistics.median(naive_ms),
            target="<= 10 ms",
        ),
    ]


MINIMAL = [*UVICORN[:3], "bench.minimal_app:app", *UVICORN[4:]]


def _start_and_render(
    command: list[str], project: Path, env: dict[str, str], browser: Any, log: Path, shown: Any
) -> tuple[float, float]:
    """Seconds from launching `command` to /_stcore/health answering, and to `shown(page)`
    returning in a fresh chromium page."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    page = browser.new_page()
    with open(log, "wb") as output:
        started = time.perf_counter()
        process = subprocess.Popen([*command, str(port)], cwd=project, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1):
                    health = time.perf_counter() - started
                    break
            except OSError:  # not listening yet
                if time.perf_counter() - started > 30:
                    raise
                time.sleep(0.01)
        page.goto(url)
        shown(page)
        return health, time.perf_counter() - started
    finally:
        page.close()
        process.terminate()
        process.wait(timeout=10)


def _overview_rendered(page: Any) -> None:
    """The whole Overview: its last block (the model card) and both charts drawn."""
    page.get_by_text("Test ROC AUC").first.wait_for(timeout=30_000)
    page.wait_for_function("document.querySelectorAll('svg.overview-chart').length >= 2", timeout=30_000)


def _minimal_rendered(page: Any) -> None:
    page.get_by_text("Rendered").first.wait_for(timeout=30_000)


def start_to_first_page(project: Path, model_uri: str, workdir: Path, quick: bool) -> list[Measurement]:
    """From `uvicorn` being started to the page fully rendered in chromium: the product's
    Overview, and a minimal st.App page as the baseline, alternately in the same run."""
    from playwright.sync_api import sync_playwright

    health, rendered, minimal = [], [], []
    environment = {**os.environ, "MODEL_URI": model_uri}
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        for attempt in range(1 if quick else 7):
            log = workdir / f"start-{attempt}.log"
            _, seconds = _start_and_render(MINIMAL, project, environment, browser, log, _minimal_rendered)
            minimal.append(seconds)
            up, seconds = _start_and_render(UVICORN, project, environment, browser, log, _overview_rendered)
            health.append(up)
            rendered.append(seconds)
        browser.close()
    return [
        Measurement(
            "server start to /_stcore/health answering",
            "s",
            statistics.median(health),
            min(health),
            max(health),
            len(health),
        ),
        Measurement(
            "server start to first rendered page (Overview, its charts drawn)",
            "s",
            statistics.median(rendered),
            min(rendered),
            max(rendered),
            len(rendered),
            baseline_name="a minimal st.App page, started and rendered the same way",
            baseline_median=statistics.median(minimal),
            target="<= 1.2x the minimal st.App",
        ),
    ]
