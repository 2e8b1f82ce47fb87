"""Texts written into a table that a person opens in Excel: shown as text, never run.

A spreadsheet program reads a cell that starts with `=`, `+`, `-` or `@` (or a tab or
carriage return before one) as a formula, which may fetch data or start programs when the
file is opened. Every CSV file Utskick writes for people (the records' registration file, the
watched folders' outcome files, the desk's precheck) puts a leading `'` before such a text:
Excel then shows the text as it is and does not show the apostrophe. This is the one rule, on
a floor every writer of such files may import.
"""

from __future__ import annotations

# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str | None) -> str:
    """A text as a spreadsheet cell: "" for none, a leading `'` where it would start a formula."""
    if not value:
        return ""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value
