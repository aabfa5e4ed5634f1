"""Read tabular input files (CSV, JSON Lines, Excel .xlsx) as numbered rows of header -> value.

Row numbers are the ones a user sees when opening the file: in CSV and Excel the header is row 1 and
the first data row is row 2; in JSON Lines a row is a line number. Wholly empty rows are skipped and
counted, never reported as errors. A file that cannot be decoded or parsed as a whole raises
:class:`ReadError` naming the file and the cause.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.exceptions import ValidationError
from ingest.spreadsheet import looks_like_formula

FORMATS = ("csv", "jsonl", "xlsx")
#: tried in order; utf-8-sig also reads plain UTF-8 and drops an Excel BOM
ENCODINGS = ("utf-8-sig", "gb18030")


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
        if self.rows % 256 == 0 and time.monotonic() > self.deadline:
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


@dataclass
class Table:
    """An opened input: its format, encoding, header and a one-shot iterator of (row_number, record)."""

    path: Path
    format: str
    headers: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    encoding: str | None = None
    empty_rows: list[int] = field(default_factory=list)
    #: rows the reader itself could not parse (bad JSON line): (row_number, raw text, reason)
    broken_rows: list[tuple[int, str, str]] = field(default_factory=list)
    total_hint: int | None = None  # rows expected, for a progress bar


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
        raise ReadError(f"{path}: old Excel .xls is not supported; save it as .xlsx or CSV", where=str(path))
    raise ReadError(f"{path}: unknown file type {suffix!r} (expected .csv, .jsonl or .xlsx)", where=str(path))


def decode_bytes(raw: bytes, path: Path) -> tuple[str, str]:
    """Decode with the first encoding that fits (UTF-8, UTF-8 with BOM, GB18030); else a clear error."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    first_error: UnicodeDecodeError | None = None
    for enc in ENCODINGS:
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    assert first_error is not None
    line = raw[: first_error.start].count(b"\n") + 1
    raise ReadError(
        f"{path}: cannot decode the file as UTF-8 or GB18030 (bad byte 0x{raw[first_error.start]:02x} "
        f"on line {line}); save it as UTF-8 and load it again",
        where=f"{path}:{line}",
    )


def _is_empty(values: Any) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _clean_header(value: Any, index: int) -> str:
    text = "" if value is None else str(value).strip().lstrip("\ufeff")
    return text or f"column_{index + 1}"


def _unquote(value: str) -> str:
    """A cell our own reject files wrote as ``'=…`` (text that looks like a formula) reads back as ``=…``."""
    return value[1:] if len(value) > 1 and value[0] == "'" and looks_like_formula(value[1:]) else value


def read_csv(path: Path, limits: ReadLimits = CLI_LIMITS) -> Table:
    budget = _Budget(path, limits)
    text, encoding = decode_bytes(path.read_bytes(), path)
    # the delimiter is the one the header row uses most; sniffing whole rows of Chinese text guesses wrong
    header_line = text.split("\n", 1)[0]
    counts = {d: header_line.count(d) for d in (",", "\t", ";", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    dialect: Any = csv.excel_tab if delimiter == "\t" else csv.excel
    if delimiter in (";", "|"):
        dialect = type("Dialect", (csv.excel,), {"delimiter": delimiter})
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header_row = next(reader)
    except StopIteration:
        raise ReadError(f"{path}: the file is empty (no header row)", where=str(path)) from None
    except csv.Error as exc:
        raise ReadError(f"{path}: not a readable CSV file: {exc}", where=f"{path}:1") from None
    budget.columns(len(header_row), 1)
    headers = [_clean_header(h, i) for i, h in enumerate(header_row)]
    if _is_empty(header_row):
        raise ReadError(f"{path}: the header row (row 1) is empty", where=f"{path}:1")
    table = Table(path=path, format="csv", headers=headers, rows=iter(()), encoding=encoding)
    table.total_hint = max(0, text.count("\n") - 1)
    budget.upfront(table.total_hint)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        row_no = 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                row_no += 1
                table.broken_rows.append((row_no, "", f"not a readable CSV row: {exc}"))
                continue
            # a quoted cell may span lines; the reader's line number is where the row ends
            row_no = reader.line_num
            budget.row(row_no)
            too_long = budget.oversized(values)
            if too_long:
                table.broken_rows.append((row_no, "", too_long))
                continue
            if _is_empty(values):
                table.empty_rows.append(row_no)
                continue
            record = {h: (_unquote(values[i]) if i < len(values) else "") for i, h in enumerate(headers)}
            if len(values) > len(headers) and not _is_empty(values[len(headers):]):
                table.broken_rows.append(
                    (row_no, ",".join(values), f"{len(values)} cells but the header has {len(headers)} columns")
                )
                continue
            yield row_no, record

    table.rows = rows()
    return table


def read_jsonl(path: Path, limits: ReadLimits = CLI_LIMITS) -> Table:
    budget = _Budget(path, limits)
    text, encoding = decode_bytes(path.read_bytes(), path)
    stripped = text.lstrip()
    lines = text.splitlines()
    if stripped.startswith("["):
        # a JSON array of objects is accepted too; row numbers are then positions in the array
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReadError(f"{path}: not valid JSON: {exc}", where=f"{path}:{exc.lineno}") from None
        lines = [json.dumps(item, ensure_ascii=False) for item in items]
    headers: list[str] = []
    table = Table(path=path, format="jsonl", headers=headers, rows=iter(()), encoding=encoding)
    table.total_hint = len(lines)
    budget.upfront(len(lines))

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for row_no, line in enumerate(lines, start=1):
            budget.row(row_no)
            if not line.strip():
                table.empty_rows.append(row_no)
                continue
            if len(line) > limits.max_cell_chars * 4:
                table.broken_rows.append((row_no, "", f"这一行超过 {limits.max_cell_chars * 4:,} 个字符"))
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                table.broken_rows.append((row_no, line, f"not valid JSON ({exc.msg} at character {exc.colno})"))
                continue
            if not isinstance(record, dict):
                table.broken_rows.append((row_no, line, f"expected a JSON object, found {type(record).__name__}"))
                continue
            if _is_empty(record.values()):
                table.empty_rows.append(row_no)
                continue
            too_long = budget.oversized(record.values())
            if too_long:
                table.broken_rows.append((row_no, line, too_long))
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


def read_xlsx(path: Path, sheet: str | None = None, limits: ReadLimits = CLI_LIMITS) -> Table:
    from openpyxl import load_workbook

    budget = _Budget(path, limits)
    _check_unpacked_size(path, limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for a broken file
        raise ReadError(
            f"{path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})", where=str(path)
        ) from None
    try:
        ws = workbook[sheet] if sheet else workbook.worksheets[0]
    except KeyError:
        raise ReadError(f"{path}: no sheet named {sheet!r} (sheets: {workbook.sheetnames})", where=str(path)) from None
    declared = ws.max_row or 0
    if declared > limits.max_rows + 1:
        workbook.close()
        raise ReadError(f"{path}: 工作表 {ws.title!r} 有 {declared:,} 行，超过 {limits.max_rows:,} 行的上限；"
                        "请拆分成多个文件再上传", where=str(path))
    if (ws.max_column or 0) > limits.max_columns:
        workbook.close()
        raise ReadError(f"{path}: 工作表 {ws.title!r} 有 {ws.max_column} 列，超过 {limits.max_columns} 列的上限",
                        where=str(path))
    it = ws.iter_rows(values_only=True, max_col=min(ws.max_column or limits.max_columns, limits.max_columns))
    header_row: tuple[Any, ...] | None = None
    header_no = 0
    for values in it:
        header_no += 1
        budget.row(header_no)
        if not _is_empty(values):
            header_row = values
            break
    if header_row is None:
        workbook.close()
        raise ReadError(f"{path}: the sheet {ws.title!r} is empty (no header row)", where=str(path))
    headers = [_clean_header(h, i) for i, h in enumerate(header_row)]
    # trailing unnamed columns are Excel formatting leftovers, not data
    while headers and headers[-1].startswith("column_") and header_row[len(headers) - 1] is None:
        headers.pop()
    table = Table(path=path, format="xlsx", headers=headers, rows=iter(()), encoding=None)
    table.total_hint = max(0, (ws.max_row or 0) - header_no)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for row_no, values in enumerate(it, start=header_no + 1):
                budget.row(row_no)
                if _is_empty(values):
                    table.empty_rows.append(row_no)
                    continue
                too_long = budget.oversized(values)
                if too_long:
                    table.broken_rows.append((row_no, "", too_long))
                    continue
                yield row_no, {h: (values[i] if i < len(values) else None) for i, h in enumerate(headers)}
        finally:
            workbook.close()

    table.rows = rows()
    return table


def _check_unpacked_size(path: Path, limits: ReadLimits) -> None:
    """Refuse a zip bomb before openpyxl unpacks it (the sum of the members' declared sizes), and a sheet of
    too many rows before they are parsed (its ``<row`` elements, counted in a streaming pass over the XML:
    a sheet need not declare its size, and parsing a million rows to find out costs minutes)."""
    try:
        with zipfile.ZipFile(path) as zf:
            unpacked = sum(info.file_size for info in zf.infolist())
            if unpacked > limits.max_unpacked_bytes:
                raise ReadError(f"{path}: 工作簿解压后有 {unpacked / 1024**2:,.0f} MB，超过 "
                                f"{limits.max_unpacked_bytes / 1024**2:,.0f} MB 的上限", where=str(path))
            for info in zf.infolist():
                if info.filename.startswith("xl/worksheets/") and info.filename.endswith(".xml"):
                    rows = _count_rows(zf, info)
                    if rows > limits.max_rows + 1:
                        raise ReadError(f"{path}: 工作表有 {rows:,} 行，超过 {limits.max_rows:,} 行的上限；"
                                        "请拆分成多个文件再上传", where=str(path))
    except (zipfile.BadZipFile, OSError) as exc:
        raise ReadError(f"{path}: not a readable .xlsx workbook ({exc})", where=str(path)) from None


def _count_rows(zf: zipfile.ZipFile, info: zipfile.ZipInfo, chunk: int = 1 << 20) -> int:
    count, tail = 0, b""
    with zf.open(info) as fh:
        while block := fh.read(chunk):
            data = tail + block
            count += data.count(b"<row ") + data.count(b"<row>")
            # a tag cut between two blocks is counted in the next one
            tail = data[-5:]
            count -= tail.count(b"<row ") + tail.count(b"<row>")
    return count + tail.count(b"<row ") + tail.count(b"<row>")


def open_table(path: str | Path, fmt: str | None = None, limits: ReadLimits = CLI_LIMITS) -> Table:
    """Open ``path`` as a :class:`Table`; ``fmt`` (csv | jsonl | xlsx) overrides the extension."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file", where=str(path))
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return read_csv(path, limits)
    if fmt == "jsonl":
        return read_jsonl(path, limits)
    if fmt == "xlsx":
        return read_xlsx(path, limits=limits)
    raise ReadError(f"{path}: unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", where=str(path))
