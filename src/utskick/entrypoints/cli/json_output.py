"""`--json` for the admin commands (`message-types`, `systems`, `senders`, `jobs`).

With `--json` a command writes one JSON document on standard out and nothing else there, so
that a script can read it: times in UTC as ISO 8601, codes as stored. What a person should
read (a refusal, a secret shown once) stays on standard error; a refused command ends with
a non-zero exit code and changes nothing, with or without `--json`.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json", help="Skriv resultatet som JSON på standard ut (tider i UTC, ISO 8601)."
    ),
]


def print_json(value: object) -> None:
    """Write `value` as indented JSON on standard out."""
    print(json.dumps(value, ensure_ascii=False, indent=2, default=_plain))


def iso_utc(moment: dt.datetime | None) -> str | None:
    """A stored time in UTC as ISO 8601 (SQLite gives them without a zone); None stays None."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(dt.UTC).isoformat()


def _plain(value: object) -> str:
    if isinstance(value, dt.datetime):
        return iso_utc(value) or ""
    return str(value)
