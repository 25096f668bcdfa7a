"""AppTest fixtures: the real navigation script, pointed at a registry through settings."""

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lib.settings import PROJECT_ROOT
from tests.helpers import Environment

NAVIGATION = str(PROJECT_ROOT / "navigation.py")
PAGES = {
    "overview": "pages/overview.py",
    "predict": "pages/predict.py",
    "batch": "pages/batch.py",
    "performance": "pages/performance.py",
    "business": "pages/business.py",
    "distributions": "pages/distributions.py",
    "health": "pages/health.py",
    "retrain": "pages/retrain.py",
}


@pytest.fixture
def open_page(env: Environment, tmp_path: Path) -> Callable[..., AppTest]:
    """Run the app on one page with MODEL_URI (and optionally DATA_CONFIG) set."""

    def start(registry: Path, page: str = "overview", data_config: Path | None = None) -> AppTest:
        env.set("MODEL_URI", str(registry))
        env.set("MODEL_CACHE_DIR", str(tmp_path / "cache"))
        if data_config is not None:
            env.set("DATA_CONFIG", str(data_config))
        at = AppTest.from_file(NAVIGATION, default_timeout=60).run()
        if page != "overview":
            at.switch_page(PAGES[page]).run()
        return at

    return start
