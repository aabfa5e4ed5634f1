"""The bureau's pictures: the chain map coloured by gap, target progress over time, and demand against
supply per segment — as PNG/SVG files for the command line and as SVG strings the web pages embed.

Figures are built on :class:`matplotlib.figure.Figure` (no pyplot state), so the web service can render
them from several threads. Chinese labels need a CJK font: :func:`cjk_font` finds one (``fonts-noto-cjk``
on Debian) and, if there is none, the pictures are still drawn and a warning says the labels may be boxes.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and in CI

from matplotlib import colormaps  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bureau.gapmap import GapMap, SegmentGap  # noqa: E402
from bureau.targets import TargetProgress  # noqa: E402

log = logging.getLogger(__name__)

_CJK_HINTS = ("Noto Sans CJK", "Noto Serif CJK", "Source Han Sans", "WenQuanYi", "SimHei", "Microsoft YaHei",
              "PingFang", "AR PL", "Droid Sans Fallback")
GAP_CMAP = "RdYlGn_r"  # green: demand met, red: demand unmet
NO_DEMAND_COLOUR = "#d9d9d9"
FORMATS = ("png", "svg", "pdf")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The name of an installed CJK font, which is then made matplotlib's first sans-serif choice."""
    from matplotlib import font_manager

    names = sorted({f.name for f in font_manager.fontManager.ttflist})
    if not any(name.startswith(_CJK_HINTS) for name in names):
        # a font cache written before the CJK fonts were installed: add them from the system's font files
        for path in font_manager.findSystemFonts():
            stem = Path(path).name.replace(" ", "")
            if "CJK" in stem or "wqy" in stem.lower() or any(h.replace(" ", "") in stem for h in _CJK_HINTS):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        names = sorted({f.name for f in font_manager.fontManager.ttflist})
    for hint in _CJK_HINTS:
        for name in names:
            if name.startswith(hint):
                matplotlib.rcParams["font.sans-serif"] = [name, *matplotlib.rcParams["font.sans-serif"]]
                matplotlib.rcParams["font.family"] = "sans-serif"
                matplotlib.rcParams["axes.unicode_minus"] = False
                return name
    log.warning("no CJK font found (install fonts-noto-cjk); Chinese labels may show as boxes")
    return None


def _new_figure(width: float, height: float) -> Figure:
    cjk_font()
    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _segment_colour(seg: SegmentGap) -> str | tuple[float, float, float, float]:
    if not seg.demand:
        return NO_DEMAND_COLOUR
    return colormaps[GAP_CMAP](Normalize(0, 1)(seg.unmet_share))


def _text_colour(colour: str | tuple[float, float, float, float]) -> str:
    from matplotlib.colors import to_rgb

    r, g, b = to_rgb(colour)
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "#111111"


def chain_map_figure(gap_map: GapMap, chain_ids: Sequence[str] | None = None) -> Figure:
    """Each chain a row of its segments, upstream (left) to downstream (right), coloured by the share of
    demand left unmet; each box reads 需 demand / 缺 unmet demand / 供 supply."""
    chains = [c for c in gap_map.chains if chain_ids is None or c.chain_id in chain_ids]
    width_slots = max((len(c.segments) for c in chains), default=1)
    fig = _new_figure(max(6.0, 1.15 * width_slots + 1.4), max(2.2, 0.95 * len(chains) + 1.1))
    ax = fig.add_subplot()
    ax.set_xlim(-1.5, width_slots - 0.4)
    ax.set_ylim(len(chains) - 0.45, -0.55)
    ax.axis("off")
    ax.set_title("产业链缺口图（颜色：未满足需求占比；需=需求，缺=未满足，供=供给）", fontsize=10)
    box_w, box_h = 0.9, 0.78
    for row, chain in enumerate(chains):
        ax.text(-1.45, row, textwrap.fill(chain.name, 5), va="center", ha="left", fontsize=9, fontweight="bold")
        centres = {}
        for col, seg in enumerate(chain.segments):
            centres[seg.segment_id] = (col, row)
            colour = _segment_colour(seg)
            ink = _text_colour(colour)
            ax.add_patch(FancyBboxPatch(
                (col - box_w / 2, row - box_h / 2), box_w, box_h, boxstyle="round,pad=0.02",
                facecolor=colour, edgecolor="#555555", linewidth=0.6,
            ))
            ax.text(col, row - 0.1, textwrap.fill(seg.segment_name, 6), ha="center", va="center", fontsize=7,
                    color=ink, linespacing=1.0)
            ax.text(col, row + 0.27, f"需{seg.demand} 缺{seg.unmet_demand} 供{seg.supply}", ha="center",
                    va="center", fontsize=6, color=ink)
        # Supply edges between neighbouring segments only: the taxonomy's edges that skip segments would
        # cross the boxes between them (the web's graph view shows every edge).
        for src, dst in chain.upstream_of:
            if src in centres and dst in centres and centres[dst][0] - centres[src][0] == 1:
                (x0, y0), (x1, y1) = centres[src], centres[dst]
                ax.add_patch(FancyArrowPatch(
                    (x0 + box_w / 2, y0), (x1 - box_w / 2, y1), arrowstyle="-|>", mutation_scale=7,
                    color="#444444", linewidth=0.7,
                ))
    mappable = matplotlib.cm.ScalarMappable(norm=Normalize(0, 1), cmap=GAP_CMAP)
    bar = fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.04, pad=0.01, shrink=0.4)
    bar.set_label("未满足需求占比（灰色：暂无需求）", fontsize=8)
    return fig


def target_progress_figure(progress: Sequence[TargetProgress]) -> Figure:
    """Each target's value over the plan's years as a share of the target (100% = met); dashed: the straight
    path from the baseline to the deadline. Targets without data are named in the title."""
    fig = _new_figure(9.0, 5.2)
    ax = fig.add_subplot()
    missing = []
    for p in progress:
        if p.current is None or not p.by_year or not p.target_value:
            missing.append(p.metric_label)
            continue
        start = (p.baseline_year or min(p.by_year)) - 1  # the plan's years, plus the one before as a reference
        years = [y for y in sorted(p.by_year) if y >= start]
        if not years:
            continue
        label = f"{p.metric_label} {p.current:g}/{p.target_value:g}{p.unit}"
        if p.kind == "stock" and p.undated:
            # Some records carry no year: a yearly line would understate; show only where it stands now.
            ax.plot([p.as_of_year], [100.0 * p.current / p.target_value], marker="D", markersize=5, linestyle="",
                    label=label + "（部分无年份）")
            continue
        shares = [100.0 * p.by_year[y] / p.target_value for y in years]
        line = ax.plot(years, shares, marker="o", markersize=3, linewidth=1.2, label=label)[0]
        if p.kind in ("stock", "cumulative") and p.baseline_year and p.deadline_year:
            at_base = 100.0 * p.by_year.get(p.baseline_year, 0.0) / p.target_value if p.kind == "stock" else 0.0
            ax.plot([p.baseline_year, p.deadline_year], [at_base, 100.0],
                    linestyle="--", linewidth=0.7, color=line.get_color(), alpha=0.6)
    ax.axhline(100, color="#333333", linewidth=0.8)
    ax.set_ylabel("完成度（%）")
    ax.set_xlabel("年份")
    title = "规划目标完成进度（虚线：按期应达）"
    if missing:
        title += "\n无数据: " + "、".join(missing)
    ax.set_title(title, fontsize=10)
    locator = ax.xaxis.get_major_locator()
    if isinstance(locator, MaxNLocator):  # the default AutoLocator is one
        locator.set_params(integer=True)
    if ax.lines:
        ax.legend(fontsize=7, loc="upper left", ncols=2)
    return fig


def segment_supply_demand_figure(gap_map: GapMap, chain_id: str | None = None) -> Figure:
    """Demand (needs + challenges), unmet demand and supply (achievements, talents, platforms, enterprises)
    for each segment, one horizontal group of bars per segment."""
    segments = [s for s in gap_map.segments if chain_id is None or s.chain_id == chain_id]
    fig = _new_figure(8.5, max(2.5, 0.32 * len(segments) + 1.2))
    ax = fig.add_subplot()
    labels = [f"{s.chain_name}·{s.segment_name}" for s in segments]
    ys = list(range(len(segments)))
    h = 0.27
    ax.barh([y - h for y in ys], [s.demand for s in segments], height=h, color="#4c72b0", label="需求")
    ax.barh(ys, [s.unmet_demand for s in segments], height=h, color="#c44e52", label="未满足需求")
    ax.barh([y + h for y in ys], [s.supply for s in segments], height=h, color="#55a868", label="供给")
    ax.set_yticks(ys, labels, fontsize=6.5)
    ax.set_ylim(len(segments) - 0.5, -0.5)  # first segment on top, no empty margin
    ax.set_xlabel("数量")
    ax.set_title("各环节需求与供给", fontsize=11)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def activity_figure(trend: Any) -> Figure:
    """Needs posted, matches reviewed, docking and deals per year (:class:`bureau.cockpit.Trend`), and the deals'
    amount on a second axis."""
    fig = _new_figure(8.0, 4.2)
    ax = fig.add_subplot()
    names = [name for name, _ in trend.series()]
    width = 0.8 / max(len(names), 1)
    xs = list(range(len(trend.periods)))
    for i, (name, values) in enumerate(trend.series()):
        ax.bar([x + (i - (len(names) - 1) / 2) * width for x in xs], values, width=width, label=name)
    ax.set_xticks(xs, [f"{p}年" for p in trend.periods])
    ax.set_ylabel("件 / 笔")
    amount = ax.twinx()
    amount.plot(xs, trend.amount_wan, color="#333333", marker="o", linewidth=1.2, label="成交额（万元）")
    amount.set_ylabel("成交额（万元）")
    handles = ax.get_legend_handles_labels()[0] + amount.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + amount.get_legend_handles_labels()[1]
    ax.legend(handles, labels, fontsize=8, loc="upper left", ncols=3)
    ax.set_title("需求、匹配、对接与成交（按年）", fontsize=11)
    return fig


def county_figure(table: Any, metrics: Sequence[str] | None = None) -> Figure:
    """Each county's contribution to the plan's main metrics (:class:`bureau.cockpit.CountyTable`), one panel
    per metric, counties ranked within it."""
    chosen = [(k, label) for k, label in table.metrics if metrics is None or k in metrics] or table.metrics[:1]
    fig = _new_figure(4.0 * len(chosen), max(3.0, 0.3 * len(table.counties) + 1.2))
    for i, (key, label) in enumerate(chosen, start=1):
        ax = fig.add_subplot(1, len(chosen), i)
        ranked = [(c, v) for c, v in table.ranking(key)]
        ax.barh([c for c, _ in ranked], [v for _, v in ranked], color="#4c72b0")
        ax.invert_yaxis()
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
    fig.suptitle("各县（市、区）的贡献", fontsize=11)
    return fig


def team_coverage_figure(advice: Any) -> Figure:
    """The recommended teams of a challenge (:class:`bureau.challenges.TeamAdvice`): for each team, how much of
    each competence its best-placed member's own works show (green: covered, amber: partly, red: not seen),
    with the team's fit out of 100 in the panel's title."""
    teams = list(advice.teams) or []
    competences = list(advice.competences)
    fig = _new_figure(4.2 * max(len(teams), 1), 0.55 * len(competences) + 1.6)
    colours = {"覆盖": "#2f9e6b", "部分覆盖": "#e0b341", "未见相关成果": "#d9534f"}
    for i, team in enumerate(teams or [None], start=1):
        ax = fig.add_subplot(1, max(len(teams), 1), i)
        if team is None:
            ax.axis("off")
            ax.text(0.5, 0.5, "暂无可推荐的团队", ha="center", va="center")
            continue
        fits = team.fit.competences
        ax.barh([c.competence for c in fits], [max(c.share, 0.02) for c in fits],
                color=[colours.get(c.level, "#999999") for c in fits])
        for y, c in enumerate(fits):
            ax.text(0.02, y, c.member_name or "无人覆盖", va="center", fontsize=8, color="white" if c.share > 0.3
                    else "#333333")
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.set_title(f"第 {team.rank} 队（牵头人 {team.lead.name}）\n匹配度 {team.fit.score}/100 · {team.fit.band}",
                     fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("成果中显示的程度", fontsize=8)
    title = "推荐揭榜团队的能力覆盖"
    if advice.weak_fit:
        title += "（契合度提醒：最佳团队与榜单差距较大）"
    fig.suptitle(title, fontsize=10)
    return fig


def figure_bytes(fig: Figure, fmt: str = "svg") -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"不支持的图片格式 {fmt!r}：请用 {'、'.join(FORMATS)}")
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
    return buf.getvalue()


def save_figure(fig: Figure, path: Path | str) -> Path:
    """Write the figure; the format follows the file suffix (.png, .svg, .pdf)."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    data = figure_bytes(fig, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _svg_string(fig: Figure) -> str:
    text = figure_bytes(fig, "svg").decode("utf-8")
    return text[text.index("<svg"):]  # drop the XML prolog and doctype so it embeds in HTML


def render_chain_map_svg(gap_map: GapMap, chain_ids: Sequence[str] | None = None) -> str:
    """The chain map as an inline ``<svg>`` string for a web page."""
    return _svg_string(chain_map_figure(gap_map, chain_ids))


def render_targets_svg(progress: Sequence[TargetProgress]) -> str:
    """Target progress over time as an inline ``<svg>`` string."""
    return _svg_string(target_progress_figure(progress))


def render_segments_svg(gap_map: GapMap, chain_id: str | None = None) -> str:
    """Demand and supply per segment as an inline ``<svg>`` string."""
    return _svg_string(segment_supply_demand_figure(gap_map, chain_id))
