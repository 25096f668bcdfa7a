"""A real server process (uvicorn app:app, as `make run` starts it) and a real browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lib.settings import PROJECT_ROOT
from tests.helpers import COMMITTED_REGISTRY
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
