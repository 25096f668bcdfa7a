"""Assembles the product: one ASGI app serving the Streamlit UI and the REST API.

Serve it with `uvicorn app:app` (see the Makefile); `streamlit run app.py` also works
but stalls on kept-alive connections. Importing this module stays cheap: the model and
the heavy libraries load in a background thread once the server is up.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from lib.api import routes as api_routes
from lib.runtime_guard import RequestGuard, run_janitor
from lib.settings import get_settings

NAVIGATION_SCRIPT = Path(__file__).resolve().parent / "navigation.py"


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Start answering at once; without a model the app still starts and says why."""
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def warm_up() -> None:
        from lib.startup import warm_up as run

        run(settings)

    threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    stop = asyncio.Event()
    janitor = asyncio.create_task(run_janitor(stop))  # frees what ended browser sessions held
    yield
    stop.set()
    await janitor
    from lib.prediction_log import close_prediction_log

    close_prediction_log()  # what is still queued reaches the store


app = st.App(NAVIGATION_SCRIPT, routes=api_routes(), lifespan=lifespan, middleware=[Middleware(RequestGuard)])
