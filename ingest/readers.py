"""Read tabular input files (CSV, JSON Lines, Excel .xlsx) as numbered rows of header -> value.

Row numbers are the ones a user sees when opening the file: in CSV and Excel the header is row 1 (in a
sheet, the row the header is on) and the first data row follows it; in JSON Lines a row is a line number.
Wholly empty rows are skipped and counted, never reported as errors. A file that cannot be decoded or
parsed as a whole raises :class:`ReadError` naming the file and the cause.

Files as people send them:

* a file cut off (a download or copy that stopped early): the last row is rejected with its number and the
  reason, never loaded half; an unclosed quote that runs to the end of the file is a rejected row; a cut
  inside a UTF-8 character rejects that last row, not the whole file;
* rows the reader cannot use (too many cells, a cell over the size limit, a line that is not JSON) keep
  their cells (:class:`BrokenRow`), so the reject file holds them to be fixed and loaded again;
* a workbook: the sheet holding the data is found (instruction sheets such as 填写说明 skipped) and the
  header row too (title rows above it skipped), or both are given; a vertical merged cell in a data column
  is filled down; a formula cell without a cached value rejects its row, naming the cell.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from xml.etree.ElementTree import ParseError, iterparse

from graph.exceptions import ValidationError
from ingest.cleaning import CONTROL
from ingest.mapping import (
    EXTRA_COLUMN,
    IGNORED_HEADERS,
    EntityMapping,
    builtin_mappings,
    fits_an_entity,
    is_extra_column,
    known_headers,
    normalize_header,
)
from ingest.spreadsheet import looks_like_formula

FORMATS = ("csv", "jsonl", "xlsx")
#: tried in order; utf-8-sig also reads plain UTF-8 and drops an Excel BOM
ENCODINGS = ("utf-8-sig", "gb18030")
#: sheets that tell whoever fills the template what to write, or show an example: never the data
INSTRUCTION_SHEET = re.compile(r"说明|须知|填表|示例|样例|instruction|readme|example", re.IGNORECASE)
#: the header row is looked for among a sheet's first rows
PREVIEW_ROWS = 20
#: sheets looked at when finding the one with the data
MAX_SHEETS_EXAMINED = 50
TRUNCATED = "文件似乎被截断了，请检查文件是否完整（重新导出或重新下载）后再载入"


class ReadError(ValidationError):
    """The file as a whole cannot be read (encoding, format, missing header)."""


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what a file may cost to read: a hostile or broken file gets a clear error, not hours of CPU
    or gigabytes of memory. Rows count empty ones too (a sheet of a million blank rows is not cheap)."""

    max_rows: int = 100_000
    max_columns: int = 200
    max_cell_chars: int = 20_000
    max_seconds: float = 120.0
    #: what an .xlsx may unpack to (its XML is typically ten times its zipped size)
    max_unpacked_bytes: int = 400 * 1024 * 1024

    def deadline(self) -> float:
        return time.monotonic() + self.max_seconds


#: reading a file given on the command line: generous, but still bounded
CLI_LIMITS = ReadLimits(max_rows=5_000_000, max_columns=1000, max_cell_chars=200_000, max_seconds=6 * 3600,
                        max_unpacked_bytes=8 * 1024**3)


class _Budget:
    """Counts rows and time against :class:`ReadLimits` while a reader iterates."""

    def __init__(self, path: Path, limits: ReadLimits) -> None:
        self.path, self.limits = path, limits
        self.deadline = limits.deadline()
        self.rows = 0

    def row(self, row_no: int) -> None:
        self.rows += 1
        if self.rows > self.limits.max_rows:
            raise ReadError(f"{self.path}: 文件超过 {self.limits.max_rows:,} 行的上限（读到第 {row_no} 行）；"
                            "请拆分成多个文件再上传", where=f"{self.path}:{row_no}")
        if self.rows % 256 == 0:
            self.clock(row_no)

    def clock(self, row_no: int) -> None:
        if time.monotonic() > self.deadline:
            raise ReadError(f"{self.path}: 读取超过 {self.limits.max_seconds:.0f} 秒的时限（读到第 {row_no} 行）；"
                            "请拆分成多个文件再上传", where=f"{self.path}:{row_no}")

    def upfront(self, lines: int) -> None:
        """Refuse at once a file whose line count alone shows it is far over the row limit (a row may span
        lines, so only well beyond the limit), instead of validating the first rows before saying so."""
        if lines > 2 * self.limits.max_rows + 1:
            raise ReadError(f"{self.path}: 文件有 {lines:,} 行，超过 {self.limits.max_rows:,} 行的上限；"
                            "请拆分成多个文件再上传", where=str(self.path))

    def columns(self, count: int, row_no: int) -> None:
        if count > self.limits.max_columns:
            raise ReadError(f"{self.path}: 第 {row_no} 行有 {count} 列，超过 {self.limits.max_columns} 列的上限",
                            where=f"{self.path}:{row_no}")

    def oversized(self, values: Any) -> str | None:
        """Why a row's cells are too long to keep, or None."""
        for v in values:
            if isinstance(v, str) and len(v) > self.limits.max_cell_chars:
                return f"单元格内容超过 {self.limits.max_cell_chars:,} 个字符"
        return None


class BrokenRow(NamedTuple):
    """A row the reader itself could not use, with what it held so a reject file can give it back."""

    row: int
    #: the row's text as in the file (CSV lines, a JSON line); "" where there is none (a sheet row)
    raw: str
    reason: str
    #: the row's cells by header (None when the row could not be split into cells, e.g. broken JSON)
    cells: dict[str, Any] | None = None
    #: cells beyond the header, in order
    overflow: tuple[Any, ...] = ()


@dataclass
class Table:
    """An opened input: its format, encoding, header and a one-shot iterator of (row_number, record)."""

    path: Path
    format: str
    headers: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    encoding: str | None = None
    empty_rows: list[int] = field(default_factory=list)
    #: rows the reader itself could not parse or keep (bad JSON line, too many cells, cut off)
    broken_rows: list[BrokenRow] = field(default_factory=list)
    total_hint: int | None = None  # rows expected, for a progress bar
    #: the sheet read and the row its header is on (1 for CSV; 0 for JSON Lines, which has none)
    sheet: str | None = None
    header_row: int = 1
    #: vertical merged ranges filled down ("C3:C5（所属行业）") and how many cells that filled
    merged_filled: list[str] = field(default_factory=list)
    merged_cells_filled: int = 0
    #: what the reader decided that the user should know (sheet chosen, title rows skipped ...), in Chinese
    notes: list[str] = field(default_factory=list)


def detect_format(path: Path) -> str:
    """The format from the file extension: .csv/.tsv/.txt -> csv, .jsonl/.ndjson/.json -> jsonl, .xlsx -> xlsx."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".xls":
        raise ReadError(f"{path}: 不支持旧版 Excel（.xls）文件；请在 Excel 中另存为 .xlsx 或 CSV 后再载入",
                        where=str(path))
    raise ReadError(f"{path}: 无法识别的文件类型 {suffix or '（没有扩展名）'}（应为 .csv、.jsonl 或 .xlsx）",
                    where=str(path))


def _cut_at_end(raw: bytes, encoding: str) -> str | None:
    """The text of ``raw`` when it only fails to decode because it ends inside a character (a cut file)."""
    try:
        raw.decode(encoding)
        return None
    except UnicodeDecodeError as exc:
        if exc.end < len(raw) or exc.start < len(raw) - 3:
            return None
        try:
            return raw[: exc.start].decode(encoding)
        except UnicodeDecodeError:
            return None


def decode_text(raw: bytes, path: Path) -> tuple[str, str, bool]:
    """Decode with the first encoding that fits (UTF-8, UTF-8 with BOM, GB18030), else a clear error. The
    third value is True when the file ends inside a character: it was cut off, and only its end is lost."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16"), "utf-16", False
        except UnicodeDecodeError:
            if len(raw) % 2:
                return raw[:-1].decode("utf-16", errors="replace"), "utf-16", True
            raise ReadError(f"{path}: 无法按 UTF-16 读取文件；请另存为 UTF-8 编码后再载入", where=str(path)) from None
    first_error: UnicodeDecodeError | None = None
    for enc in ENCODINGS:
        try:
            return raw.decode(enc), enc, False
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
            body, codec = (raw[3:], "utf-8") if enc == "utf-8-sig" and raw.startswith(codecs.BOM_UTF8) else (raw, enc)
            text = _cut_at_end(body, codec)
            if text is not None:
                return text, enc, True
    assert first_error is not None
    line = raw[: first_error.start].count(b"\n") + 1
    raise ReadError(
        f"{path}: 无法按 UTF-8 或 GB18030 编码读取文件（第 {line} 行有无法识别的字节 "
        f"0x{raw[first_error.start]:02x}）；请另存为 UTF-8 编码后再载入",
        where=f"{path}:{line}",
    )


def decode_bytes(raw: bytes, path: Path) -> tuple[str, str]:
    """:func:`decode_text` without the cut-off flag."""
    text, encoding, _ = decode_text(raw, path)
    return text, encoding


def _is_empty(values: Any) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _clean_header(value: Any, index: int) -> str:
    text = "" if value is None else CONTROL.sub("", str(value)).strip()
    return text or f"column_{index + 1}"


def _unquote(value: str) -> str:
    """A cell our own reject files wrote as ``'=…`` (text that looks like a formula) reads back as ``=…``."""
    return value[1:] if len(value) > 1 and value[0] == "'" and looks_like_formula(value[1:]) else value


# ---------------------------------------------------------------------------------------------
# CSV


class _LineTape:
    """The lines of a text for ``csv.reader``, remembering those of the row being read (its raw text)."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.taken: list[str] = []

    def __iter__(self) -> _LineTape:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.taken.append(line)
        return line

    def start_row(self) -> None:
        self.taken = []

    def raw(self) -> str:
        return "".join(self.taken)


def _unclosed_quote(raw: str, dialect: Any) -> bool:
    """Whether the text of a row ends inside a quoted cell (the quote was never closed)."""
    try:
        list(csv.reader(io.StringIO(raw, newline=""), dialect, strict=True))
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def read_csv(path: Path, limits: ReadLimits = CLI_LIMITS) -> Table:
    budget = _Budget(path, limits)
    text, encoding, cut = decode_text(path.read_bytes(), path)
    # the delimiter is the one the header row uses most; sniffing whole rows of Chinese text guesses wrong
    header_line = text.split("\n", 1)[0]
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    dialect: Any = csv.excel_tab if delimiter == "\t" else csv.excel
    if delimiter in (";", "|"):
        dialect = type("Dialect", (csv.excel,), {"delimiter": delimiter})
    tape = _LineTape(text)
    reader = csv.reader(tape, dialect)
    try:
        header_row = next(reader)
    except StopIteration:
        raise ReadError(f"{path}: 文件是空的（没有表头行）", where=str(path)) from None
    except csv.Error as exc:
        raise ReadError(f"{path}: 不是可读的 CSV 文件：{exc}", where=f"{path}:1") from None
    budget.columns(len(header_row), 1)
    if _is_empty(header_row):
        raise ReadError(f"{path}: 表头行（第 1 行）是空的", where=f"{path}:1")
    all_headers = [_clean_header(h, i) for i, h in enumerate(header_row)]
    # a reject file's 多余的单元格N columns hold cells that do not belong to any column yet
    extra_at = [i for i, h in enumerate(all_headers) if is_extra_column(h)]
    headers = [h for i, h in enumerate(all_headers) if i not in extra_at]
    width = len(all_headers)
    table = Table(path=path, format="csv", headers=headers, rows=iter(()), encoding=encoding)
    table.total_hint = max(0, text.count("\n") - 1)
    budget.upfront(table.total_hint)
    ends_with_newline = text.endswith(("\n", "\r"))
    if cut and ends_with_newline:
        table.notes.append("文件末尾有一个不完整的字符（之前的行都完整），已忽略：" + TRUNCATED)

    def split(values: list[str]) -> tuple[dict[str, Any], tuple[Any, ...]]:
        cells = {h: (_unquote(values[i]) if i < len(values) else "")
                 for i, h in enumerate(all_headers) if i not in extra_at}
        overflow = [values[i] for i in extra_at if i < len(values)] + values[width:]
        while overflow and not str(overflow[-1]).strip():
            overflow.pop()
        return cells, tuple(overflow)

    def parsed() -> Iterator[tuple[int, int, list[str] | None, str, str | None]]:
        """(first line, last line, cells or None, raw text, csv error) of each row after the header."""
        while True:
            tape.start_row()
            first = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield first, reader.line_num, None, tape.raw(), str(exc)
                continue
            yield first, reader.line_num, values, tape.raw(), None

    def cut_reason(first: int, values: list[str], raw: str) -> tuple[int, str] | None:
        """Why the file's last row looks cut off, and the row to report, or None."""
        if _unclosed_quote(raw, dialect):
            lines = "" if raw.count("\n") < 2 else f"（第 {first} 行到文件末尾的内容都被当成了一个单元格）"
            return first, (f"从这一行起有一个单元格的引号没有闭合，一直读到了文件末尾{lines}：" + TRUNCATED
                           + "；如果文件是完整的，请给这个单元格补上结尾的引号（\"）")
        if cut and not ends_with_newline:
            return 0, "文件在这一行中间结束（最后一个字符不完整）：" + TRUNCATED
        if not ends_with_newline and len(values) < width and not _is_empty(values):
            return 0, (f"这一行只有 {len(values)} 列，表头有 {width} 列，而且文件没有以换行结束：" + TRUNCATED)
        return None

    def handle(item: tuple[int, int, list[str] | None, str, str | None], last: bool
               ) -> Iterator[tuple[int, dict[str, Any]]]:
        first, row_no, values, raw, error = item
        budget.row(row_no)
        if values is None:
            table.broken_rows.append(BrokenRow(first, raw, f"不是可读的 CSV 行：{error}"))
            return
        if last:
            why = cut_reason(first, values, raw)
            if why is not None:
                cells, overflow = split(values)
                table.broken_rows.append(BrokenRow(why[0] or row_no, raw, why[1], cells, overflow))
                return
        if _is_empty(values):
            table.empty_rows.append(row_no)
            return
        cells, overflow = split(values)
        # a reject file's own reason column is ours, not the user's: it does not count against the limit
        too_long = budget.oversized([*(v for h, v in cells.items() if h not in IGNORED_HEADERS), *overflow])
        if too_long:
            table.broken_rows.append(BrokenRow(row_no, raw, too_long, cells, overflow))
            return
        if any(str(v).strip() for v in overflow):
            if len(values) > width and any(v.strip() for v in values[width:]):
                reason = (f"这一行有 {len(values)} 个单元格，表头只有 {width} 列：可能是某个单元格里的逗号没有加引号；"
                          f"请把多出的内容并回原来的单元格")
            else:
                reason = f"“{EXTRA_COLUMN}”列里还有内容：请把它们并回原来的单元格，并清空这些列"
            table.broken_rows.append(BrokenRow(row_no, raw, reason, cells, overflow))
            return
        yield row_no, cells

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        pending = None
        for item in parsed():
            if pending is not None:
                yield from handle(pending, last=False)
            pending = item
        if pending is not None:
            yield from handle(pending, last=True)

    table.rows = rows()
    return table


# ---------------------------------------------------------------------------------------------
# JSON Lines


def read_jsonl(path: Path, limits: ReadLimits = CLI_LIMITS) -> Table:
    budget = _Budget(path, limits)
    text, encoding, cut = decode_text(path.read_bytes(), path)
    stripped = text.lstrip()
    if not stripped:
        raise ReadError(f"{path}: 文件是空的", where=str(path))
    # lines end at "\n" only: U+2028 and friends may stand unescaped inside a JSON string
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    ends_with_newline = text.endswith("\n")
    if ends_with_newline:
        lines.pop()
    if stripped.startswith("["):
        # a JSON array of objects is accepted too; row numbers are then positions in the array
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            why = f"：{TRUNCATED}" if cut or exc.pos >= len(text.rstrip()) else ""
            raise ReadError(f"{path}: 不是有效的 JSON（第 {exc.lineno} 行第 {exc.colno} 列："
                            f"{_json_message(exc.msg)}）{why}",
                            where=f"{path}:{exc.lineno}") from None
        if not isinstance(items, list):
            raise ReadError(f"{path}: 不是有效的 JSON 数组", where=str(path))
        lines = [json.dumps(item, ensure_ascii=False) for item in items]
        ends_with_newline, cut = True, False
    headers: list[str] = []
    table = Table(path=path, format="jsonl", headers=headers, rows=iter(()), encoding=encoding, header_row=0)
    table.total_hint = len(lines)
    budget.upfront(len(lines))
    last_line = max((i for i, line in enumerate(lines, start=1) if line.strip()), default=0)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for row_no, line in enumerate(lines, start=1):
            budget.row(row_no)
            if not line.strip():
                table.empty_rows.append(row_no)
                continue
            if len(line) > limits.max_cell_chars * 4:
                table.broken_rows.append(BrokenRow(row_no, line, f"这一行超过 {limits.max_cell_chars * 4:,} 个字符"))
                continue
            at_end = row_no == last_line and (cut or not ends_with_newline)
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                reason = f"不是有效的 JSON（第 {exc.colno} 个字符：{_json_message(exc.msg)}）"
                if at_end:
                    reason = f"最后一行不是完整的 JSON（{_json_message(exc.msg)}）：{TRUNCATED}"
                table.broken_rows.append(BrokenRow(row_no, line, reason))
                continue
            if not isinstance(record, dict):
                table.broken_rows.append(BrokenRow(row_no, line,
                                                   f"应为一个 JSON 对象（{{…}}），却是 {_json_kind(record)}"))
                continue
            if row_no == last_line and cut:
                table.broken_rows.append(BrokenRow(row_no, line,
                                                   "文件在这一行之后中断（最后一个字符不完整）：" + TRUNCATED, record))
                continue
            if set(record) - {"_error", "_row"} == {"_raw"}:
                table.broken_rows.append(BrokenRow(
                    row_no, line, "这一行仍是原来无法解析的内容（_raw）：请把它改写成一个完整的 JSON 对象", record))
                continue
            if _is_empty(record.values()):
                table.empty_rows.append(row_no)
                continue
            too_long = budget.oversized(v for k, v in record.items() if k not in IGNORED_HEADERS)
            if too_long:
                table.broken_rows.append(BrokenRow(row_no, line, too_long, record))
                continue
            for key in record:
                if key not in headers:
                    headers.append(key)
            yield row_no, record

    # JSON Lines has no header row: the keys of the first records stand in for it
    for line in lines[:50]:
        try:
            first = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(first, dict):
            headers.extend(k for k in first if k not in headers)
    table.rows = rows()
    return table


_JSON_MESSAGES = {
    "Expecting value": "缺少值",
    "Unterminated string starting at": "字符串没有结束",
    "Expecting ',' delimiter": "缺少逗号",
    "Expecting ':' delimiter": "缺少冒号",
    "Expecting property name enclosed in double quotes": "键名要用双引号括起来",
    "Extra data": "结尾有多余的内容",
    "Invalid control character at": "字符串里有控制字符（请写成 \\n 这样的转义）",
    "Invalid \\escape": "无效的转义",
}


def _json_message(msg: str) -> str:
    return _JSON_MESSAGES.get(msg, msg)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "一个列表（[…]）"
    if isinstance(value, str):
        return "一段文本"
    if value is None:
        return "null"
    return f"一个{'数值' if isinstance(value, (int, float)) and not isinstance(value, bool) else '布尔值'}"


# ---------------------------------------------------------------------------------------------
# Excel


@dataclass
class _SheetFacts:
    """What a streaming pass over one sheet's XML found: its rows, and whether it has formulas or merges."""

    rows: int = 0
    formulas: bool = False
    merges: bool = False


@dataclass
class _SheetScan:
    """A sheet's merged ranges (min_col, min_row, max_col, max_row) and formula cells without a cached value
    by row: [(column, "B7")]. openpyxl's read-only mode shows neither."""

    merges: list[tuple[int, int, int, int, str]] = field(default_factory=list)
    formulas: dict[int, list[tuple[int, str]]] = field(default_factory=dict)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _scan_sheet(path: Path, member: str, limits: ReadLimits, budget: _Budget) -> _SheetScan:
    """Stream one sheet's XML for ``<mergeCell>`` ranges and formula cells (``<f>``) with no ``<v>``: bounded
    in time by the read's deadline and in memory by clearing each row once it is read."""
    from openpyxl.utils.cell import (
        column_index_from_string,
        coordinate_from_string,
        get_column_letter,
        range_boundaries,
    )

    scan = _SheetScan()
    sheet_data = None
    row_no = col_no = count = 0
    try:
        with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
            for event, elem in iterparse(fh, events=("start", "end")):
                tag = _local(elem.tag)
                if event == "start":
                    if tag == "row":
                        row_no = int(elem.get("r") or row_no + 1)
                        col_no = 0
                    elif tag == "sheetData":
                        sheet_data = elem
                    continue
                if tag == "c":
                    col_no += 1
                    f = v = None
                    for child in elem:
                        name = _local(child.tag)
                        if name == "f":
                            f = child
                        elif name == "v":
                            v = child
                    # Excel writes <v></v> with t="str" for a formula whose result is empty text
                    if f is not None and (v is None or (not v.text and elem.get("t") != "str")):
                        ref = elem.get("r")
                        if ref:
                            col_no = column_index_from_string(coordinate_from_string(ref)[0])
                        cells = scan.formulas.setdefault(row_no, [])
                        if len(cells) < 5:  # naming five cells of a row says enough, and bounds the memory
                            cells.append((col_no, ref or f"{get_column_letter(col_no)}{row_no}"))
                elif tag == "row":
                    elem.clear()
                    if sheet_data is not None:
                        sheet_data.remove(elem)
                    count += 1
                    if count % 1000 == 0:
                        budget.clock(row_no)
                elif tag == "mergeCell" and elem.get("ref"):
                    ref = elem.get("ref", "")
                    try:
                        min_col, min_row, max_col, max_row = range_boundaries(ref)
                    except (ValueError, TypeError):
                        continue
                    if min_col is None or min_row is None or max_col is None or max_row is None:
                        continue
                    scan.merges.append((min_col, min_row, max_col, max_row, ref))
                    if len(scan.merges) > limits.max_rows:
                        raise ReadError(f"{path}: 工作表的合并单元格超过 {limits.max_rows:,} 处的上限", where=str(path))
    except (ParseError, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ReadError(f"{path}: 不是可读的 .xlsx 工作簿（{exc}）", where=str(path)) from None
    return scan


_MERGE_CELL = re.compile(rb'<(?:\w+:)?mergeCell\b[^>]*?\bref="([A-Za-z]{1,3}[0-9]+:[A-Za-z]{1,3}[0-9]+)"')
_DATA_END = re.compile(rb"</(?:\w+:)?sheetData>")


def _merged_ranges(path: Path, member: str, limits: ReadLimits, budget: _Budget,
                   chunk: int = 1 << 20) -> list[tuple[int, int, int, int, str]]:
    """A sheet's merged ranges when it has no formulas: ``<mergeCells>`` comes after ``<sheetData>`` in a
    sheet's XML, so the rows are skipped as bytes and only what follows them is searched (a tenth of the
    time of parsing every cell)."""
    from openpyxl.utils.cell import range_boundaries

    merges: list[tuple[int, int, int, int, str]] = []
    tail, after = b"", False
    try:
        with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
            while block := fh.read(chunk):
                budget.clock(0)
                data = tail + block
                if not after:
                    end = _DATA_END.search(data)
                    if end is None:
                        tail = data[-20:]
                        continue
                    after, data = True, data[end.end():]
                # a range cut between two blocks is found in the next one
                cut = data.rfind(b"<")
                done, tail = (data, b"") if cut < 0 else (data[:cut], data[cut:])
                for m in _MERGE_CELL.finditer(done):
                    ref = m.group(1).decode("ascii").upper()
                    min_col, min_row, max_col, max_row = range_boundaries(ref)
                    # openpyxl types the bounds Optional (a whole row or column); _MERGE_CELL matches cell ranges only
                    merges.append((min_col, min_row, max_col, max_row, ref))  # type: ignore[arg-type]
                if len(merges) > limits.max_rows:
                    raise ReadError(f"{path}: 工作表的合并单元格超过 {limits.max_rows:,} 处的上限", where=str(path))
            for m in _MERGE_CELL.finditer(tail):
                ref = m.group(1).decode("ascii").upper()
                merges.append((*range_boundaries(ref), ref))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ReadError(f"{path}: 不是可读的 .xlsx 工作簿（{exc}）", where=str(path)) from None
    return merges


def _header_score(values: Any, known: frozenset[str]) -> int:
    """How many distinct known headers a row holds."""
    return len({n for n in (normalize_header(str(v)) for v in values if v not in (None, "")) if n in known})


@dataclass
class _HeaderGuess:
    index: int  # 0-based among the rows looked at
    score: int
    fits: bool  # some entity finds its required columns in it


def _find_header(rows: list[tuple[Any, ...]], known: frozenset[str],
                 mappings: dict[str, EntityMapping]) -> _HeaderGuess | None:
    """The row with the most known headers among ``rows`` (the earliest on a tie); without any, the first
    non-empty row; None for an empty sheet."""
    best: _HeaderGuess | None = None
    first_filled = None
    for i, values in enumerate(rows):
        if _is_empty(values):
            continue
        if first_filled is None:
            first_filled = i
        score = _header_score(values, known)
        if score and (best is None or score > best.score):
            best = _HeaderGuess(i, score, False)
    if best is None:
        if first_filled is None:
            return None
        best = _HeaderGuess(first_filled, 0, False)
    best.fits = fits_an_entity([_clean_header(h, i) for i, h in enumerate(rows[best.index])], mappings)
    return best


def _sheet_names(titles: list[str]) -> str:
    return "、".join(f"“{t}”" for t in titles)


def read_xlsx(path: Path, sheet: str | None = None, limits: ReadLimits = CLI_LIMITS, header_row: int | None = None,
              mappings: dict[str, EntityMapping] | None = None) -> Table:
    """Read one sheet of a workbook. ``sheet``: a name, or a 1-based number; ``header_row``: the 1-based row
    of the header. Either left out is found: the first sheet that is no instruction sheet and whose header
    row fits an entity, and in it the row among the first :data:`PREVIEW_ROWS` with the most known headers."""
    from openpyxl import load_workbook

    budget = _Budget(path, limits)
    facts = _check_unpacked_size(path, limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a broken file
        raise ReadError(f"{path}: 不是可读的 .xlsx 工作簿（{type(exc).__name__}: {exc}）", where=str(path)) from None
    try:
        table, it, setup = _open_sheet(workbook, path, sheet, header_row, mappings or builtin_mappings(), limits,
                                       budget, facts)
    except BaseException:
        workbook.close()
        raise
    table.rows = _sheet_rows(table, it, setup, budget, workbook)
    return table


@dataclass
class _RowSetup:
    width: int
    merges_at: dict[int, list[tuple[int, int, str]]]  # start row -> [(0-based column, last row, ref)]
    formulas: dict[int, list[tuple[int, str]]]


def _open_sheet(workbook: Any, path: Path, sheet: str | None, header_row: int | None,
                mappings: dict[str, EntityMapping], limits: ReadLimits, budget: _Budget,
                facts: dict[str, _SheetFacts]) -> tuple[Table, Iterator[tuple[Any, ...]], _RowSetup]:
    known = known_headers(mappings)
    notes: list[str] = []

    def width_of(ws: Any) -> int:
        return min(ws.max_column or limits.max_columns, limits.max_columns)

    def preview(ws: Any) -> list[tuple[Any, ...]]:
        budget.clock(0)
        return list(ws.iter_rows(min_row=1, max_row=PREVIEW_ROWS, max_col=width_of(ws), values_only=True))

    guess: _HeaderGuess | None = None
    if sheet is not None and str(sheet).strip():
        wanted = str(sheet).strip()
        names = workbook.sheetnames
        if wanted in names:
            ws = workbook[wanted]
        elif wanted.isdigit() and 1 <= int(wanted) <= len(names):
            ws = workbook.worksheets[int(wanted) - 1]
        else:
            raise ReadError(f"{path}: 没有名为“{wanted}”的工作表（工作表有：{_sheet_names(names)}；也可以用序号 1-"
                            f"{len(names)}）", field="sheet", where=str(path))
        if header_row is None:
            guess = _find_header(preview(ws), known, mappings)
    else:
        sheets = workbook.worksheets[:MAX_SHEETS_EXAMINED]
        instructions = [ws.title for ws in sheets if INSTRUCTION_SHEET.search(ws.title)]
        if header_row is not None:
            ws = next((w for w in sheets if w.title not in instructions), workbook.worksheets[0])
            looked: list[tuple[Any, _HeaderGuess | None]] = [(ws, None)]
            chosen: tuple[Any, _HeaderGuess | None] = (ws, None)
        else:
            guesses = [(w, _find_header(preview(w), known, mappings)) for w in sheets]
            looked = [(w, g) for w, g in guesses if w.title not in instructions]

            def fitting(pairs: list[tuple[Any, _HeaderGuess | None]]) -> tuple[Any, _HeaderGuess | None] | None:
                return next(((w, g) for w, g in pairs if g is not None and g.score >= 2 and g.fits), None)

            # a sheet whose header fits an entity; else one named like instructions whose header does (a data
            # sheet called 成果说明表); else the first sheet with anything in it, read as a plain table
            chosen = (fitting(looked) or fitting(guesses) or next(((w, g) for w, g in looked if g is not None), None)
                      or guesses[0])
        ws, guess = chosen
        instructions = [t for t in instructions if t != ws.title]
        skipped = [f"说明页“{t}”" for t in instructions
                   if workbook.sheetnames.index(t) < workbook.sheetnames.index(ws.title)]
        skipped += [f"“{other.title}”（{'空白' if g is None else '表头不像任何一类数据'}）" for other, g in looked
                    if workbook.sheetnames.index(other.title) < workbook.sheetnames.index(ws.title)]
        if len(workbook.sheetnames) > 1:
            notes.append(f"读取工作表“{ws.title}”" + (f"，跳过了{'、'.join(skipped)}" if skipped else ""))
        # another sheet with a fitting header and rows under it: the user may have meant both
        also = [other.title for other, g in looked if other is not ws and g is not None and g.score >= 2
                and g.fits and (other.max_row or 0) > g.index + 1]
        if also:
            notes.append(f"工作表{_sheet_names(also)}看起来也是数据，没有载入：要载入它，请另外指定工作表（"
                         f"命令行 --sheet，上传时填写“工作表”）")
    declared = ws.max_row or 0
    if declared > limits.max_rows + 1:
        raise ReadError(f"{path}: 工作表“{ws.title}”有 {declared:,} 行，超过 {limits.max_rows:,} 行的上限；"
                        "请拆分成多个文件再上传", where=str(path))
    if (ws.max_column or 0) > limits.max_columns:
        raise ReadError(f"{path}: 工作表“{ws.title}”有 {ws.max_column} 列，超过 {limits.max_columns} 列的上限",
                        where=str(path))
    if header_row is not None:
        if header_row < 1:
            raise ReadError(f"{path}: 表头行号应从 1 开始（收到 {header_row}）", field="header_row", where=str(path))
        header_no = header_row
    elif guess is None:
        raise ReadError(f"{path}: 工作表“{ws.title}”是空的（没有表头行）", where=str(path))
    else:
        header_no = guess.index + 1
    it = ws.iter_rows(min_row=header_no, max_col=width_of(ws), values_only=True)
    header_values = next(it, None)
    budget.row(header_no)
    if header_values is None or _is_empty(header_values):
        raise ReadError(f"{path}: 工作表“{ws.title}”的第 {header_no} 行是空的，不能作为表头", field="header_row",
                        where=str(path))
    if header_row is None and header_no > 1:
        notes.append(f"表头在第 {header_no} 行；上面的 {header_no - 1} 行（标题等）没有作为数据载入")
    headers = [_clean_header(h, i) for i, h in enumerate(header_values)]
    # trailing unnamed columns are Excel formatting leftovers, not data
    while headers and headers[-1].startswith("column_") and header_values[len(headers) - 1] is None:
        headers.pop()
    table = Table(path=path, format="xlsx", headers=headers, rows=iter(()), encoding=None, sheet=ws.title,
                  header_row=header_no, notes=notes)
    table.total_hint = max(0, (ws.max_row or 0) - header_no)
    member = getattr(ws, "_worksheet_path", None)
    fact = facts.get(member or "", _SheetFacts(formulas=True, merges=True))
    scan = _SheetScan()
    if member and fact.formulas:
        scan = _scan_sheet(path, member, limits, budget)
    elif member and fact.merges:
        scan.merges = _merged_ranges(path, member, limits, budget)
    width = len(headers)
    merges_at: dict[int, list[tuple[int, int, str]]] = {}
    for min_col, min_row, _max_col, max_row, ref in scan.merges:
        # a vertical merge inside the data, in a column with a header: the value holds for every row it spans
        if min_row > header_no and max_row > min_row and min_col <= width:
            merges_at.setdefault(min_row, []).append((min_col - 1, max_row, ref))
    return table, it, _RowSetup(width, merges_at, scan.formulas)


def _sheet_rows(table: Table, it: Iterator[tuple[Any, ...]], setup: _RowSetup, budget: _Budget, workbook: Any
                ) -> Iterator[tuple[int, dict[str, Any]]]:
    from openpyxl.utils.cell import get_column_letter

    headers, width = table.headers, setup.width
    carry: dict[int, tuple[Any, int, int, str]] = {}  # column -> (value, first row, last row, ref)
    filled: dict[str, tuple[int, int]] = {}  # ref -> (column, cells filled)
    outside: list[int] = []
    outside_cols: set[int] = set()
    try:
        for row_no, values in enumerate(it, start=table.header_row + 1):
            budget.row(row_no)
            cells = list(values[:width]) + [None] * (width - len(values[:width]))
            for col, last, ref in setup.merges_at.get(row_no, ()):
                carry[col] = (cells[col], row_no, last, ref)
            empty = _is_empty(cells)
            if not empty:
                for col, (value, first, last, ref) in carry.items():
                    if first < row_no <= last and cells[col] in (None, "") and value not in (None, ""):
                        cells[col] = value
                        filled[ref] = (col, filled.get(ref, (col, 0))[1] + 1)
            carry = {c: v for c, v in carry.items() if v[2] > row_no}
            formulas = [ref for col, ref in setup.formulas.get(row_no, ()) if col <= width]
            record = dict(zip(headers, cells, strict=True))
            if formulas:
                table.broken_rows.append(BrokenRow(
                    row_no, "", f"{'、'.join(formulas)} 是公式但没有计算结果，请在 Excel 中打开并保存后再上传", record))
                continue
            if empty:
                table.empty_rows.append(row_no)
                continue
            beyond = [i for i in range(width, len(values)) if values[i] not in (None, "")]
            if beyond:
                outside.append(row_no)
                outside_cols.update(beyond)
            too_long = budget.oversized(v for h, v in record.items() if h not in IGNORED_HEADERS)
            if too_long:
                table.broken_rows.append(BrokenRow(row_no, "", too_long, record))
                continue
            yield row_no, record
        for ref, (col, n) in filled.items():
            table.merged_filled.append(f"{ref}（{headers[col]}）")
            table.merged_cells_filled += n
        if outside:
            cols = "、".join(get_column_letter(c + 1) for c in sorted(outside_cols)[:5])
            rows = "、".join(map(str, outside[:5])) + (" 等" if len(outside) > 5 else "")
            table.notes.append(f"第 {rows} 行在没有表头的列（{cols}）里有内容，这些内容没有载入；"
                               "要载入请给这些列加上表头")
    finally:
        workbook.close()


def _check_unpacked_size(path: Path, limits: ReadLimits) -> dict[str, _SheetFacts]:
    """Refuse a zip bomb before openpyxl unpacks it (the sum of the members' declared sizes), and a sheet of
    too many rows before they are parsed (its ``<row`` elements, counted in a streaming pass over the XML:
    a sheet need not declare its size, and parsing a million rows to find out costs minutes). Returns what
    the pass saw of each sheet (rows, formulas, merged cells), by its member name."""
    facts: dict[str, _SheetFacts] = {}
    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
            if unpacked > limits.max_unpacked_bytes:
                raise ReadError(f"{path}: 工作簿解压后有 {unpacked / 1024**2:,.0f} MB，超过 "
                                f"{limits.max_unpacked_bytes / 1024**2:,.0f} MB 的上限", where=str(path))
            for info in zf.infolist():
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    fact = _count_rows(zf, info)
                    facts[info.filename] = fact
                    if fact.rows > limits.max_rows + 1:
                        raise ReadError(f"{path}: 工作表有 {fact.rows:,} 行，超过 {limits.max_rows:,} 行的上限；"
                                        "请拆分成多个文件再上传", where=str(path))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError(f"{path}: 不是可读的 .xlsx 工作簿（{exc}）", where=str(path)) from None
    return facts


_FORMULA_MARKS = (b"<f>", b"<f ", b":f>", b":f ")


def _count_rows(zf: zipfile.ZipFile, info: zipfile.ZipInfo, chunk: int = 1 << 20) -> _SheetFacts:
    facts = _SheetFacts()
    count, tail = 0, b""
    with zf.open(info) as fh:
        while block := fh.read(chunk):
            data = tail + block
            count += data.count(b"<row ") + data.count(b"<row>")
            facts.formulas = facts.formulas or any(m in data for m in _FORMULA_MARKS)
            facts.merges = facts.merges or b"mergeCell" in data
            # a tag cut between two blocks is counted in the next one
            tail = data[-10:]
            count -= tail.count(b"<row ") + tail.count(b"<row>")
    facts.rows = count + tail.count(b"<row ") + tail.count(b"<row>")
    return facts


def open_table(path: str | Path, fmt: str | None = None, limits: ReadLimits = CLI_LIMITS, *,
               sheet: str | None = None, header_row: int | None = None,
               mappings: dict[str, EntityMapping] | None = None) -> Table:
    """Open ``path`` as a :class:`Table`; ``fmt`` (csv | jsonl | xlsx) overrides the extension. ``sheet`` and
    ``header_row`` choose a workbook's sheet and header row (other formats have neither); ``mappings`` are the
    headers that tell a header row from a title above it."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: 文件不存在", where=str(path))
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return read_csv(path, limits)
    if fmt == "jsonl":
        return read_jsonl(path, limits)
    if fmt == "xlsx":
        return read_xlsx(path, sheet=sheet, limits=limits, header_row=header_row, mappings=mappings)
    raise ReadError(f"{path}: 未知的格式 {fmt!r}（应为 {'、'.join(FORMATS)} 之一）", where=str(path))
