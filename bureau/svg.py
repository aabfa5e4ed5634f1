"""Small charts drawn as inline SVG for the web pages: target progress bars, grouped columns over the years,
rankings, stacked status bars and a challenge's competence coverage.

Text stays text (``<text>`` elements, drawn by the browser in the reader's own CJK font, selectable and
readable at any zoom); every chart has a ``viewBox`` and scales to its box, and its rows put the label above
the bar, so a chart 420 units wide still reads at a phone's width. Labels are escaped; no script, no
``<style>`` element (the page's stylesheet colours the classes). ``bureau.charts`` draws the same pictures
with matplotlib for PNG/SVG files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from graph.zh import TARGET_STATUS_ZH as _STATUS_NAMES

WIDTH = 420
#: status of a target or a competence -> the bar's colour
STATUS_COLOUR = {"achieved": "#2f9e6b", "on_track": "#4c8bd6", "behind": "#d9822b", "no_data": "#b8c0c8",
                 "unknown_metric": "#b8c0c8", "覆盖": "#2f9e6b", "部分覆盖": "#e0b341", "未见相关成果": "#d9534f"}
SERIES_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")


def _t(x: float, y: float, text: str, size: int = 13, anchor: str = "start", cls: str = "",
       weight: str = "") -> str:
    extra = f' class="{cls}"' if cls else ""
    extra += f' font-weight="{weight}"' if weight else ""
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")


def _svg(height: float, body: list[str], title: str, cls: str = "chart") -> Markup:
    return Markup(
        f'<svg class="{cls}" viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.1f}"


@dataclass
class Bar:
    """One row of a bar chart: the label above, the bar (share of the full width), a text at the right."""

    label: str
    share: float  # 0..1 (more is drawn as full)
    text: str = ""
    status: str = ""  # a key of STATUS_COLOUR
    marker: float | None = None  # 0..1: where the bar should be by now (drawn as a tick)
    note: str = ""  # a second, smaller line under the bar


def bar_chart(rows: Sequence[Bar], title: str, marker_label: str = "按期应达") -> Markup:
    """Horizontal bars, one row each, labels above the bars (reads at phone width)."""
    row_h, y = 48, 6
    body: list[str] = []
    for row in rows:
        h = row_h + (16 if row.note else 0)
        body.append(_t(0, y + 16, row.label, 15, cls="lbl"))
        if row.text:
            body.append(_t(WIDTH, y + 16, row.text, 13, "end", cls="val"))
        body.append(f'<rect x="0" y="{y + 23}" width="{WIDTH}" height="13" rx="3" fill="#e9edf1"/>')
        share = min(max(row.share, 0.0), 1.0)
        if share > 0:
            colour = STATUS_COLOUR.get(row.status, SERIES_COLOURS[0])
            body.append(f'<rect x="0" y="{y + 23}" width="{max(share * WIDTH, 2):.1f}" height="13" rx="3" '
                        f'fill="{colour}"/>')
        if row.marker is not None:
            mx = min(max(row.marker, 0.0), 1.0) * WIDTH
            body.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="{y + 19}" y2="{y + 40}" stroke="#1f2933" '
                        f'stroke-width="2.5"><title>{escape(marker_label)}</title></line>')
        if row.note:
            body.append(_t(0, y + 53, row.note, 12, cls="note"))
        y += h
    return _svg(y + 2, body, title)


def column_chart(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], title: str,
                 unit: str = "") -> Markup:
    """Grouped columns: one group per category (a year), one column per series, a legend on top."""
    top, bottom, left = 40, 24, 34
    height = 250
    plot_h = height - top - bottom
    plot_w = WIDTH - left - 4
    peak = _nice_max(max((v for _, values in series for v in values), default=0))
    body: list[str] = []
    x = 0.0
    for i, (name, _) in enumerate(series):  # legend
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        body.append(f'<rect x="{x:.1f}" y="4" width="12" height="12" rx="2" fill="{colour}"/>')
        body.append(_t(x + 16, 15, name, 14))
        x += 26 + 14 * len(name)
    if unit:
        body.append(_t(0, 32, unit, 11, cls="note"))
    for frac in (0, 0.5, 1):
        gy = top + plot_h * (1 - frac)
        body.append(f'<line x1="{left}" x2="{WIDTH}" y1="{gy:.1f}" y2="{gy:.1f}" stroke="#d9dee4"/>')
        body.append(_t(left - 4, gy + 4, _fmt(peak * frac), 10, "end", cls="note"))
    n = max(len(categories), 1)
    group_w = plot_w / n
    bar_w = max(min((group_w - 6) / max(len(series), 1), 22), 2)
    for c, cat in enumerate(categories):
        gx = left + c * group_w + (group_w - bar_w * len(series)) / 2
        for s, (name, values) in enumerate(series):
            value = values[c] if c < len(values) else 0
            h = plot_h * value / peak
            colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
            bx = gx + s * bar_w
            body.append(f'<rect x="{bx:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                        f'fill="{colour}"><title>{escape(f"{cat} {name} {_fmt(value)}")}</title></rect>')
            if value and bar_w >= 12:
                body.append(_t(bx + bar_w / 2, top + plot_h - h - 3, _fmt(value), 9, "middle", cls="note"))
        body.append(_t(left + c * group_w + group_w / 2, height - 6, cat, 13, "middle"))
    return _svg(height, body, title)


def stacked_bars(rows: Sequence[tuple[str, Sequence[tuple[str, float]]]], title: str) -> Markup:
    """One bar per row split into parts (status -> count), label above, counts at the right."""
    row_h, y = 44, 6
    legend = list(dict.fromkeys(status for _, parts in rows for status, v in parts if v))
    body: list[str] = []
    x = 0.0
    for status in legend:
        body.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" rx="2" fill="{STATUS_COLOUR.get(status)}"/>')
        name = _STATUS_NAMES.get(status, status)
        body.append(_t(x + 16, y + 11, name, 13))
        x += 26 + 14 * len(name)
    y += 20
    peak = max((sum(v for _, v in parts) for _, parts in rows), default=1) or 1
    for label, parts in rows:
        body.append(_t(0, y + 15, label, 15, cls="lbl"))
        total = sum(v for _, v in parts)
        body.append(_t(WIDTH, y + 15, f"{_fmt(total)} 项", 13, "end", cls="val"))
        bx = 0.0
        for status, value in parts:
            if not value:
                continue
            w = WIDTH * value / peak
            tip = f"{label} {_STATUS_NAMES.get(status, status)} {_fmt(value)}"
            body.append(f'<rect x="{bx:.1f}" y="{y + 21}" width="{w:.1f}" height="13" '
                        f'fill="{STATUS_COLOUR.get(status)}"><title>{escape(tip)}</title></rect>')
            bx += w
        y += row_h
    return _svg(y, body, title)



def coverage_chart(competences: Sequence[object], title: str) -> Markup:
    """A team's coverage of a challenge's competences (:class:`bureau.challenges.CompetenceFit` rows): how much
    of each competence the best member's best work shows, who, and which work."""
    rows = []
    for c in competences:
        work, terms = getattr(c, "work_title", ""), getattr(c, "terms", [])
        note = (f"「{work}」" + (f"  相关词：{'、'.join(terms)}" if terms else "")) if work else "未见相关成果"
        rows.append(Bar(label=getattr(c, "competence", ""), share=getattr(c, "share", 0.0),
                        text=getattr(c, "member_name", "") or "无人覆盖", status=getattr(c, "level", ""),
                        note=note[:46]))
    return bar_chart(rows, title)
