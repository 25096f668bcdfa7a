"""Small static charts as inline SVG, for the Overview.

The Overview is the first page a browser opens: drawn with plotly, its two charts made the
browser fetch and start plotly.js before anything else (about a second of the first render,
bench/dashboard.py). These are a few hundred bytes of SVG instead. Text and grid lines use
`currentColor`, so they take the theme's text colour, light or dark, with no background
of their own; every bar has a tooltip (an SVG <title>). Labels are HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from lib.ui.i18n import number, percent
from lib.ui.palette import MUTED, OPPORTUNITY_COLOURS, PRIMARY, RISK_COLOURS

WIDTH, HEIGHT = 440, 250  # about the size it is drawn at, so the text keeps its size
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 44, 24  # room for the axis labels, the title and the legend
PALETTE = (PRIMARY, *RISK_COLOURS[:1], *OPPORTUNITY_COLOURS[:1], MUTED)
REFERENCE = MUTED


def _frame(title: str, name: str, body: list[str], legend: Sequence[tuple[str, str]]) -> str:
    keys = []
    x = LEFT
    for label, colour in legend:  # under the title
        keys.append(
            f'<rect x="{x}" y="25" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="34" font-size="12">{escape(label)}</text>'
        )
        x += 24 + 7 * len(label)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" data-chart="{escape(name)}" class="overview-chart" '
        'style="width:100%;height:auto;color:inherit;fill:currentColor;font-family:inherit">'
        f'<text x="{LEFT}" y="16" font-size="14" font-weight="600">{escape(title)}</text>'
        + "".join(keys)
        + "".join(body)
        + "</svg>"
    )


def _y_axis(top: float, formatted: str) -> list[str]:
    """Three grid lines (0, half, top) with the top value labelled."""
    plot_h = HEIGHT - TOP - BOTTOM
    lines = []
    for share in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - share)
        lines.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="currentColor" '
            'stroke-opacity="0.2"/>'
        )
    lines.append(f'<text x="{LEFT - 6}" y="{TOP + 4}" font-size="12" text-anchor="end">{escape(formatted)}</text>')
    lines.append(f'<text x="{LEFT - 6}" y="{HEIGHT - BOTTOM + 4}" font-size="12" text-anchor="end">0</text>')
    return lines


def stacked_bars(
    title: str,
    name: str,
    points: Sequence[tuple[str, dict[str, int]]],
    series: Sequence[str],
    ticks: Sequence[tuple[int, str]],
) -> str:
    """Counts per step (one bar each, stacked by series), `ticks`: (index, label) under the axis."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max((sum(values.values()) for _, values in points), default=0) or 1
    step = plot_w / max(1, len(points))
    body = _y_axis(top, number(top))
    for index, (label, values) in enumerate(points):
        base = 0.0
        for position, key in enumerate(series):
            count = values.get(key, 0)
            if not count:
                continue
            height = plot_h * count / top
            y = TOP + plot_h - base - height
            body.append(
                f'<rect class="bar" x="{LEFT + index * step:.2f}" y="{y:.2f}" width="{max(step * 0.85, 1):.2f}" '
                f'height="{height:.2f}" fill="{PALETTE[position % len(PALETTE)]}">'
                f"<title>{escape(label)}: {escape(key)} {number(count)}</title></rect>"
            )
            base += height
    for index, label in ticks:
        x = LEFT + (index + 0.5) * step
        body.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="12" text-anchor="middle">{escape(label)}</text>'
        )
    legend = [(key, PALETTE[i % len(PALETTE)]) for i, key in enumerate(series)]
    return _frame(title, name, body, legend)


def overlaid_shares(
    title: str,
    name: str,
    bins: Sequence[str],
    reference: tuple[str, Sequence[float]],
    recent: tuple[str, Sequence[float]],
    tick_every: int = 4,
) -> str:
    """Two distributions over the same bins (shares of 1), the recent one in front."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max([*reference[1], *recent[1], 0.01])
    step = plot_w / max(1, len(bins))
    body = _y_axis(top, percent(top, 0))
    for (label, shares), colour, opacity in ((reference, REFERENCE, 0.7), (recent, PALETTE[0], 0.65)):
        for index, share in enumerate(shares):
            if share <= 0:
                continue
            height = plot_h * share / top
            body.append(
                f'<rect class="bar" x="{LEFT + index * step + step * 0.1:.2f}" y="{TOP + plot_h - height:.2f}" '
                f'width="{step * 0.8:.2f}" height="{height:.2f}" fill="{colour}" fill-opacity="{opacity}">'
                f"<title>{escape(bins[index])}: {escape(label)} {percent(share)}</title></rect>"
            )
    for index in range(0, len(bins), tick_every):
        x = LEFT + (index + 0.5) * step
        body.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="12" text-anchor="middle">'
            f"{escape(bins[index].split('–')[0])}</text>"
        )
    return _frame(title, name, body, [(reference[0], REFERENCE), (recent[0], PALETTE[0])])
