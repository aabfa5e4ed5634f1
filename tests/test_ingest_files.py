"""Files as people send them (issue 14): cut off, with rows the reader refuses, workbooks with instruction
sheets, title rows, merged cells and formulas, JSON of the wrong types, invisible characters. One test per case."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from graph.exceptions import ValidationError
from graph.model import NodeLabel
from ingest.loader import Loader, ingest_file
from ingest.mapping import ERROR_COLUMN, EXTRA_COLUMN, ROW_COLUMN
from ingest.readers import ReadLimits

HEADER = "成果名称,成果简介,所属行业,成熟度\n"


def _load(store, path: Path, **kw):
    kw.setdefault("progress", False)
    kw.setdefault("rejects_dir", path.parent / "rejects")
    return ingest_file(store, path, **kw)


def _names(store) -> list[str]:
    return sorted(r["name"] for r in store.list_props(NodeLabel.ACHIEVEMENT))


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(path.open(encoding="utf-8-sig", newline="")))


# --- files cut off ---------------------------------------------------------------------------------


def test_a_truncated_last_row_is_rejected_with_its_number_not_loaded_half(store, tmp_path):
    # a download that stopped inside the last achievement's description: its later columns never came
    path = tmp_path / "achievements.csv"
    path.write_text(HEADER + "尼龙66热稳定剂,改善黄变,新材料,中试\n碳纤维复合材料,一种碳纤维增强", encoding="utf-8")
    report = _load(store, path)
    assert (report.created, report.rejected) == (1, 1)
    [error] = report.errors
    assert error.row == 3 and "截断" in error.reason and "只有 2 列，表头有 4 列" in error.reason
    assert _names(store) == ["尼龙66热稳定剂"]


def test_an_unclosed_quote_at_the_end_of_the_file_is_a_rejected_row(store, tmp_path):
    path = tmp_path / "achievements.csv"
    path.write_text(HEADER + '尼龙66热稳定剂,改善黄变,新材料,中试\n碳纤维复合材料,"一种碳纤维\n增强尼龙,新材料,中试\n',
                    encoding="utf-8")
    report = _load(store, path)
    assert (report.created, report.rejected) == (1, 1)
    [error] = report.errors
    assert error.row == 3 and "引号没有闭合" in error.reason and "截断" in error.reason
    assert _names(store) == ["尼龙66热稳定剂"]


def test_a_cut_inside_a_utf8_character_rejects_only_the_last_row(store, tmp_path):
    data = (HEADER + "尼龙66热稳定剂,改善黄变,新材料,中试\n碳纤维复合材料,一种碳纤维增强尼龙,新材料,中试").encode()
    path = tmp_path / "achievements.csv"
    path.write_bytes(data[:-2])  # the last 试 loses its last two bytes
    report = _load(store, path)
    assert report.encoding == "utf-8-sig"
    assert (report.created, report.rejected) == (1, 1)
    assert report.errors[0].row == 3 and "最后一个字符不完整" in report.errors[0].reason
    # the cells that did arrive are in the reject file, to be completed and loaded again
    rejected = _rows(Path(report.rejects_file))
    assert rejected[1][:3] == ["碳纤维复合材料", "一种碳纤维增强尼龙", "新材料"]
    assert _names(store) == ["尼龙66热稳定剂"]


# --- reject files keep what the reader refused -----------------------------------------------------


def test_rows_the_reader_refuses_keep_their_cells_and_the_fixed_reject_file_loads(store, tmp_path):
    path = tmp_path / "achievements.csv"
    long_text = "很长的简介" * 20  # 100 characters, over the limit below
    path.write_text(HEADER
                    + "尼龙66热稳定剂,改善黄变,新材料,中试\n"
                    + "碳纤维复合材料,一种碳纤维,增强尼龙,新材料,中试\n"  # an unquoted comma: five cells
                    + f"锂电池正极,{long_text},新能源,小试\n", encoding="utf-8")
    loader = Loader(store, progress=False, rejects_dir=tmp_path / "rejects", limits=ReadLimits(max_cell_chars=50))
    report = loader.load(path)
    assert (report.created, report.rejected) == (1, 2)
    rejects = Path(report.rejects_file)
    lines = _rows(rejects)
    assert lines[0] == ["成果名称", "成果简介", "所属行业", "成熟度", f"{EXTRA_COLUMN}1", ERROR_COLUMN, ROW_COLUMN]
    assert lines[1][:5] == ["碳纤维复合材料", "一种碳纤维", "增强尼龙", "新材料", "中试"]
    assert lines[2][:5] == ["锂电池正极", long_text, "新能源", "小试", ""]
    assert [r[-1] for r in lines[1:]] == ["3", "4"]
    # loaded again unfixed: refused again, for the same reasons
    again = loader.load(rejects)
    assert (again.created, again.rejected) == (0, 2)
    # the clerk merges the split description back and shortens the long one; the fixed file loads
    lines[1][1:5] = ["一种碳纤维,增强尼龙", "新材料", "中试", ""]
    lines[2][1] = "高镍正极材料"
    with rejects.open("w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(lines)
    fixed = loader.load(rejects, entity="achievement")
    assert (fixed.created, fixed.rejected) == (2, 0)
    by_name = {r["name"]: r for r in store.list_props(NodeLabel.ACHIEVEMENT)}
    assert by_name["碳纤维复合材料"]["description"] == "一种碳纤维,增强尼龙"
    assert by_name["锂电池正极"]["industry"] == "新能源"


def test_a_broken_json_line_is_kept_verbatim_in_the_reject_file(store, tmp_path):
    path = tmp_path / "achievements.jsonl"
    path.write_text('{"name": "尼龙", "maturity": "中试"}\n{"name": "碳纤维", "maturity" "中试"}\n', encoding="utf-8")
    report = _load(store, path)
    assert report.rejected == 1 and "缺少冒号" in report.errors[0].reason
    [line] = [json.loads(x) for x in Path(report.rejects_file).read_text(encoding="utf-8").splitlines()]
    assert line["_raw"] == '{"name": "碳纤维", "maturity" "中试"}' and line["_row"] == 2


# --- several files, one of them bad ----------------------------------------------------------------


def test_a_multi_file_run_loads_every_good_file_and_names_each_bad_one(tmp_path, monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setenv("TECHMATCH_DATA_DIR", str(tmp_path / "data"))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a_empty.csv").write_bytes(b"")  # first in the directory
    (inbox / "b_cut.xlsx").write_bytes(b"PK\x03\x04 not a whole workbook")
    (inbox / "c_achievements.csv").write_text(HEADER + "尼龙66热稳定剂,改善黄变,新材料,中试\n", encoding="utf-8")
    single = tmp_path / "needs.csv"
    single.write_text("需求名称,需求描述\n尼龙切片黄变,熔融保持后发黄\n", encoding="utf-8")
    code = main(["ingest", str(inbox), str(tmp_path / "missing.csv"), str(single), "--no-classify", "-q",
                 "--rejects", str(tmp_path / "rejects"), "--json", str(tmp_path / "report.json")])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    failed = [line for line in lines if line.startswith("✗ ")]
    assert len(failed) == 3
    assert any("missing.csv：没有载入：文件或目录不存在" in line for line in failed)
    assert any("a_empty.csv：没有载入：文件是空的" in line for line in failed)
    assert any("b_cut.xlsx：没有载入：不是可读的 .xlsx 工作簿" in line for line in failed)
    assert "c_achievements.csv（科技成果）：读取 1 行，新建 1" in out
    assert "needs.csv（技术需求）：读取 1 行，新建 1" in out
    summary = lines[-1]
    assert summary.startswith("完成：2 个文件已载入") and "3 个没有载入" in summary
    assert all(name in summary for name in ("missing.csv", "a_empty.csv", "b_cut.xlsx"))
    reports = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert sum(1 for r in reports if r.get("failed")) == 3 and sum(1 for r in reports if "created" in r) == 2


# --- workbooks -------------------------------------------------------------------------------------


def _workbook(path: Path, *sheets: tuple[str, list[list]], merges: dict[str, list[str]] | None = None) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        for ref in (merges or {}).get(title, []):
            ws.merge_cells(ref)
    wb.save(path)
    return path


ACH = ["成果名称", "成果简介", "所属行业", "成熟度"]


def test_data_after_an_instruction_sheet_is_found_or_chosen(store, tmp_path):
    path = _workbook(tmp_path / "成果.xlsx",
                     ("填写说明", [["字段", "说明"], ["成果名称", "必填"], ["成熟度", "研发/小试/中试/样品/产业化"]]),
                     ("成果清单", [ACH, ["尼龙66热稳定剂", "改善黄变", "新材料", "中试"]]))
    report = _load(store, path)
    assert (report.sheet, report.header_row, report.created, report.rejected) == ("成果清单", 1, 1, 0)
    assert any("跳过了说明页“填写说明”" in n for n in report.notes)
    # or said: by name or by number (the CLI's --sheet, the upload's sheet field)
    assert _load(store, path, sheet="2").unchanged == 1
    with pytest.raises(ValidationError, match="没有名为“数据”的工作表") as info:
        _load(store, path, sheet="数据")
    assert info.value.field == "sheet"


def test_title_rows_above_the_header_are_skipped_or_the_header_row_is_given(store, tmp_path):
    path = _workbook(tmp_path / "成果.xlsx",
                     ("Sheet1", [["2024年平顶山市科技成果汇总表", None, None, None], [None, None, None, "单位：万元"],
                                 ACH, ["尼龙66热稳定剂", "改善黄变", "新材料", "中试"], ["", "缺名称", "", ""]]),
                     merges={"Sheet1": ["A1:D1"]})
    report = _load(store, path)
    assert (report.header_row, report.created, report.rejected) == (3, 1, 1)
    assert report.errors[0].row == 5  # the row Excel shows
    assert any("表头在第 3 行" in n for n in report.notes)
    assert store.list_props(NodeLabel.ACHIEVEMENT)[0]["prov_row"] == 4
    given = _load(store, path, header_row=3)
    assert (given.header_row, given.unchanged) == (3, 1)
    # the reject file starts at the header: fixed, it loads
    ws = load_workbook(report.rejects_file).active
    assert [c.value for c in ws[1]] == [*ACH, ERROR_COLUMN, ROW_COLUMN]
    ws["A2"] = "补上的名称"
    ws.parent.save(report.rejects_file)
    assert _load(store, Path(report.rejects_file), entity="achievement").created == 1


def test_a_merged_industry_cell_is_filled_down_and_said_so(store, tmp_path):
    rows = [ACH, ["尼龙66热稳定剂", "改善黄变", "新材料", "中试"], ["碳纤维复合材料", "碳纤维增强", None, "样品"],
            ["芳纶纸", "绝缘纸", None, "小试"], ["锂电池正极", "高镍", "新能源", "小试"]]
    path = _workbook(tmp_path / "成果.xlsx", ("成果", rows), merges={"成果": ["C2:C4"]})
    report = _load(store, path)
    assert (report.created, report.merged_cells_filled, report.merged_filled) == (4, 2, ["C2:C4（所属行业）"])
    assert any("合并单元格已按列向下填充" in n and "C2:C4" in n for n in report.notes)
    industry = {r["name"]: r["industry"] for r in store.list_props(NodeLabel.ACHIEVEMENT)}
    assert industry == {"尼龙66热稳定剂": "新材料", "碳纤维复合材料": "新材料", "芳纶纸": "新材料",
                        "锂电池正极": "新能源"}


def _with_cached_value(path: Path, cell: str, value: str) -> None:
    """Give one formula cell a cached value, as Excel does when it saves (openpyxl writes none)."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    src = members["xl/worksheets/sheet1.xml"].decode()
    start = src.index(f'<c r="{cell}"')
    end = src.index("</c>", start)
    cached = re.sub(r"<v\s*/>|<v></v>", f"<v>{value}</v>", src[start:end])  # lxml and ElementTree differ
    members["xl/worksheets/sheet1.xml"] = (src[:start] + cached + src[end:]).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def test_a_formula_without_a_cached_value_rejects_its_row_naming_the_cell(store, tmp_path):
    rows = [["成果名称", "成果简介", "价格（万元）"], ["尼龙66热稳定剂", "改善黄变", 50],
            ["碳纤维复合材料", "增强", "=C2*2"], ["芳纶纸", "绝缘", "=C2+10"], ["锂电池正极", "高镍", 30],
            ["钠电池", "低成本", 20], ["=A5&\"（二期）\"", "同上", 10]]
    path = _workbook(tmp_path / "成果.xlsx", ("Sheet1", rows))
    _with_cached_value(path, "C4", "60")  # saved in Excel: the value is read
    report = _load(store, path)
    assert (report.created, report.rejected) == (4, 2)
    assert [str(e) for e in report.errors] == [
        "第 3 行：C3 是公式但没有计算结果，请在 Excel 中打开并保存后再上传",
        "第 7 行：A7 是公式但没有计算结果，请在 Excel 中打开并保存后再上传",
    ]
    prices = {r["name"]: r.get("price_wan") for r in store.list_props(NodeLabel.ACHIEVEMENT)}
    assert prices == {"尼龙66热稳定剂": 50.0, "芳纶纸": 60.0, "锂电池正极": 30.0, "钠电池": 20.0}


def test_the_entity_of_a_workbook_is_guessed_from_its_headers(store, tmp_path):
    # no hint in the file name, a title row and an instruction sheet first: the headers still say enterprise
    path = _workbook(tmp_path / "data.xlsx", ("说明", [["请按下表填写"]]),
                     ("Sheet2", [["平顶山市企业名录"], ["企业名称", "统一社会信用代码", "企业规模"],
                                 ["平顶山市新材料科技有限公司", "", "小型"]]))
    report = _load(store, path)
    assert (report.entity, report.sheet, report.header_row, report.created) == ("enterprise", "Sheet2", 2, 1)


# --- values that are not what they seem -----------------------------------------------------------


def test_wrong_typed_json_values_are_rejected_with_the_field(store, tmp_path):
    records = [
        {"name": "尼龙66热稳定剂", "owners": ["平顶山某尼龙公司"], "cooperation": ["转让", "许可"]},
        {"name": {"a": 1}, "description": "名称是对象"},
        {"name": "碳纤维", "description": ["一段", "两段"]},
        {"name": "芳纶纸", "owners": [{"name": "某公司"}]},
    ]
    path = tmp_path / "achievements.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    report = _load(store, path)
    assert (report.created, report.rejected) == (1, 3)
    assert [str(e) for e in report.errors] == [
        '第 2 行，列 name：应为文本，却是一个 JSON 对象 {"a": 1}',
        '第 3 行，列 description：应为文本，却是一个列表 ["一段", "两段"]',
        '第 4 行，列 owners：列表里应为文本，却有 {"name": "某公司"}',
    ]
    assert _names(store) == ["尼龙66热稳定剂"]
    assert "{'a': 1}" not in json.dumps(store.all_props(NodeLabel.ACHIEVEMENT), ensure_ascii=False)


def test_control_characters_are_removed_from_text_counted_and_refused_in_ids(store, tmp_path):
    records = [
        {"id": "ach-1", "name": "尼龙66\x00热稳定剂", "description": "第一段\n第二段\t表格\x0c\x1b[0m\r\n完"},
        {"id": "ach-\x002", "name": "碳纤维"},
        {"id": "ach-3", "name": "\ufeff芳纶纸\x85"},
    ]
    path = tmp_path / "achievements.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    report = _load(store, path)
    assert (report.created, report.rejected, report.control_chars_removed) == (2, 1, 5)
    assert report.errors[0].row == 2 and report.errors[0].column == "id" and "控制字符" in report.errors[0].reason
    assert any("删除了 5 个控制字符" in n and "第 1、3 行" in n for n in report.notes)
    stored = {r["id"]: r for r in store.list_props(NodeLabel.ACHIEVEMENT)}
    assert stored["ach-1"]["name"] == "尼龙66热稳定剂"
    assert stored["ach-1"]["description"] == "第一段\n第二段\t表格[0m\n完"
    assert stored["ach-3"]["name"] == "芳纶纸"
    assert "\x00" not in json.dumps(store.all_props(NodeLabel.ACHIEVEMENT))
    # a CSV too, and its reject file (a control character cannot go into a workbook) is written
    csv_path = tmp_path / "more.csv"
    csv_path.write_text("id,成果名称\nach-\x004,坏编号\nach-5,好\x07名称\n", encoding="utf-8")
    more = _load(store, csv_path, entity="achievement")
    assert (more.created, more.rejected, more.control_chars_removed) == (1, 1, 1)
    assert _rows(Path(more.rejects_file))[1][0] == "ach-\x004"
