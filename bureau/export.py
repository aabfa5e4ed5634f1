"""Exports for the bureau's own reports: target progress, the gap map, candidate topics, the activity over
time and the 揭榜挂帅 challenges as an Excel workbook (one sheet per table) or as CSV files (UTF-8 with BOM, so
Excel opens the Chinese correctly). Every value is the bureau's own words: names, never ids; statuses and
positions in Chinese (:mod:`graph.zh`); a table with nothing in it says so in a row, never an empty sheet."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bureau.gapmap import GapMap
from bureau.targets import TargetProgress
from bureau.topics import TopicCandidate
from graph.exceptions import ValidationError
from graph.zh import CHAIN_POSITION_ZH, CHALLENGE_STATUS_ZH, COMPARATOR_ZH, METRIC_KIND_ZH, TARGET_STATUS_ZH
from ingest.spreadsheet import append_row, csv_cell

STATUS_ZH = TARGET_STATUS_ZH
#: the row a table with nothing in it gets (a sheet is never empty)
NOTHING = {"说明": "本期无记录"}

#: sheet / file name -> the rows' column headers (Chinese, the bureau's own words)
Table = list[dict[str, Any]]


def target_rows(progress: Sequence[TargetProgress]) -> Table:
    return [
        {
            "目标": p.name, "指标": p.metric_label, "口径": METRIC_KIND_ZH.get(p.kind, ""), "目标值": p.target_value,
            "单位": p.unit, "要求": COMPARATOR_ZH.get(p.comparator, ""), "截止年份": p.deadline_year,
            "统计年份": p.as_of_year,
            "当前值": p.current, "缺口": p.gap, "剩余年数": p.remaining_years, "每年需完成": _round(p.pace_needed),
            "基期以来年均": _round(p.pace_so_far), "按期应达": _round(p.expected_now),
            "状态": STATUS_ZH.get(p.status, p.status), "责任单位": "、".join(p.departments), "说明": p.note,
        }
        for p in progress
    ]


def department_rows(progress: Sequence[TargetProgress]) -> Table:
    """Each responsible unit with the targets it answers for (a target shared by units appears under each)."""
    from bureau.targets import progress_by_department

    return [
        {"责任单位": dept, "指标": p.metric_label, "当前值": p.current, "目标值": p.target_value, "单位": p.unit,
         "缺口": p.gap, "状态": STATUS_ZH.get(p.status, p.status)}
        for dept, rows in progress_by_department(list(progress)).items()
        for p in rows
    ]


def target_year_rows(progress: Sequence[TargetProgress]) -> Table:
    return [
        {"指标": p.metric_label, "年份": year, "数值": value, "单位": p.unit, "目标值": p.target_value}
        for p in progress
        for year, value in sorted(p.by_year.items())
    ]


def target_region_rows(progress: Sequence[TargetProgress]) -> Table:
    return [
        {"指标": p.metric_label, "县区": region, "数值": value, "单位": p.unit}
        for p in progress
        for region, value in sorted(p.by_region.items())
    ]


_GAP_HEADERS = {
    "chain": "产业链", "segment": "环节", "position": "位置", "needs": "需求数",
    "challenges": "揭榜挂帅数", "unmet_needs": "未满足需求", "open_challenges": "未揭榜", "achievements": "成果",
    "talents": "人才", "platforms": "平台", "enterprises": "可承接企业", "deals": "成交笔数",
    "deal_amount_wan": "成交额(万元)", "unmet_share": "未满足占比", "score": "卡脖子评分",
}


def _gap_row(seg: Any) -> dict[str, Any]:
    row = seg.as_row()
    row["position"] = CHAIN_POSITION_ZH.get(row["position"], "")
    return {_GAP_HEADERS[k]: v for k, v in row.items() if k in _GAP_HEADERS}


def gap_rows(gap_map: GapMap) -> Table:
    return [_gap_row(s) for s in gap_map.segments]


def chokepoint_rows(gap_map: GapMap, limit: int = 20) -> Table:
    return [{"排名": i, **_gap_row(s)} for i, s in enumerate(gap_map.ranked(limit), start=1)]


_TOPIC_HEADERS = {
    "chain": "产业链", "title": "拟定名称", "keywords": "关键词", "needs": "需求数",
    "need_names": "覆盖需求", "enterprises": "提出企业", "segments": "环节", "budget_wan": "预算估计(万元)",
    "budget_note": "预算说明", "solvers": "候选揭榜方", "solver_note": "说明",
}


def topic_rows(topics: Sequence[TopicCandidate], segment_names: dict[str, str] | None = None) -> Table:
    names = segment_names or {}
    out = []
    for t in topics:
        row = t.as_row()
        row["segments"] = "、".join(names.get(s, "") for s in t.segment_ids if names.get(s))
        out.append({_TOPIC_HEADERS[k]: v for k, v in row.items() if k in _TOPIC_HEADERS})
    return out


def trend_rows(trend: Any) -> Table:
    """The activity per year (:class:`bureau.cockpit.Trend`)."""
    return [{"年份": int(y), "发布需求": n, "评价匹配": r, "对接": d, "成交笔数": k, "成交额(万元)": a}
            for y, n, r, d, k, a in zip(trend.periods, trend.needs, trend.reviewed, trend.docked, trend.deals,
                                        trend.amount_wan, strict=True)]


def challenge_rows(challenges: Sequence[Any], segment_names: dict[str, str], applications: dict[str, int],
                   winners: dict[str, str]) -> Table:
    """Every 揭榜挂帅 challenge: its status in Chinese, segment, money, applications and winning team."""
    return [{"榜单": c.name, "状态": CHALLENGE_STATUS_ZH[c.status.value],
             "产业链环节": segment_names.get(c.segment_id or "", ""), "资金支持(万元)": c.budget_wan,
             "揭榜截止": c.deadline.isoformat() if c.deadline else "", "能力要求": "、".join(c.competences),
             "申报数": applications.get(c.id, 0), "揭榜方": winners.get(c.id, "")}
            for c in challenges]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def write_xlsx(tables: dict[str, Table], path: Path | str) -> Path:
    """One sheet per table, header row bold and frozen."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    path = Path(path)
    wb = Workbook()
    first = wb.active
    if first is not None:  # a new workbook comes with one empty sheet
        wb.remove(first)
    for name, rows in tables.items():
        ws = wb.create_sheet(title=name[:31])  # Excel's sheet-name limit
        rows = rows or [dict(NOTHING)]
        headers = list(rows[0])
        append_row(ws, headers)
        for cell in ws[1]:
            cell.font = Font(bold=True)
        ws.freeze_panes = "A2"
        for row in rows:
            append_row(ws, [_cell(row.get(h)) for h in headers])
        for i, h in enumerate(headers, start=1):
            width = max([len(str(h)) * 2, *(len(str(r.get(h) or "")) for r in rows[:200])], default=8)
            ws.column_dimensions[ws.cell(1, i).column_letter].width = min(max(8, width + 2), 60)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _atomic(path) as tmp:
        wb.save(tmp)
    return path


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path``, renamed onto it only once written in full: an interrupted export
    (Ctrl-C, a full disk) leaves no half-written report and the previous one, if any, untouched."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(tables: dict[str, Table], directory: Path | str) -> list[Path]:
    """One ``<table>.csv`` per table in ``directory``."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ValidationError(f"导出 CSV 需要一个目录，{directory} 是文件", where=str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows in tables.items():
        path = directory / f"{name}.csv"
        headers = list(rows[0]) if rows else []
        with _atomic(path) as tmp, tmp.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=headers)
            writer.writeheader()
            for row in rows:
                writer.writerow({h: csv_cell(_cell(row.get(h))) for h in headers})
        written.append(path)
    return written


def _cell(value: Any) -> Any:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, (list, tuple)):
        value = "、".join(map(str, value))
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)  # control characters a typed name may carry: Excel refuses them
    return value


def bureau_tables(
    progress: Sequence[TargetProgress], gap_map: GapMap | None, topics: Sequence[TopicCandidate] | None = None,
    trend: Any | None = None, challenges: Table | None = None,
) -> dict[str, Table]:
    """The tables of one bureau report, in the order the sheets appear (an empty table gets a row saying so)."""
    tables: dict[str, Table] = {
        "目标进度": target_rows(progress),
        "目标分年度": target_year_rows(progress),
        "目标分县区": target_region_rows(progress),
        "目标分责任单位": department_rows(progress),
    }
    segment_names = {s.segment_id: f"{s.chain_name}·{s.segment_name}" for s in gap_map.segments} if gap_map else {}
    if gap_map is not None:
        tables["产业链缺口"] = gap_rows(gap_map)
        tables["卡脖子候选"] = chokepoint_rows(gap_map)
    if topics is not None:
        tables["候选专题"] = topic_rows(topics, segment_names)
    if trend is not None:
        tables["动态趋势"] = trend_rows(trend)
    if challenges is not None:
        tables["揭榜挂帅"] = challenges
    return {name: rows or [dict(NOTHING)] for name, rows in tables.items()}


def store_challenge_rows(store: Any, segment_names: dict[str, str] | None = None) -> Table:
    """:func:`challenge_rows` of every challenge in the graph, with its applications and its winning team."""
    from graph.model import Challenge, NodeLabel

    challenges = [Challenge.from_props(p) for p in store.all_props(NodeLabel.CHALLENGE)]
    if segment_names is None:
        segment_names = {s["id"]: f"{c['name']}·{s['name']}" for c in store.chain_topology() for s in c["segments"]}
    counts = {r["c"]: int(r["n"]) for r in store.read(
        "MATCH (a:Application) RETURN a.challenge_id AS c, count(a) AS n")}
    winners = {r["c"]: r["team"] for r in store.read(
        "MATCH (a:Application {status: 'awarded'}) RETURN a.challenge_id AS c, a.team_name AS team")}
    for r in store.read("MATCH (t:Talent)-[:SOLVES]->(c:Challenge) RETURN c.id AS c, collect(t.name) AS names"):
        winners.setdefault(r["c"], "、".join(r["names"]))
    return challenge_rows(sorted(challenges, key=lambda c: c.name), segment_names, counts, winners)


def export_report(tables: dict[str, Table], fmt: str, output: Path | str) -> list[Path]:
    """Write ``tables`` as ``xlsx`` (one workbook at ``output``) or ``csv`` (files in directory ``output``)."""
    if fmt == "xlsx":
        return [write_xlsx(tables, output)]
    if fmt == "csv":
        return write_csv(tables, output)
    raise ValidationError(f"不支持的导出格式 {fmt!r}：请用 xlsx 或 csv", field="format")
