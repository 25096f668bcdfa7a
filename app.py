"""Assembles the product: one ASGI app serving the Streamlit UI and the REST API.

Serve it with `uvicorn app:app` (see the Makefile); `streamlit run app.py` also works
but stalls on kept-alive connections. Importing this module stays cheap: the model and
the heavy libraries load in a background thread once the server is up.
"""

from __future__ import annotations

import os

# Arrow (CSV parsing, pandas' text columns) allocates through malloc rather than its own
# mimalloc pool, which keeps what a big upload used: with malloc, memory freed when a
# browser session ends goes back to the system (bench/batch_memory.py). Read when
# pyarrow is first imported, so before anything imports it.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from lib.api.routes import routes as api_routes
from lib.server.dispatch import ApiFirst
from lib.server.logs import configure_logging
from lib.server.runtime_guard import API_PREFIXES, RequestGuard, limit_malloc_arenas, run_janitor
from lib.settings import SettingsError, get_settings

limit_malloc_arenas()  # before uvicorn and Streamlit start their threads

NAVIGATION_SCRIPT = Path(__file__).resolve().parent / "navigation.py"


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Start answering at once; without a model the app still starts and says why."""
    settings = get_settings()
    # Worker threads (a batch being scored, the prediction log's writer) hand the interpreter
    # lock back to the event loop every 1 ms instead of 5: /health/live p99 during big
    # batches 67 -> 22 ms (bench/stalls.py), single-record serving unchanged.
    sys.setswitchinterval(0.001)
    configure_logging(settings, API_PREFIXES)  # again: Streamlit's runtime set up more loggers

    def warm_up() -> None:
        from lib.model_loader import loaded_model
        from lib.monitoring.decay import decay_watcher
        from lib.monitoring.log import prediction_log
        from lib.serving.shadow import shadow
        from lib.ui.warmup import warm_up as run

        prediction_log().start()  # the store opened (migrated), a killed process's spool written
        run(settings)
        decay_watcher().start(loaded_model)  # realised performance against the test split, every DECAY_CHECK_S
        shadow.start(loaded_model)  # a challenger, when one is put in shadow, scores what is served

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    stop = asyncio.Event()
    janitor = asyncio.create_task(run_janitor(stop))  # frees what ended browser sessions held
    yield
    stop.set()
    await janitor
    from lib.monitoring.decay import close_decay_watcher
    from lib.monitoring.log import close_prediction_log
    from lib.serving.shadow import shadow

    shadow.stop()
    close_decay_watcher()  # a webhook in flight gets up to 5 s
    close_prediction_log()  # what is still queued reaches the store
    from lib.storage.downloads import downloads

    downloads.clear()  # the files made for browser sessions


# The whole app as Streamlit builds it: the UI, the API routes behind its layers, RequestGuard
# (websocket origin, upload bounds, malformed API paths). `streamlit run app.py` serves this.
streamlit_app = st.App(NAVIGATION_SCRIPT, routes=api_routes(), lifespan=lifespan, middleware=[Middleware(RequestGuard)])
# What `uvicorn app:app` serves: the same, with API paths sent straight to their handlers
# (lib.server.dispatch says why); every other path goes to streamlit_app unchanged.
app = ApiFirst(api_routes(), streamlit_app)

# JSON lines from the first one uvicorn writes after importing this module (LOG_FORMAT=json);
# with a bad setting, the lifespan reports it and stops the server.
with contextlib.suppress(SettingsError):
    configure_logging(get_settings(), API_PREFIXES)
