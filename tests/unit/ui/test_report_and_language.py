"""The downloadable report's file and the pages' locale formatting, without a browser."""

import json
import re

import pandas as pd
import plotly.graph_objects as go
import pytest

from lib.ui import i18n
from lib.ui.report import Report, file_name


@pytest.fixture(autouse=True)
def english():
    i18n.use("en")
    yield
    i18n.use("en")


def test_a_report_is_one_file_that_escapes_what_a_config_may_write():
    hostile = '<script>alert("x")</script>'
    report = Report("Model <performance>", [("Model version", "v1"), ("Data sha256", "ab" * 32)])
    report.heading(hostile)
    report.table(pd.DataFrame({"segment": [hostile], "rate": [0.25], "value": [1_234_567.0]}))
    report.figure(go.Figure(data=[{"type": "bar", "x": [hostile], "y": [1]}], layout={"title": {"text": hostile}}))
    report.figure(go.Figure(data=[{"type": "scatter", "x": [0, 1], "y": [0, 1]}]))
    page = report.html().decode()
    assert page.count("<script") == 1 + 2  # plotly.js once, then one call per figure
    assert hostile not in page  # never as markup, in text or inside a figure's JSON
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    first = re.search(r"var figure = (.*?);Plotly\.newPlot", page).group(1)
    assert json.loads(first)["layout"]["title"]["text"] == hostile  # kept, yet unable to close its element
    assert "Model &lt;performance&gt;" in page and "ab" * 32 in page
    assert "1,234,567" in page and ">0.25<" in page
    assert "default-src 'none'" in page  # the file itself forbids every request
    head, _, rest = page.partition("<script>")
    around = head + rest.partition("</script>")[2]  # the page without plotly.js (whose code names links)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", around)  # nothing loaded from a network
    assert page.count('id="figure-') == 2


def test_report_file_names_carry_the_page_and_version_and_nothing_else():
    assert file_name("model-performance", "20261126T101010Z-abc123") == (
        "prediction-dashboard-model-performance-20261126T101010Z-abc123.html"
    )
    assert "/" not in file_name("x", "../../etc/passwd") and " " not in file_name("x", "a b")


def test_numbers_percentages_money_and_dates_follow_the_language():
    assert (i18n.number(1234.5, 1), i18n.percent(0.265), i18n.money(1234.4, "$")) == ("1,234.5", "26.5%", "$1,234")
    assert i18n.date_time("2026-11-26T10:12:00Z", with_time=False) == "Nov 26, 2026"
    i18n.use("fr")
    assert i18n.number(1234.5, 1) == "1\u202f234,5"
    assert i18n.percent(0.265) == "26,5\u00a0%"
    assert i18n.money(1234.4, "€") == "1\u202f234\u00a0€"
    assert i18n.date_time("2026-11-26T10:12:00Z", with_time=False) == "26 nov. 2026"
    assert i18n.t("Overview") == "Vue d’ensemble"
    assert i18n.t("Served: **{version}**", version="v1") == "Servie : **v1**"


def test_every_translation_keeps_the_fields_of_its_source():
    fields = re.compile(r"\{(\w*)\}")
    for source, translated in i18n.catalogue("fr").items():
        assert sorted(fields.findall(source)) == sorted(fields.findall(translated)), source
        assert translated.strip(), source


def catalogue_sources() -> set[str]:
    """Every literal the UI code passes to t() or N_() (pages, navigation, lib/ui)."""
    import ast

    from lib.settings import PROJECT_ROOT

    files = [
        PROJECT_ROOT / "navigation.py",
        *(PROJECT_ROOT / "pages").glob("*.py"),
        *(PROJECT_ROOT / "lib/ui").glob("*.py"),
    ]
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("t", "N_"):
                first = node.args[0] if node.args else None
                assert not isinstance(first, ast.JoinedStr), (
                    f"{path.name}:{node.lineno}: an f-string in {node.func.id}()"
                )
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
    return found


def test_the_french_catalogue_has_every_text_of_the_pages_and_nothing_else():
    sources, french = catalogue_sources(), i18n.catalogue("fr")
    assert len(sources) > 400
    assert sorted(sources - set(french)) == []  # a text the pages show, without its French
    assert sorted(set(french) - sources) == []  # a translation no page uses any more


def test_the_overviews_table_and_charts_escape_what_a_config_may_write():
    from lib.ui import svg_charts
    from lib.ui.overview import markdown_table

    hostile = "a|b *x* [link](javascript:alert(1)) <img src=x onerror=alert(1)>"
    table = markdown_table([{"feature": hostile, "PSI": "0.5"}])
    row = table.splitlines()[2]
    assert row.count("|") - row.count("\\|") == 3  # the title's pipe cannot add a column
    assert "\\[link\\]\\(" in row and "\\<img" in row  # neither a link nor a tag for Markdown
    svg = svg_charts.stacked_bars(hostile, "x", [(hostile, {hostile: 2})], [hostile], [(0, hostile)])
    assert "<img" not in svg and "&lt;img" in svg
