"""Splitting a print file by a text anchor: every page with the label starts a letter.

Each page's text is taken out with pypdf (`extract_text`); with `area_mm` set, only the text
that starts inside that rectangle counts (pypdf's text visitor gives each piece of text with
its position). The label is found in any case and with any whitespace; the number right after
it is the recipient. Nothing is guessed: pages before the first label belong to no letter and
refuse the file; a letter whose first page names two different numbers, none, or one that
fails its check digit, is a letter with a problem that names the page.
"""

from __future__ import annotations

import datetime as dt

from pypdf import PageObject, PdfReader
from pypdf.errors import PyPdfError

from utskick.intake.printfile.common import (
    PlannedLetter,
    PrintFileRefusedError,
    Reading,
    pages_text,
)
from utskick.intake.printfile.document import PAGES_PER_RELEASE, release_read_objects
from utskick.intake.printfile.numbers import (
    checked_reading,
    distinct_numbers,
    label_pattern,
    numbers_after,
)
from utskick.intake.sources import RecipientRule

# PDF points per millimetre.
POINTS_PER_MM = 72 / 25.4
_READ_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, ZeroDivisionError)


def anchor_letters(
    reader: PdfReader, rule: RecipientRule, file_name: str, today: dt.date
) -> list[PlannedLetter]:
    """The letters of the file, each from a page with the label up to the next such page.

    Raises:
        PrintFileRefusedError: no page has the label, pages come before the first that has
            it, or a page's text cannot be read.
    """
    label = label_pattern(rule.label)
    starts: list[tuple[int, Reading]] = []
    for number, page in enumerate(reader.pages, start=1):
        found = numbers_after(label, page_text(page, rule.area_mm, number))
        if found:
            starts.append((number, _reading(found, number, rule.label, today)))
        if number % PAGES_PER_RELEASE == 0:
            release_read_objects(reader)
    where = "" if rule.area_mm is None else " inom det område källan anger (area_mm)"
    if not starts:
        raise PrintFileRefusedError(
            f'ingen sida i utskriftsfilen {file_name} har texten "{rule.label}"{where}, så '
            "ingen mottagare kan läsas; skriv ut varje brev med mottagarens personnummer efter "
            f'"{rule.label}" på första sidan, eller ändra källans regel'
        )
    first_start = starts[0][0]
    if first_start > 1:
        raise PrintFileRefusedError(
            f"{pages_text(1, first_start - 1)} i utskriftsfilen {file_name} kommer före den "
            f'första sidan med "{rule.label}"{where} (sidan {first_start}) och hör inte till '
            "något brev; ta bort dem ur utskriften eller skriv mottagaren på dem"
        )
    total = len(reader.pages)
    return [
        PlannedLetter(
            index=index,
            first_page=first,
            last_page=starts[index][0] - 1 if index < len(starts) else total,
            recipient=reading.recipient,
            problem=reading.problem,
        )
        for index, (first, reading) in enumerate(starts, start=1)
    ]


def page_text(
    page: PageObject, area_mm: tuple[float, float, float, float] | None, number: int
) -> str:
    """The page's text; with an area, only the pieces that start inside it.

    Raises:
        PrintFileRefusedError: the page's text cannot be read.
    """
    try:
        if area_mm is None:
            return page.extract_text()
        return _text_in_area(page, area_mm)
    except _READ_ERRORS as error:
        raise PrintFileRefusedError(
            f"texten på sidan {number} kan inte läsas ({type(error).__name__}), så det går "
            "inte att se om ett brev börjar där; skriv ut breven till PDF på nytt med text "
            "(inte som bild)"
        ) from None


def _text_in_area(page: PageObject, area_mm: tuple[float, float, float, float]) -> str:
    left, top, right, bottom = area_mm
    box = page.mediabox
    box_left, box_top = float(box.left), float(box.top)
    pieces: list[str] = []

    def visit(text: str, cm: list[float], tm: list[float], _font: object, _size: object) -> None:
        if not text:
            return
        # Where the piece starts: the text matrix's origin in the page's space (PDF 9.4.2).
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        x_mm, y_mm = (x - box_left) / POINTS_PER_MM, (box_top - y) / POINTS_PER_MM
        if left <= x_mm <= right and top <= y_mm <= bottom:
            pieces.append(text)

    page.extract_text(visitor_text=visit)
    return "".join(pieces)


def _reading(found: list[tuple[str | None, str]], page: int, label: str, today: dt.date) -> Reading:
    """The recipient of a letter whose first page has the label: one number, or the problem."""
    numbers = [number for number, _shown in found if number is not None]
    if not numbers:
        after = found[0][1]
        instead = f" (där står {after!r})" if after else ""
        return Reading(
            None,
            f'sidan {page}: efter "{label}" står inget person-, samordnings- eller '
            f"organisationsnummer{instead}; skriv mottagarens nummer direkt efter "
            f'"{label}", till exempel {label} 19121212-1212',
        )
    distinct = distinct_numbers(numbers)
    if len(distinct) > 1:
        return Reading(
            None,
            f'sidan {page} har två olika nummer efter "{label}" ({distinct[0]} och '
            f"{distinct[1]}); ett brev har en mottagare, så rätta utskriften så att första "
            "sidan bara namnger den",
        )
    return checked_reading(distinct[0], f"sidan {page}", today)
