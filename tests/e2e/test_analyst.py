"""What analysts see first and hand on (issue 19), in chromium against a real server: the
Overview as a dashboard, the French interface, the dark theme, and the reports that
open offline."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from lib.model_loader import load_model
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.test_dashboard import wait_until_idle
from tests.helpers import COMMITTED_REGISTRY


@pytest.fixture(scope="module")
def model():
    return load_model(str(COMMITTED_REGISTRY))


@pytest.fixture(scope="module")
def scored_app(served_app, model):
    """The served app after 40 API predictions, so the Overview has something to chart."""
    record = {spec.name: spec.default for spec in model.schema.features}
    body = json.dumps({"records": [record] * 40}).encode()
    request = urllib.request.Request(f"{served_app.url}/predict", body, {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    return served_app


def luminance(colour: str) -> float:
    """0 (black) to 1 (white), from a computed CSS rgb()/rgba() colour."""
    parts = [float(x) for x in colour[colour.index("(") + 1 : colour.index(")")].split(",")[:3]]
    return (0.2126 * parts[0] + 0.7152 * parts[1] + 0.0722 * parts[2]) / 255


def test_the_overview_is_a_dashboard(scored_app, model, tall_page):
    page = tall_page
    page.goto(scored_app.url)
    expect(page.get_by_text("Served model", exact=True)).to_be_visible()
    wait_until_idle(page)
    activity, probabilities = (
        page.locator('svg[data-chart="activity"]'),
        page.locator('svg[data-chart="probabilities"]'),
    )
    expect(activity).to_contain_text("Predictions per hour, by source")
    assert activity.locator("rect.bar").count() >= 1  # the 40 API predictions drawn
    assert "API 40" in activity.locator("rect.bar title").first.text_content()  # its tooltip
    expect(probabilities).to_contain_text("last 7 days")
    assert probabilities.locator("rect.bar").count() > 10  # the test split's bins and the recent one
    expect(page.get_by_text(model.version, exact=True)).to_be_visible()  # the version in full
    expect(page.get_by_text(model.metadata.dataset.sha256)).to_be_visible()
    expect(page.get_by_text("Drift, last 7 days")).to_be_visible()
    expect(page.get_by_text("Open alerts", exact=True)).to_be_visible()
    page.get_by_text("What each page is for").click()
    assert page.get_by_role("link", name="API documentation").get_attribute("href") == "/docs"
    page.wait_for_timeout(500)  # plotly finishes drawing before the screenshot
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "overview-en.png"), full_page=True)


def test_charts_follow_the_dark_theme(scored_app, browser):
    context = browser.new_context(color_scheme="dark", viewport={"width": 1280, "height": 1600})
    page = context.new_page()
    page.goto(scored_app.url)
    expect(page.get_by_text("Served model", exact=True)).to_be_visible(timeout=30_000)
    wait_until_idle(page)
    background = page.locator('[data-testid="stApp"]').evaluate("e => getComputedStyle(e).backgroundColor")
    assert luminance(background) < 0.2, background  # the dark theme is on
    chart = page.locator('svg[data-chart="probabilities"]')
    expect(chart).to_be_visible()
    paper = chart.evaluate("e => getComputedStyle(e).backgroundColor")
    assert paper in ("rgba(0, 0, 0, 0)", "transparent"), paper  # no white card on a dark page
    label = chart.locator("text").first.evaluate("e => getComputedStyle(e).fill")
    assert luminance(label) > 0.5, label  # light text on the dark background
    page.goto(f"{scored_app.url}/model-performance")  # the plotly charts of the other pages too
    figure = page.locator(".js-plotly-plot").first
    expect(figure.locator(".main-svg").first).to_be_visible(timeout=30_000)
    paper = figure.locator(".main-svg").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert paper in ("rgba(0, 0, 0, 0)", "transparent"), paper
    tick = figure.locator(".xtick text").first.evaluate("e => getComputedStyle(e).fill")
    assert luminance(tick) > 0.5, tick
    context.close()


FRENCH_PAGES = [  # (the sidebar's link, the page's heading)
    ("Prédire", "Prédire pour un client"),
    ("Scoring par lot", "Scoring par lot"),
    ("Performance du modèle", "Performance du modèle"),
    ("Indicateurs métier", "Indicateurs métier"),
    ("Distributions des variables", "Distributions des variables"),
    ("Santé du service", "Santé du service"),
    ("Réentraîner", "Réentraînement et versions"),
    ("Vue d’ensemble", "Tableau de bord de prédiction"),
]


def test_the_language_picker_turns_every_page_french_for_this_session(scored_app, model, tall_page, browser):
    page = tall_page
    page.goto(scored_app.url)
    expect(page.get_by_text("Served model", exact=True)).to_be_visible()
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name="Français").click()
    expect(page.get_by_role("heading", name="Tableau de bord de prédiction")).to_be_visible()
    expect(page.get_by_text("Modèle servi", exact=True)).to_be_visible()
    base_rate = f"{model.kpis.base_rate * 100:.1f}".replace(".", ",") + "\u00a0%"
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(base_rate)  # 26,5 %, as French writes it
    wait_until_idle(page)
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / "overview-fr.png"), full_page=True)
    sidebar = page.get_by_test_id("stSidebar")
    for link, title in FRENCH_PAGES:
        sidebar.get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        wait_until_idle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
    other = browser.new_page()  # another browser session keeps the server's default
    other.goto(scored_app.url)
    expect(other.get_by_role("heading", name="Prediction dashboard")).to_be_visible(timeout=30_000)
    other.close()


@pytest.mark.parametrize(
    ("path", "charts", "shown"),
    [("model-performance", 9, "ROC curve"), ("business-kpis", 2, "Campaign simulator")],
)
def test_a_downloaded_report_opens_offline_with_its_charts(
    scored_app, model, page, browser, tmp_path, path, charts, shown
):
    page.goto(f"{scored_app.url}/{path}")
    wait_until_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download report").click()
    report = tmp_path / download.value.suggested_filename
    download.value.save_as(report)
    assert report.name == f"prediction-dashboard-{path}-{model.version}.html"

    offline = browser.new_context(offline=True)
    requests: list[str] = []

    def only_the_file(route) -> None:
        requests.append(route.request.url)
        route.continue_() if route.request.url.startswith("file:") else route.abort()

    offline.route("**/*", only_the_file)
    reader = offline.new_page()
    reader.goto(report.as_uri())
    figures = reader.locator(".js-plotly-plot")
    expect(figures).to_have_count(charts)
    for index in range(charts):
        expect(figures.nth(index).locator(".main-svg").first).to_be_visible()
    expect(reader.locator("body")).to_contain_text(model.version)
    expect(reader.locator("body")).to_contain_text(model.metadata.dataset.sha256)
    expect(reader.locator("body")).to_contain_text(shown)
    assert [url for url in requests if not url.startswith("file:")] == []  # nothing asked of a network
    area = figures.nth(0).locator(".nsewdrag").first  # interactive: hovering a bar or cell shows its value
    box = area.bounding_box()
    area.hover(position={"x": box["width"] / 2 - 2, "y": box["height"] - 4})
    area.hover(position={"x": box["width"] / 2, "y": box["height"] - 3})
    expect(figures.nth(0).locator(".hoverlayer .hovertext").first).to_be_attached()
    offline.close()
