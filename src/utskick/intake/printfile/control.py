"""The control file beside a print file: which pages make which letter, and to whom.

A control file is CSV as Swedish Excel saves it (`;` or `,` between columns, UTF-8 with or
without a byte order mark, or Windows-1252) or JSON (a list of objects, or an object with
`letters`). Its columns, in Swedish or English, in any case:

| what | names |
| --- | --- |
| pages | `sidor`/`pages` (`1-2`, `3`), or `från`/`from`/`first_page` and `till`/`to`/`last_page` |
| recipient | `personnummer`, `mottagare`, `recipient` |
| subject | `ämne`, `subject` (else the source's) |
| message type | `meddelandetyp`, `message_type` (else the source's) |
| optional | `diarienummer`/`case_number`, `referens`/`reference`, `tidigast`/`not_before` |

A file that does not fit its print file is refused whole, with the reason: a column that is
not known, pages that cannot be read, ranges that overlap, pages that belong to no letter or
that the print file does not have. A row whose recipient or time cannot be used is a letter
with a problem; the others go ahead.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

from utskick.intake.printfile.common import (
    MAX_CONTROL_FILE_BYTES,
    PlannedLetter,
    PrintFileRefusedError,
    pages_text,
)
from utskick.intake.printfile.numbers import checked_reading
from utskick.letters.inputs import LetterRejectedError
from utskick.letters.schedule import parse_not_before
from utskick.web.json_guard import DuplicateKeyError, loads_strict

CONTROL_SUFFIXES = (".csv", ".json")
_COLUMNS = {
    "pages": ("sidor", "sida", "pages"),
    "first_page": ("från", "fran", "från_sida", "fran_sida", "första_sida", "forsta_sida",
                   "from", "first_page"),
    "last_page": ("till", "till_sida", "sista_sida", "to", "last_page"),
    "recipient": ("personnummer", "mottagare", "identitetsnummer", "recipient"),
    "subject": ("ämne", "amne", "ämnesrad", "amnesrad", "subject"),
    "message_type": ("meddelandetyp", "message_type"),
    "case_number": ("diarienummer", "case_number"),
    "reference": ("referens", "reference"),
    "not_before": ("tidigast", "skickas_tidigast", "not_before"),
}  # fmt: skip
_KEY_OF = {name: key for key, names in _COLUMNS.items() for name in names}
_EXCEL_SEPARATOR = re.compile(r"sep=[;,\t]", re.IGNORECASE)
_PAGES = re.compile(r"\s*([0-9]{1,6})\s*(?:[-–—]\s*([0-9]{1,6})\s*)?")
_KNOWN = (
    "sidor (eller från och till), personnummer, ämne, meddelandetyp, diarienummer, referens "
    "och tidigast"
)


@dataclass(frozen=True)
class ControlRow:
    """One letter as the control file gives it; `where` names its row for a reason."""

    where: str
    first_page: int
    last_page: int
    values: dict[str, str]


def read_control_file(path: Path) -> list[ControlRow]:
    """The control file's letters, in its order.

    Raises:
        PrintFileRefusedError: the file cannot be read, is no CSV or JSON, has a column not
            known or lacks one needed, or a row's pages cannot be read.
    """
    if path.suffix.lower() not in CONTROL_SUFFIXES:
        raise PrintFileRefusedError(
            f"styrfilen {path.name} ska vara en CSV-fil (.csv) eller en JSON-fil (.json)"
        )
    try:
        if path.stat().st_size > MAX_CONTROL_FILE_BYTES:
            raise PrintFileRefusedError(
                f"styrfilen {path.name} är större än "
                f"{MAX_CONTROL_FILE_BYTES // (1024 * 1024)} MB; dela upp utskriften"
            )
        content = path.read_bytes()
    except OSError as error:
        raise PrintFileRefusedError(
            f"styrfilen {path.name} kan inte läsas ({error.strerror or error})"
        ) from None
    records = (
        _json_records(content, path.name)
        if path.suffix.lower() == ".json"
        else _csv_records(content, path.name)
    )
    if not records:
        raise PrintFileRefusedError(f"styrfilen {path.name} har inga brev (inga rader)")
    return [_row(where, values, path.name) for where, values in records]


def control_letters(
    rows: list[ControlRow], page_count: int, file_name: str, zone: str, today: dt.date
) -> list[PlannedLetter]:
    """The letters the control file gives, once its ranges are found to fit the print file.

    Raises:
        PrintFileRefusedError: a range goes beyond the file, two overlap, or pages belong to
            no letter.
    """
    _check_ranges(rows, page_count, file_name)
    return [_planned(index, row, zone, today) for index, row in enumerate(rows, start=1)]


# --- reading ----------------------------------------------------------------------------


def _decoded(content: bytes, name: str) -> str:
    """The text: UTF-8 (with or without a byte order mark), else Windows-1252 (older Excel).

    Some export tools write the byte order mark and then text in the system's code page; the
    mark is no part of that text.
    """
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.removeprefix(codecs.BOM_UTF8).decode("cp1252")
    except UnicodeDecodeError:
        raise PrintFileRefusedError(
            f"styrfilen {name} kan inte läsas som text (varken UTF-8 eller Windows-1252); "
            "spara den som CSV UTF-8"
        ) from None


def _csv_records(content: bytes, name: str) -> list[tuple[str, dict[str, str]]]:
    text = _decoded(content, name)
    first_line = text.split("\n", 1)[0].rstrip("\r")
    skipped = 0
    if _EXCEL_SEPARATOR.fullmatch(first_line):
        # Excel's hint line `sep=;` names the delimiter; the header comes after it.
        delimiter, skipped = first_line[-1], 1
    else:
        delimiter = max(";,\t", key=first_line.count)
    try:
        lines = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise PrintFileRefusedError(f"styrfilen {name} är ingen läsbar CSV-fil ({error})") from None
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if any(line)][skipped:]
    if not numbered:
        return []
    header = _header(numbered[0][1], name)
    records = []
    for number, line in numbered[1:]:
        if len(line) > len(header) and any(cell.strip() for cell in line[len(header) :]):
            raise PrintFileRefusedError(
                f"styrfilen {name}, rad {number}: raden har fler kolumner än rubrikraden; "
                "kontrollera avgränsaren (; eller ,) och citattecknen"
            )
        values = {key: cell.strip() for key, cell in zip(header, line, strict=False)}
        records.append((f"rad {number}", values))
    return records


def _header(cells: list[str], name: str) -> list[str]:
    """The columns' keys; every column must be known, and none given twice."""
    keys = []
    for cell in cells:
        normal = re.sub(r"[\s\-]+", "_", cell.strip().lstrip("\ufeff").casefold())
        key = _KEY_OF.get(normal)
        if key is None:
            raise PrintFileRefusedError(
                f"styrfilen {name} har kolumnen {cell.strip()!r}, som inte är känd; kolumnerna "
                f"kan vara {_KNOWN} (eller samma på engelska)"
            )
        if key in keys:
            raise PrintFileRefusedError(
                f"styrfilen {name} har kolumnen {cell.strip()!r} två gånger; ange varje kolumn "
                "en gång"
            )
        keys.append(key)
    if "recipient" not in keys:
        raise PrintFileRefusedError(
            f"styrfilen {name} saknar kolumnen personnummer (mottagare); lägg till den"
        )
    if "pages" in keys and ("first_page" in keys or "last_page" in keys):
        raise PrintFileRefusedError(
            f"styrfilen {name} anger sidorna två gånger; ange antingen kolumnen sidor "
            "(t.ex. 1-2) eller kolumnerna från och till"
        )
    if "pages" not in keys and not ("first_page" in keys and "last_page" in keys):
        raise PrintFileRefusedError(
            f"styrfilen {name} säger inte vilka sidor som är vilket brev; lägg till kolumnen "
            "sidor (t.ex. 1-2) eller kolumnerna från och till"
        )
    return keys


def _json_records(content: bytes, name: str) -> list[tuple[str, dict[str, str]]]:
    try:
        data = loads_strict(content)
    except DuplicateKeyError as error:
        raise PrintFileRefusedError(f"styrfilen {name}: {error.message}") from None
    except (ValueError, RecursionError):
        raise PrintFileRefusedError(
            f"styrfilen {name} är ingen giltig JSON i UTF-8; spara den på nytt"
        ) from None
    if isinstance(data, dict) and set(data) == {"letters"}:
        data = data["letters"]
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise PrintFileRefusedError(
            f'styrfilen {name} ska vara en lista av brev (JSON-objekt), eller {{"letters": '
            "[…]} med en sådan lista"
        )
    records = []
    for number, item in enumerate(data, start=1):
        header = _header(list(item), name)
        values = {}
        for key, value in zip(header, item.values(), strict=True):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise PrintFileRefusedError(
                    f"styrfilen {name}, brev {number}: värdena ska vara text eller heltal"
                )
            values[key] = str(value).strip()
        records.append((f"brev {number} i styrfilen", values))
    return records


def _row(where: str, values: dict[str, str], name: str) -> ControlRow:
    """A record with its pages read (`1-2`, `3`, or from and to)."""
    if "pages" in values:
        match = _PAGES.fullmatch(values["pages"])
        first, last = (match.group(1), match.group(2) or match.group(1)) if match else ("", "")
    else:
        first, last = values.get("first_page", ""), values.get("last_page", "")
    if not (first.isdigit() and last.isdigit()):
        shown = values.get("pages") or f"{first}–{last}"
        raise PrintFileRefusedError(
            f"styrfilen {name}, {where}: sidorna {shown!r} går inte att läsa; skriv till "
            "exempel 1-2 (första och sista sidan, från 1)"
        )
    first_page, last_page = int(first), int(last)
    if not 1 <= first_page <= last_page:
        raise PrintFileRefusedError(
            f"styrfilen {name}, {where}: sidorna {first_page}–{last_page} är ingen följd av "
            "sidor; första sidan är 1 eller mer och sista sidan kommer inte före den första"
        )
    return ControlRow(where, first_page, last_page, values)


# --- fitting the print file ---------------------------------------------------------------


def _check_ranges(rows: list[ControlRow], page_count: int, file_name: str) -> None:
    for row in rows:
        if row.last_page > page_count:
            raise PrintFileRefusedError(
                f"styrfilen, {row.where}: {pages_text(row.first_page, row.last_page)} finns "
                f"inte; utskriftsfilen {file_name} har {page_count} sidor. Kontrollera att "
                "styrfilen hör till utskriften"
            )
    in_order = sorted(rows, key=lambda row: row.first_page)
    expected = 1
    for before, row in zip([None, *in_order], in_order, strict=False):
        if before is not None and row.first_page <= before.last_page:
            raise PrintFileRefusedError(
                f"styrfilen: {before.where} ({pages_text(before.first_page, before.last_page)})"
                f" och {row.where} ({pages_text(row.first_page, row.last_page)}) har "
                f"{pages_text(row.first_page, min(before.last_page, row.last_page))} "
                "gemensamt; varje sida hör till ett brev"
            )
        if row.first_page > expected:
            _refuse_left_out(expected, row.first_page - 1, file_name)
        expected = row.last_page + 1
    if expected <= page_count:
        _refuse_left_out(expected, page_count, file_name)


def _refuse_left_out(first_page: int, last_page: int, file_name: str) -> None:
    raise PrintFileRefusedError(
        f"{pages_text(first_page, last_page)} i utskriftsfilen {file_name} hör inte till något "
        "brev i styrfilen; ta med dem i ett brev eller ta bort dem ur utskriften"
    )


def _planned(index: int, row: ControlRow, zone: str, today: dt.date) -> PlannedLetter:
    values = row.values
    recipient = values.get("recipient") or None
    problem = None
    if recipient is None:
        problem = f"{row.where}: personnummer saknas; fyll i mottagarens nummer"
    else:
        problem = checked_reading(recipient, row.where, today, fix_in="styrfilen").problem
    not_before = None
    try:
        not_before = parse_not_before(values.get("not_before"), zone)
    except LetterRejectedError as error:
        problem = problem or f"{row.where}: tidigast: {error.message}"
    return PlannedLetter(
        index=index,
        first_page=row.first_page,
        last_page=row.last_page,
        recipient=recipient,
        problem=problem,
        subject=values.get("subject") or None,
        message_type=values.get("message_type") or None,
        case_number=values.get("case_number") or None,
        reference=values.get("reference") or None,
        not_before=not_before,
    )


def control_file_beside(pdf: Path) -> Path | None:
    """The control file that lies beside a print file (same name, `.csv` or `.json`).

    Raises:
        PrintFileRefusedError: both a CSV and a JSON file lie there.
    """
    found = [
        path
        for path in (pdf.with_suffix(suffix) for suffix in (*CONTROL_SUFFIXES, ".CSV", ".JSON"))
        if path.is_file()
    ]
    unique = sorted({path.resolve() for path in found})
    if len(unique) > 1:
        raise PrintFileRefusedError(
            f"bredvid utskriftsfilen {pdf.name} ligger flera styrfiler "
            f"({', '.join(path.name for path in unique)}); lämna en av dem"
        )
    return unique[0] if unique else None
