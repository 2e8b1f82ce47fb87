"""The recipient of a print file that is one letter: from a form field, metadata or its name.

Each reader returns a `Reading`: the number as written in the file, or why none can be used.
None of them guesses: a field or entry that is missing, empty, holds something other than one
number, or holds two different numbers, is a problem that names where it looked.
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree
from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import DictionaryObject, StreamObject

from utskick.intake.printfile.common import Reading
from utskick.intake.printfile.numbers import (
    checked_reading,
    distinct_numbers,
    leading_number,
    whole_number,
)
from utskick.mm.xml import UnsafeXMLError, parse_untrusted

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
# Errors pypdf raises for a damaged part of a file it otherwise reads.
_READ_ERRORS = (PyPdfError, ValueError, KeyError, TypeError, AttributeError)


def from_form_field(reader: PdfReader, field: str, today: dt.date) -> Reading:
    """The number in the form field `field` (its full name, or its own name within a group)."""
    where = f'formulärfältet "{field}"'
    try:
        fields = reader.get_fields() or {}
    except _READ_ERRORS:
        fields = {}
    values = [
        _text_of(value.get("/V"))
        for name, value in fields.items()
        if name == field or name.rsplit(".", 1)[-1] == field
    ]
    if not values:
        return Reading(
            None,
            f'PDF-filen har inget formulärfält "{field}"; skapa PDF-filen med fältet ifyllt med '
            "mottagarens personnummer, eller ändra källans regel",
        )
    return _one_number(values, where, today)


def from_metadata(reader: PdfReader, field: str, today: dt.date) -> Reading:
    """The number in the metadata entry `field`.

    The entry is looked for in the XMP packet (by its local name, with any prefix, as an
    attribute or an element) and in the document information (`/field`).
    """
    name = field.removeprefix("/").rsplit(":", 1)[-1]
    values = [*_xmp_values(reader, name), *_info_values(reader, name)]
    where = f'metadatauppgiften "{name}"'
    if not values:
        return Reading(
            None,
            f'PDF-filens metadata har ingen uppgift "{name}" (varken i XMP eller i '
            "dokumentinformationen); skapa PDF-filen med mottagarens personnummer i den "
            "uppgiften, eller ändra källans regel",
        )
    return _one_number(values, where, today)


def from_file_name(file_name: str, pattern: str | None, today: dt.date) -> Reading:
    """The number in the file's name: by `pattern`, or the digits the name starts with.

    A pattern's group named `nummer` is the number if it has one, else its first group, else
    the whole match.
    """
    where = f'filnamnet "{file_name}"'
    if pattern is None:
        number = leading_number(file_name)
        if number is None:
            return Reading(
                None,
                f"{where} börjar inte med ett person-, samordnings- eller organisationsnummer; "
                "döp filen som 19121212-1212_beslut.pdf eller 191212121212_beslut.pdf",
            )
        return checked_reading(number, where, today, fix_in="filnamnet")
    match = re.search(pattern, file_name)
    if match is None:
        return Reading(
            None,
            f"{where} har inget nummer där källans mönster ({pattern}) söker det; döp om filen "
            "eller rätta mönstret",
        )
    if "nummer" in match.re.groupindex:
        found = match.group("nummer")
    else:
        found = match.group(1) if match.re.groups else match.group()
    return _one_number([found or ""], where, today)


def _one_number(values: list[str], where: str, today: dt.date) -> Reading:
    """The one number the values hold, or the problem: empty, not a number, or two numbers."""
    texts = [value.strip() for value in values if value.strip()]
    if not texts:
        return Reading(None, f"{where} är tomt; fyll i mottagarens personnummer")
    numbers = [whole_number(text) for text in texts]
    for text, number in zip(texts, numbers, strict=True):
        if number is None:
            return checked_reading(text, where, today)
    distinct = distinct_numbers(number for number in numbers if number is not None)
    if len(distinct) > 1:
        shown = " och ".join(distinct[:2])
        return Reading(
            None,
            f"{where} finns mer än en gång med olika nummer ({shown}); ett brev har en "
            "mottagare, så ange numret en gång",
        )
    return checked_reading(distinct[0], where, today)


def _text_of(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def _xmp_values(reader: PdfReader, name: str) -> list[str]:
    """The values of every XMP property with that local name: attributes and elements."""
    try:
        catalog = reader.trailer["/Root"].get_object()
        metadata = catalog.get("/Metadata") if isinstance(catalog, DictionaryObject) else None
        stream = metadata.get_object() if metadata is not None else None
        if not isinstance(stream, StreamObject):
            return []
        data = stream.get_data()
        root = parse_untrusted(data if isinstance(data, bytes) else data.encode())
    except (*_READ_ERRORS, UnsafeXMLError):
        return []
    wanted = name.casefold()
    values: list[str] = []
    for element in root.iter(etree.Element):
        for attribute, value in element.attrib.items():
            if etree.QName(attribute).localname.casefold() == wanted:
                values.append(str(value))
        if etree.QName(element).localname.casefold() == wanted:
            # A simple value is the element's text; an array (rdf:Alt, rdf:Seq) its items'.
            items = [item.text or "" for item in element.iter(f"{{{_RDF}}}li")]
            values.extend(items or [element.text or ""])
    return values


def _info_values(reader: PdfReader, name: str) -> list[str]:
    """The document information's entry of that name (any case)."""
    try:
        info = reader.metadata
        if info is None:
            return []
        return [
            _text_of(value)
            for key, value in info.items()
            if str(key).removeprefix("/").casefold() == name.casefold()
        ]
    except _READ_ERRORS:
        return []
