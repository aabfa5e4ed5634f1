"""Readers: delimiters, encodings, row numbers as the user sees them, empty and malformed rows."""

from __future__ import annotations

import pytest

from ingest.readers import ReadError, open_table


@pytest.mark.parametrize(
    ("name", "body", "headers", "first"),
    [
        ("a.csv", "成果名称\n尼龙;x\n", ["成果名称"], {"成果名称": "尼龙;x"}),
        ("b.tsv", "成果名称\t成熟度\n尼龙,66\t中试\n", ["成果名称", "成熟度"],
         {"成果名称": "尼龙,66", "成熟度": "中试"}),
        ("c.csv", "成果名称;成熟度\n尼龙;中试\n", ["成果名称", "成熟度"], {"成果名称": "尼龙", "成熟度": "中试"}),
        ("d.csv", '"成果名称","成熟度"\n"尼龙,66",中试\n', ["成果名称", "成熟度"],
         {"成果名称": "尼龙,66", "成熟度": "中试"}),
    ],
)
def test_delimiter_comes_from_the_header_row(tmp_path, name, body, headers, first):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    table = open_table(path)
    assert table.headers == headers
    assert list(table.rows) == [(2, first)]


def test_row_numbers_skip_empty_rows_and_flag_overlong_ones(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("名称,简介\n甲,一\n,\n乙,二,多余\n\"丙\n续行\",三\n", encoding="utf-8-sig")
    table = open_table(path)
    rows = list(table.rows)
    assert [r[0] for r in rows] == [2, 6] and rows[1][1]["名称"] == "丙\n续行"
    assert table.empty_rows == [3]
    assert [b[0] for b in table.broken_rows] == [4]


def test_utf16_with_bom_is_read(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("名称\n尼龙\n".encode("utf-16"))
    assert list(open_table(path).rows) == [(2, {"名称": "尼龙"})]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("x.xls", b"whatever", "不支持旧版 Excel"),
    ("x.pdf", b"%PDF", "无法识别的文件类型"),
    ("x.xlsx", b"not a zip", "不是可读的 .xlsx"),
    ("x.csv", b"", "文件是空的"),
])
def test_unusable_files_are_refused_with_the_cause(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ReadError, match=message):
        open_table(path)


def test_a_data_sheet_named_like_instructions_is_still_found(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "成果说明表"
    wb.active.append(["成果名称", "成熟度"])
    wb.active.append(["尼龙", "中试"])
    wb.create_sheet("Sheet2")
    wb.save(tmp_path / "x.xlsx")
    table = open_table(tmp_path / "x.xlsx")
    assert (table.sheet, list(table.rows)) == ("成果说明表", [(2, {"成果名称": "尼龙", "成熟度": "中试"})])


def test_an_empty_jsonl_file_is_refused(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("\n", encoding="utf-8")
    with pytest.raises(ReadError, match="文件是空的"):
        open_table(path)
