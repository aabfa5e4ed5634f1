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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.exceptions import ValidationError

FORMATS = ("csv", "jsonl", "xlsx")
#: tried in order; utf-8-sig also reads plain UTF-8 and drops an Excel BOM
ENCODINGS = ("utf-8-sig", "gb18030")


class ReadError(ValidationError):
    """The file as a whole cannot be read (encoding, format, missing header)."""


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


def read_csv(path: Path) -> Table:
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
    headers = [_clean_header(h, i) for i, h in enumerate(header_row)]
    if _is_empty(header_row):
        raise ReadError(f"{path}: the header row (row 1) is empty", where=f"{path}:1")
    table = Table(path=path, format="csv", headers=headers, rows=iter(()), encoding=encoding)
    table.total_hint = max(0, text.count("\n") - 1)

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
            if _is_empty(values):
                table.empty_rows.append(row_no)
                continue
            record = {h: (values[i] if i < len(values) else "") for i, h in enumerate(headers)}
            if len(values) > len(headers) and not _is_empty(values[len(headers):]):
                table.broken_rows.append(
                    (row_no, ",".join(values), f"{len(values)} cells but the header has {len(headers)} columns")
                )
                continue
            yield row_no, record

    table.rows = rows()
    return table


def read_jsonl(path: Path) -> Table:
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

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        for row_no, line in enumerate(lines, start=1):
            if not line.strip():
                table.empty_rows.append(row_no)
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


def read_xlsx(path: Path, sheet: str | None = None) -> Table:
    from openpyxl import load_workbook

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
    it = ws.iter_rows(values_only=True)
    header_row: tuple[Any, ...] | None = None
    header_no = 0
    for values in it:
        header_no += 1
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
                if _is_empty(values):
                    table.empty_rows.append(row_no)
                    continue
                yield row_no, {h: (values[i] if i < len(values) else None) for i, h in enumerate(headers)}
        finally:
            workbook.close()

    table.rows = rows()
    return table


def open_table(path: str | Path, fmt: str | None = None) -> Table:
    """Open ``path`` as a :class:`Table`; ``fmt`` (csv | jsonl | xlsx) overrides the extension."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file", where=str(path))
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return read_csv(path)
    if fmt == "jsonl":
        return read_jsonl(path)
    if fmt == "xlsx":
        return read_xlsx(path)
    raise ReadError(f"{path}: unknown format {fmt!r} (expected one of {', '.join(FORMATS)})", where=str(path))
