"""A page as one self-contained HTML file an analyst can hand on: its figures (still
interactive: plotly.js is inside the file), its tables and the facts that identify what
was measured (model version, data hash, when).

The file needs no network: the pinned plotly package's own plotly.js is inlined, and a
Content-Security-Policy in the file forbids every request, so opening it offline shows
exactly what opening it online would. Every text is HTML-escaped (labels come from a
dataset's config), and JSON inside a script can never close it.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lib.ui.i18n import date_time, language, t

FILE_POLICY = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; font-src data:"
STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #161616; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; }
h1 { margin-bottom: .25rem; } h2 { margin-top: 2rem; border-bottom: 1px solid #e5e8ef; padding-bottom: .25rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; font-size: .9rem; }
dl.facts dt { color: #525252; } dl.facts dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
.chart { width: 100%; min-height: 340px; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0; }
th, td { border-bottom: 1px solid #e5e8ef; padding: .3rem .6rem; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #525252; }
"""


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    """plotly.js as the pinned plotly package ships it, safe inside a <script> element."""
    import plotly

    source = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text(encoding="utf-8")
    return _script_safe(source)


def _script_safe(text: str) -> str:
    """Text that cannot end (or open a comment in) the <script> element it sits in."""
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


@dataclass
class Block:
    kind: str  # "heading", "figure", "table" or "text"
    content: Any


@dataclass
class Report:
    """What a page showed, collected while it renders; `html()` writes the file."""

    title: str
    facts: list[tuple[str, str]]
    blocks: list[Block] = field(default_factory=list)
    language: str = field(default_factory=language)

    def heading(self, text: str) -> None:
        self.blocks.append(Block("heading", text))

    def text(self, text: str) -> None:
        self.blocks.append(Block("text", text))

    def figure(self, figure: go.Figure) -> go.Figure:
        self.blocks.append(Block("figure", figure))
        return figure

    def table(self, frame: pd.DataFrame) -> None:
        self.blocks.append(Block("table", frame.copy()))

    def chart(self, where: Any, figure: go.Figure, key: str) -> None:
        """Draw the figure on the page (`where`: st or a column) and keep it for the file."""
        where.plotly_chart(figure, key=key)
        self.figure(figure)

    def html(self) -> bytes:
        parts = [
            "<!doctype html>",
            f'<html lang="{html.escape(self.language)}"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{FILE_POLICY}">',
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style>",
            f"<script>{_plotly_js()}</script></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
            '<dl class="facts">',
            *(f"<dt>{html.escape(label)}</dt><dd>{html.escape(value)}</dd>" for label, value in self.facts),
            "</dl>",
        ]
        figures = 0
        for block in self.blocks:
            if block.kind == "heading":
                parts.append(f"<h2>{html.escape(block.content)}</h2>")
            elif block.kind == "text":
                parts.append(f'<p class="note">{html.escape(block.content)}</p>')
            elif block.kind == "table":
                parts.append(_table(block.content))
            else:
                figures += 1
                spec = _script_safe(block.content.to_json())
                parts.append(
                    f'<div class="chart" id="figure-{figures}"></div><script>(function () {{'
                    f"var figure = {spec};"
                    f'Plotly.newPlot("figure-{figures}", figure.data, figure.layout,'
                    "{responsive: true, displaylogo: false});"
                    "})();</script>"
                )
        parts.append("</body></html>")
        return "\n".join(parts).encode("utf-8")


def _table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(column))}</th>" for column in frame.columns)
    rows = []
    for values in frame.itertuples(index=False):
        cells = []
        for value in values:
            if isinstance(value, float | int) and not isinstance(value, bool):
                shown = _number(value)
                cells.append(f'<td class="number">{shown}</td>')
            else:
                cells.append(f"<td>{html.escape('' if value is None else str(value))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _number(value: float | int) -> str:
    if pd.isna(value):
        return ""
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def model_facts(model: Any) -> list[tuple[str, str]]:
    """What identifies the figures of a report: the model, its data, and when."""
    dataset = model.metadata.dataset
    return [
        (t("Model version"), model.version),
        (t("Model family"), model.metadata.model.family.replace("_", " ")),
        (t("Trained"), date_time(model.metadata.created_at)),
        (t("Data"), f"{dataset.name} ({dataset.rows_used:,})"),
        (t("Data sha256"), dataset.sha256),
        (t("Report made"), date_time(datetime.now(UTC))),
    ]


def file_name(page: str, version: str) -> str:
    """prediction-dashboard-<page>-<version>.html, with nothing a file system minds."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", f"prediction-dashboard-{page}-{version}") + ".html"
