"""Writing cells people open in Excel or WPS: a value that starts like a formula stays text.

A need's name such as ``=HYPERLINK("http://evil","点此")`` must not become a live formula in the bureau's
report or in a reject file (CSV/formula injection). In .xlsx the cell is written as a string with Excel's
quote prefix (shown as typed, never evaluated); in CSV, where there are no types, such a text gets a leading
apostrophe, the convention spreadsheet programs read as "text follows".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_cell(value: Any) -> Any:
    """A value for a CSV cell: formula-like text prefixed with an apostrophe, everything else unchanged."""
    return "'" + value if looks_like_formula(value) else value


def append_row(ws: Any, values: Iterable[Any]) -> None:
    """``ws.append(values)`` with every formula-like text kept as text (openpyxl worksheet)."""
    values = list(values)
    ws.append(values)
    row = ws.max_row
    for col, value in enumerate(values, start=1):
        if looks_like_formula(value):
            cell = ws.cell(row=row, column=col)
            cell.value = value
            cell.data_type = "s"
            cell.quotePrefix = True
