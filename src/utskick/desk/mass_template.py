"""The letter of a mass mailing as a template: `{Kolumnnamn}` is filled in from each row.

A merge field names a column of the uploaded table as its header reads; case and runs of
spaces do not matter (`{förnamn}` fills in from "Förnamn"). Names may hold spaces and Swedish
letters. `{{` and `}}` write a literal brace. A template is checked against the table's columns
once, when it is parsed, so that every row can then be filled in without a surprise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

# One token at a time: an escaped brace, a field, a brace that pairs with nothing, plain text.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]|[^{}]+")
_SNIPPET_CHARS = 20


class TemplateError(ValueError):
    """A template that cannot be used; `message` says in Swedish what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class _Field(NamedTuple):
    column: str


@dataclass(frozen=True)
class Template:
    """A parsed template: `fields` are the columns it uses, in the order they first appear."""

    text: str
    fields: tuple[str, ...]
    _parts: tuple[str | _Field, ...]

    @classmethod
    def parse(cls, text: str, columns: Sequence[str]) -> Template:
        """Parse `text`, binding each merge field to one of `columns`.

        Raises:
            TemplateError: a brace that pairs with nothing, an empty field, or fields that are
                not columns of the table (all of them named, with the table's columns listed).
        """
        by_key = {_key(column): column for column in columns}
        parts: list[str | _Field] = []
        unknown: list[str] = []
        for token in _TOKEN.finditer(text):
            piece = token.group()
            if piece in ("{{", "}}"):
                parts.append(piece[0])
            elif piece in ("{", "}"):
                raise TemplateError(_unpaired(text, token.start(), piece))
            elif piece.startswith("{"):
                name = " ".join(token.group(1).split())
                if not name:
                    raise TemplateError(
                        f"{_where(text, token.start())} står {{}} utan kolumnnamn; skriv "
                        "kolumnens rubrik mellan klamrarna, till exempel {Namn}"
                    )
                column = by_key.get(_key(name))
                if column is None:
                    unknown.append(name)
                else:
                    parts.append(_Field(column))
            else:
                parts.append(piece)
        if unknown:
            raise TemplateError(_unknown_fields(unknown, columns))
        fields = tuple(dict.fromkeys(part.column for part in parts if isinstance(part, _Field)))
        return cls(text=text, fields=fields, _parts=tuple(parts))

    def render(self, row: Mapping[str, str]) -> str:
        """The text with every field filled in from `row` (a column missing from it gives "")."""
        return "".join(
            row.get(part.column, "") if isinstance(part, _Field) else part for part in self._parts
        )


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _where(text: str, position: int) -> str:
    """Where in the text: the line, when there is more than one, and the text around it."""
    start = max(0, position - _SNIPPET_CHARS)
    snippet = " ".join(text[start : position + _SNIPPET_CHARS].split())
    line = text.count("\n", 0, position) + 1
    on_line = f" på rad {line}" if "\n" in text else ""
    return f"I mallen{on_line} (vid '{snippet}')"


def _unpaired(text: str, position: int, brace: str) -> str:
    if brace == "{":
        return (
            f"{_where(text, position)} står en {{ som inte stängs med }}; skriv fältet som "
            "{Kolumnnamn}, eller {{ för att få en klammer i texten"
        )
    return (
        f"{_where(text, position)} står en }} utan {{ före; skriv fältet som {{Kolumnnamn}}, "
        "eller }} för att få en klammer i texten"
    )


def _unknown_fields(unknown: list[str], columns: Sequence[str]) -> str:
    named = ", ".join(f"{{{name}}}" for name in dict.fromkeys(unknown))
    verb = "Fälten" if len(set(unknown)) > 1 else "Fältet"
    return (
        f"{verb} {named} finns inte bland filens kolumner ({', '.join(columns)}); skriv "
        "kolumnens rubrik precis som i filen mellan klamrarna"
    )
