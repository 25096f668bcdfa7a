"""Every page in French (issue 19): the language picker, the catalogue, the locale's
numbers; a catalogue text left in English anywhere on a page fails the test."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from lib.ui.i18n import catalogue
from tests.app.conftest import PAGES

FIELDS = re.compile(r"\{\w*\}")
# Proto fields that hold what a reader sees (not ids, keys, formats or data).
PLOTLY_SHOWN = frozenset({"text", "name"})
SHOWN = {"body", "label", "help", "placeholder", "options", "caption", "value", "text", "title", "delta", "tooltip"}


def shown_texts(at: Any) -> list[str]:
    """Every text the rendered page shows: element texts, widget labels and options, table
    headers, metric cards, chart titles, axis titles and trace names, navigation entries."""
    texts: list[str] = []

    def strings(value: Any, shown: frozenset[str] | set[str], key: str = "") -> None:
        """The texts under the keys in `shown`, anywhere in a nested value."""
        if isinstance(value, str):
            if key in shown:
                texts.append(value)
        elif isinstance(value, dict):
            for name, item in value.items():
                strings(item, shown, name)
        elif isinstance(value, list):
            for item in value:
                strings(item, shown, key)

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "DESCRIPTOR"):
            found = MessageToDict(proto)
            if "spec" in found and isinstance(found["spec"], str) and found["spec"].startswith("{"):
                strings(json.loads(found["spec"]), PLOTLY_SHOWN)  # a plotly figure: titles and trace names
            else:
                strings(found, SHOWN)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    for frame in at.dataframe:  # the headers shown: a column's configured label, else its name
        labels = json.loads(frame.proto.columns or "{}")
        texts.extend((labels.get(str(column)) or {}).get("label") or str(column) for column in frame.value.columns)
    return texts


def dataset_words() -> set[str]:
    """The served dataset's own words (its config's column names, titles and categories):
    shown as the config writes them, in whatever language that is."""
    from lib.model_loader import get_model

    schema = get_model().schema
    return {word for spec in schema.features for word in (spec.name, spec.title, *(spec.categories or []))}


def english_left(texts: list[str]) -> list[str]:
    """Catalogue texts found in English: a shown text equal to a source text, or holding a
    distinctive piece of one (12 characters or more between its fields). A dataset's own
    words are not the catalogue's (a campaign dataset has a column called "job")."""
    texts = [text for text in texts if text.strip() not in dataset_words()]
    french = catalogue("fr")
    sources = {source for source, translated in french.items() if translated != source}
    pieces = {
        piece.strip(): source
        for source in sources
        for piece in FIELDS.split(source)
        if len(piece.strip()) >= 12 and piece.strip() not in french[source]
    }
    left = []
    for text in texts:
        if text.strip() in sources:
            left.append(text.strip())
        left += [f"{piece!r} (of {source!r})" for piece, source in pieces.items() if piece in text]
    return sorted(set(left))


@pytest.fixture
def in_french(open_page, env):
    """A page opened with UI_LANGUAGE=fr (the picker is driven in the browser test)."""

    def open_in_french(registry, page: str = "overview", data_config=None):
        env.set("UI_LANGUAGE", "fr")
        at = open_page(registry, page, data_config)
        assert not at.exception, at.exception
        return at

    return open_in_french


def test_the_check_finds_english_when_the_pages_are_in_english(open_page, registry_copy):
    at = open_page(registry_copy, "performance")
    found = english_left(shown_texts(at))
    assert "Decision threshold" in found and any("untouched test split" in text for text in found)


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_in_french_leaves_no_catalogue_text_in_english(in_french, registry_copy, page):
    at = in_french(registry_copy, page)
    texts = shown_texts(at)
    assert len(texts) > 10
    assert english_left(texts) == []


def test_the_pages_states_after_actions_are_french_too(in_french, registry_copy):
    at = in_french(registry_copy, "predict")
    at.button[0].click().run()  # the form's submit: prediction, reasons, what-if
    assert at.metric[0].label == "Prédiction"
    assert english_left(shown_texts(at)) == []
    at.switch_page(PAGES["performance"]).run()
    at.radio(key="performance_view").set_value("live").run()
    assert english_left(shown_texts(at)) == []
    at.switch_page(PAGES["batch"]).run()
    at.button(key="batch_sample").click().run()
    assert any(metric.label == "Lignes lues" for metric in at.metric)
    assert english_left(shown_texts(at)) == []


def test_french_numbers_and_the_configs_own_words(in_french, campaign_registry, campaign_config):
    at = in_french(campaign_registry, "business", campaign_config)
    assert at.title[0].value == "Indicateurs métier"
    profit = next(metric.value for metric in at.metric if metric.label == "Profit attendu")
    assert re.fullmatch(r"-?\d{1,3}(\u202f\d{3})*\u00a0€", profit), profit  # 12 345 €, as French writes it
    assert english_left(shown_texts(at)) == []
