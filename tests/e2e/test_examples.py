"""The second shipped example in a real browser, served with DATA_CONFIG alone: its own
words, its sentinel as a case of its own, compiled trees, and screenshots of the pages
the README shows (test-results/screenshots/campaign-*.png)."""

from playwright.sync_api import expect

from lib.settings import PROJECT_ROOT
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_dashboard import wait_until_idle


def shoot(page, name: str) -> None:
    wait_until_idle(page)
    page.wait_for_timeout(500)  # let plotly finish drawing
    assert page.locator('[data-testid="stException"]').count() == 0
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"campaign-{name}.png"), full_page=True)


def test_the_campaign_example_is_served_by_data_config_alone(start_server, browser, tall_page):
    server = start_server(DATA_CONFIG=str(PROJECT_ROOT / "data" / "campaign.toml"), MODEL_URI="")
    first = browser.new_context()  # a first visit to / (see served_app in conftest.py)
    first.new_page().goto(server.url)
    first.close()
    page = tall_page
    page.goto(server.url)
    expect(page.get_by_text("Value to win")).to_be_visible(timeout=30_000)
    shoot(page, "overview")

    page.goto(f"{server.url}/score-customer")
    expect(page.get_by_role("heading", name="Predict one customer")).to_be_visible()
    page.get_by_role("spinbutton", name="Age (years)").fill("70")
    page.get_by_role("button", name="Predict").click()
    expect(page.get_by_text("What if?")).to_be_visible()
    expect(page.get_by_text("Subscribed").first).to_be_visible()
    shoot(page, "score-customer")

    page.goto(f"{server.url}/business-kpis")
    expect(page.get_by_role("heading", name="Top prospects")).to_be_visible()
    expect(page.get_by_text("Uplift", exact=True)).to_be_visible()
    shoot(page, "business-kpis")

    page.goto(f"{server.url}/batch-scoring")
    page.get_by_role("button", name="Or score a sample of 1,000 customers from the bundled data").click()
    expect(page.get_by_text("Scored rows, most promising first")).to_be_visible(timeout=30_000)
    shoot(page, "batch-scoring")

    page.goto(f"{server.url}/service-health")
    expect(page.get_by_text("compiled_trees scorer")).to_be_visible(timeout=30_000)
