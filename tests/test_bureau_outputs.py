"""Charts (files and embeddable SVG) and the Excel/CSV exports, from gap maps and progress built by hand."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bureau import charts
from bureau.export import bureau_tables, export_report
from bureau.gapmap import ChainGap, GapMap, SegmentGap
from bureau.targets import TargetProgress
from graph.exceptions import ValidationError


@pytest.fixture()
def gap_map() -> GapMap:
    segs = [
        SegmentGap("s1", "己二胺", "c1", "尼龙新材料", "upstream", 1, needs=4, unmet_need_ids=["n1", "n2", "n3"],
                   achievements=2),
        SegmentGap("s2", "尼龙66聚合", "c1", "尼龙新材料", "midstream", 2, needs=2, achievements=5, deals=3,
                   deal_amount_wan=120.0),
        SegmentGap("s3", "工程塑料", "c1", "尼龙新材料", "downstream", 3),
    ]
    return GapMap([ChainGap("c1", "尼龙新材料", True, segs, [("s1", "s2"), ("s2", "s3")])])


@pytest.fixture()
def progress() -> list[TargetProgress]:
    return [
        TargetProgress("t1", "高新技术企业200家以上", "high_tech_enterprises", "高新技术企业", "stock", 200, "家", ">=",
                       2025, 2021, 2023, 120, by_year={2021: 80, 2022: 100, 2023: 120}, by_region={"宝丰县": 30},
                       gap=80, remaining_years=2, pace_needed=40, status="behind", departments=["市科技局"]),
        TargetProgress("t2", "研发投入", "rd_growth", "研发投入年增长", "rate", 20, "%", ">=", 2025, 2021, 2023, None,
                       note="图谱中没有研发投入数据", status="no_data"),
    ]


def test_chain_map_svg_embeds_and_colours_by_gap(gap_map: GapMap) -> None:
    svg = charts.render_chain_map_svg(gap_map)
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    # s1 is 3/4 unmet: a red-side colour of the map; s3 has no demand: grey
    assert charts.NO_DEMAND_COLOUR in svg
    red = charts.colormaps[charts.GAP_CMAP](0.75)
    hex_red = "#" + "".join(f"{round(c * 255):02x}" for c in red[:3])
    assert hex_red in svg


def test_chart_files_follow_the_suffix(gap_map: GapMap, progress, tmp_path: Path) -> None:
    png = charts.save_figure(charts.target_progress_figure(progress), tmp_path / "t.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = charts.save_figure(charts.segment_supply_demand_figure(gap_map), tmp_path / "s.svg")
    assert b"<svg" in svg.read_bytes()
    with pytest.raises(ValueError, match="不支持的图片格式"):
        charts.save_figure(charts.chain_map_figure(gap_map), tmp_path / "m.gif")


def test_an_installed_cjk_font_becomes_the_first_choice() -> None:
    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist if "CJK" in f.name}
    if not installed:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    name = charts.cjk_font()
    assert name in installed and matplotlib.rcParams["font.sans-serif"][0] == name


def test_xlsx_export_has_a_sheet_per_table_with_the_numbers(gap_map: GapMap, progress, tmp_path: Path) -> None:
    (path,) = export_report(bureau_tables(progress, gap_map, []), "xlsx", tmp_path / "r.xlsx")
    wb = load_workbook(path)
    assert wb.sheetnames == [
        "目标进度", "目标分年度", "目标分县区", "目标分责任单位", "产业链缺口", "卡脖子候选", "候选专题",
    ]
    by_unit = {row[:2] for row in list(wb["目标分责任单位"].values)[1:]}
    assert by_unit == {("市科技局", "高新技术企业"), ("（未指定）", "研发投入年增长")}
    rows = list(wb["目标进度"].values)
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert first["当前值"] == 120 and first["缺口"] == 80 and first["每年需完成"] == 40 and first["状态"] == "滞后"
    assert dict(zip(header, rows[2], strict=True))["状态"] == "无数据"
    ranked = list(wb["卡脖子候选"].values)
    assert ranked[1][1:3] == ("尼龙新材料", "己二胺")


def test_csv_export_writes_one_file_per_table_readable_by_excel(gap_map, progress, tmp_path: Path) -> None:
    paths = export_report(bureau_tables(progress, gap_map), "csv", tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert "产业链缺口.csv" in names and "目标分年度.csv" in names
    raw = (tmp_path / "out" / "产业链缺口.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    with (tmp_path / "out" / "目标分年度.csv").open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["年份"], r["数值"]) for r in rows] == [("2021", "80"), ("2022", "100"), ("2023", "120")]


def test_export_refuses_an_unknown_format(gap_map, progress, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="不支持的导出格式"):
        export_report(bureau_tables(progress, gap_map), "pdf", tmp_path / "x")
