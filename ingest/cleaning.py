"""Invisible characters in what people send: removed from text (and counted), refused in ids.

Files exported from old systems, copied from web pages or written by scripts carry control characters
(NUL, bell, form feed, the C1 range, a stray byte-order mark, half of a surrogate pair from a JSON
``\\ud800`` escape). They are invisible in Excel, break matching and cannot be written to an .xlsx, and a
NUL must never reach the graph. Newline and tab are text and stay; a Windows line end (``\\r\\n``) or a
lone ``\\r`` becomes ``\\n`` without being counted.
"""

from __future__ import annotations

import re

#: C0 controls except tab and newline, DEL, C1 controls, lone surrogates, noncharacters, a BOM inside text
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
_LINE_END = re.compile("\r\n?")


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`strip_control` would remove (a carriage return counts)."""
    return CONTROL.search(text) is not None


def strip_control(text: str) -> tuple[str, int]:
    """``text`` without control characters (newline and tab kept, ``\\r\\n`` and ``\\r`` -> ``\\n``), and how
    many characters were removed."""
    if "\r" in text:
        text = _LINE_END.sub("\n", text)
    cleaned, removed = CONTROL.subn("", text)
    return cleaned, removed
