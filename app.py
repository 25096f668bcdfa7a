"""Assembles the product: one ASGI app serving the Streamlit UI (and, later, the REST API).

Serve it with `uvicorn app:app` (see the Makefile); `streamlit run app.py` also works
but stalls on kept-alive connections.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st

from lib.model_loader import ModelNotAvailable, get_model
from lib.settings import get_settings

NAVIGATION_SCRIPT = Path(__file__).resolve().parent / "navigation.py"


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    """Load the model before the first visitor; without one, the app still starts and says why."""
    settings = get_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        model = get_model(settings)
        logging.getLogger("app").info("model %s loaded from %s", model.version, model.source)
    except ModelNotAvailable as exc:
        logging.getLogger("app").error("starting without a model: %s", exc.reason)
    yield


app = st.App(NAVIGATION_SCRIPT, lifespan=lifespan)
