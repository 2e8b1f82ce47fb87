"""Which file names a watched folder can take, and the name a refused one gets in `fel/`.

Utskick writes names of its own beside each file (`<name>.kvitto.json`, `<name>.fel.txt`, a
time stamp when a name is taken, the pages of a rejected letter as `<stem>-sidor-3-4.pdf`), and
keeps the name in the database, the receipts and the logs. A name it cannot carry that far is
refused before anything of the file is read:

- a name that is not UTF-8 (a Windows-1252 `ä` written by an old program): it cannot be kept
  in the database or written in a receipt;
- a name of more than `MAX_NAME_BYTES` bytes: the names beside it would pass the file system's
  limit of 255 bytes;
- a name with a control character (a line break, a tab): it would break the logs and the
  reason files into lines that are not what they seem.

Such a file goes to `fel/` under `safe_name` (the bytes that are not UTF-8 and the control
characters replaced by `_`, the stem shortened), with a reason that says to rename it.
"""

from __future__ import annotations

import re

# 255 bytes, less what Utskick adds: a time stamp and number (`.20261207-101500-999`), the
# pages of a rejected letter (`-sidor-999999-999999`), `.fel.txt` or `.kvitto.json`, `.tmp`.
MAX_NAME_BYTES = 200
# Control characters (C0, DEL and C1) and the surrogates that stand for bytes not UTF-8.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_NOT_UTF8 = re.compile(r"[\udc80-\udcff]")
_RENAME = (
    "byt namn på filen (bokstäver, siffror, mellanslag, - och _ går bra) och lägg den i mappen igen"
)


def name_problem(name: str) -> str | None:
    """Why a file of this name cannot be taken (Swedish), or None if it can."""
    if _NOT_UTF8.search(name):
        return (
            f"filnamnet {safe_name(name)} är inte skrivet i UTF-8 (programmet som sparade filen "
            f"använde en äldre teckenkodning), så Utskick kan inte ange det i kvitton; {_RENAME}"
        )
    if _CONTROL.search(name):
        return (
            f"filnamnet {safe_name(name)} innehåller kontrolltecken (t.ex. radbrytningar); "
            f"{_RENAME}"
        )
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return (
            f"filnamnet är för långt ({size} byte, högst {MAX_NAME_BYTES}): kvittot och "
            f"felfilen bredvid filen får inte plats i filsystemets gräns; {_RENAME}, med ett "
            "kortare namn"
        )
    return None


def safe_name(name: str) -> str:
    """The name with what cannot be written replaced by `_` and the stem cut to fit."""
    cleaned = _CONTROL.sub("_", _NOT_UTF8.sub("_", name))
    if len(cleaned.encode("utf-8")) <= MAX_NAME_BYTES:
        return cleaned
    stem, dot, suffix = cleaned.rpartition(".")
    ending = f".{suffix}" if dot and stem and len(suffix) <= 10 else ""  # noqa: PLR2004
    stem = cleaned[: len(cleaned) - len(ending)]
    room = MAX_NAME_BYTES - len(ending.encode("utf-8"))
    return stem.encode("utf-8")[:room].decode("utf-8", errors="ignore") + ending
