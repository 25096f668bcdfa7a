"""Warm-up after the server starts: load the model and import what the pages need.

Runs in a background thread, so the server answers at once and the first visitor's
browser boots while the heavy imports (scikit-learn, plotly) and the model load happen.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any

from lib.settings import Settings

logger = logging.getLogger("app")


def warm_up(settings: Settings) -> None:
    started = time.perf_counter()
    from lib.model_loader import ModelNotAvailable, get_model
    from lib.monitoring.log import prediction_log

    log = prediction_log(settings)
    log.start()  # creates the store, so /health reports on it from the start
    if log.state != "ok":
        logger.warning("monitoring store unavailable: %s", log.reason)

    try:
        model = get_model(settings)
    except ModelNotAvailable as exc:
        logger.error("starting without a model: %s", exc.reason)
        return
    logger.info("model %s loaded from %s (%s scorer)", model.version, model.source, model.scorer.kind)
    import lib.business.portfolio
    import lib.ui.charts

    try:
        lib.business.portfolio.cached_reference_portfolio(model, settings.data_config)
    except Exception as exc:  # the pages report the same problem when they need the data
        logger.warning("reference customers not scored at start: %s", exc)
    _load_locales()  # the pages' first numbers and dates: Babel's locale data, read once
    try:
        _draw_once(lib.ui.charts, model.threshold)
    except Exception as exc:  # a chart that cannot be drawn says so on its page
        logger.warning("charts not drawn at start: %s", exc)
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise pause requests for tens of ms under load
    # (measured: POST /predict p99 at 8 connections 31-50 ms -> 9 ms).
    gc.freeze()
    logger.info("warm-up done in %.2f s", time.perf_counter() - started)


def _load_locales() -> None:
    from lib.ui import i18n

    for language in i18n.LANGUAGES:
        i18n.use(language)
        i18n.number(1234.5, 1), i18n.percent(0.5), i18n.money(1e6, "$", compact=True), i18n.date_time(0.0)
        i18n.catalogue(language)
    i18n.use("en")  # this thread's language only; each session sets its own


def _draw_once(charts: Any, threshold: float) -> None:
    """Build and serialise the figures the pages draw first: plotly imports each trace
    class and its JSON writer on first use. Done here, those long-lived imports are not
    made in the middle of a big upload's short-lived rows, where they would pin the
    freed memory in place after the upload's session ends."""
    import numpy as np

    for figure in (
        charts.probability_histogram(np.linspace(0.0, 1.0, 101), threshold),
        charts.probability_gauge(0.5, threshold),
        charts.confusion_heatmap({"tn": 1, "fp": 1, "fn": 1, "tp": 1}, "no", "yes"),
    ):
        figure.to_json()
