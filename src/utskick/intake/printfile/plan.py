"""Which pages of a print file make which letter, and whose each is, by the source's rule.

The plan is made before anything is stored: a control file gives the letters' pages, a text
anchor starts a letter on every page that has it, and the other rules (form field, metadata,
file name) make the whole file one letter. A plan that cannot be made refuses the file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pypdf import PdfReader

from utskick.intake.printfile.anchor import anchor_letters
from utskick.intake.printfile.common import PlannedLetter, PrintFileRefusedError, Reading
from utskick.intake.printfile.control import control_letters, read_control_file
from utskick.intake.printfile.recipients import from_file_name, from_form_field, from_metadata
from utskick.intake.sources import Source

CONTROL_FILE = "control-file"
ANCHOR = "anchor"


def plan_letters(
    *,
    reader: PdfReader,
    source: Source,
    file_name: str,
    control: Path | None,
    zone: str,
    today: dt.date,
) -> list[PlannedLetter]:
    """The letters of the print file, in order, each with its pages and recipient.

    Args:
        reader: the print file, opened and checked (`document.open_print_file`).
        source: the source it came from; its rule says how letters are found.
        file_name: the print file's name as handed in (the file-name rule reads it).
        control: the control file, for the control-file rule (and only for it).
        zone: the time zone of a control file's times without an offset.
        today: the day that decides the century of a 10-digit number.

    Raises:
        PrintFileRefusedError: the rule's input is missing, or does not fit the file.
    """
    rule = source.recipient
    pages = len(reader.pages)
    if rule.rule == CONTROL_FILE:
        if control is None:
            stem = Path(file_name).stem
            raise PrintFileRefusedError(
                f"källan {source.name} delar utskriften efter en styrfil, men ingen styrfil kom "
                f"med {file_name}; lämna in {stem}.csv eller {stem}.json tillsammans med "
                "PDF-filen"
            )
        rows = read_control_file(control)
        return control_letters(rows, pages, file_name, zone, today)
    if control is not None:
        raise PrintFileRefusedError(
            f"källan {source.name} läser mottagaren med regeln {rule.rule}, inte ur en styrfil; "
            "lämna in PDF-filen utan styrfil, eller ändra källans regel till control-file"
        )
    if rule.rule == ANCHOR:
        return anchor_letters(reader, rule, file_name, today)
    reading = _whole_file_reading(reader, source, file_name, today)
    return [PlannedLetter(1, 1, pages, reading.recipient, reading.problem)]


def _whole_file_reading(
    reader: PdfReader, source: Source, file_name: str, today: dt.date
) -> Reading:
    """The recipient of a file that is one letter, by the form-field, metadata or name rule."""
    rule = source.recipient
    if rule.rule == "form-field":
        assert rule.field is not None  # the rule is refused without one
        return from_form_field(reader, rule.field, today)
    if rule.rule == "metadata":
        assert rule.field is not None
        return from_metadata(reader, rule.field, today)
    return from_file_name(file_name, rule.pattern, today)
