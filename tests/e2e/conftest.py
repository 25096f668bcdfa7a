"""A real server process (uvicorn app:app, as `make run` starts it) and a real browser."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.browser import launch_chromium
from lib.settings import PROJECT_ROOT
from tests.conftest import COMMITTED_REGISTRY
from tests.servers import Server, launch

SCREENSHOTS = PROJECT_ROOT / "test-results" / "screenshots"


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(**env: str) -> Server:
        server = launch(tmp_path, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def served_app(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[Server]:
    """The committed default model, served once for a whole test module.

    One visit to / first: in Streamlit 1.67 the first browser session after a server
    start that opens a deep link (/batch-scoring) gets a spurious "Page not found" modal
    over the right page (reproduced with a minimal `streamlit run` st.navigation app),
    and the modal makes the page inert. Later sessions are not affected.
    """
    server = launch(tmp_path_factory.mktemp("served"), MODEL_URI=str(COMMITTED_REGISTRY))
    context = browser.new_context()
    first = context.new_page()
    first.goto(server.url)
    first.get_by_text("Test ROC AUC").wait_for(timeout=30_000)
    context.close()
    yield server
    server.stop()


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
