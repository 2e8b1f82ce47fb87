"""What to do with each file of an inbox listing: take it, refuse it, or let it wait.

By the file's ending (in any case):

- `.pdf`: a print file. Under the recipient rule `control-file` its control file is the
  `.csv` or `.json` beside it with the same stem; the two are taken together once both are
  complete. A PDF waits for its control file and a control file for its PDF; alone for an
  hour, either is refused.
- `.ndjson`, `.jsonl`: a batch of letters, one API letter object per line.
- `.csv`, `.xlsx` (under any rule but `control-file`): a table of letters, one per row.
- Anything else is refused, with a text that says what is taken.

A file whose name cannot be carried into receipts and logs (`pickup.names`) is refused once it
is complete, whatever its ending.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from utskick.intake.pickup.folders import FolderEntry
from utskick.intake.pickup.names import name_problem
from utskick.intake.pickup.stability import Sighting
from utskick.intake.sources import Source

PDF = "pdf"
CSV = "csv"
XLSX = "xlsx"
NDJSON = "ndjson"
# A print file's control file, under the `control-file` rule (never taken alone).
CONTROL = "control"
# The kinds `IntakeFile.kind` holds.
KINDS = (PDF, CSV, XLSX, NDJSON)
CONTROL_SUFFIXES = (".csv", ".json")
NDJSON_SUFFIXES = (".ndjson", ".jsonl")
# A PDF without its control file, or a control file without its PDF, waits this long.
ALONE_SECONDS = 3600.0


@dataclass(frozen=True)
class Take:
    """A complete file to take, with its control file (a print file under `control-file`)."""

    name: str
    kind: str
    control: str | None = None


@dataclass(frozen=True)
class Refuse:
    """A complete file that is refused as it lies, with the Swedish reason."""

    name: str
    reason: str


@dataclass(frozen=True)
class Wait:
    """A file left where it is for now, and why (in Swedish)."""

    name: str
    reason: str


Action = Take | Refuse | Wait


def suffix_of(name: str) -> str:
    """The file's ending in lower case, with its dot (`.pdf`); "" without one."""
    stem, dot, suffix = name.rpartition(".")
    return f".{suffix.lower()}" if dot and stem else ""


def stem_of(name: str) -> str:
    """The name without its ending."""
    suffix = suffix_of(name)
    return name[: -len(suffix)] if suffix else name


def stem_key(name: str) -> str:
    """The stem as a print file and its control file are paired by it.

    In Unicode's composed form (NFC): macOS writes `å` decomposed, most programs composed, and
    a PDF saved on a Mac beside a control file from the business system is still its pair.
    """
    return unicodedata.normalize("NFC", stem_of(name))


def plan(
    source: Source,
    entries: list[FolderEntry],
    complete: dict[str, Sighting | None],
    now: float,
) -> list[Action]:
    """What to do with each listed file that is not a partial one, in name order."""
    names = {entry.name for entry in entries if entry.name in complete}
    control_rule = source.recipient.rule == "control-file"
    actions: list[Action] = []
    for name in sorted(names):
        kind = kind_of(source, name)
        seen = complete[name]
        problem = name_problem(name)
        if problem is not None:
            actions.append(_still_written(name) if seen is None else Refuse(name, problem))
        elif kind == CONTROL:
            actions.append(_control_alone(name, seen, names, now))
        elif kind == PDF and control_rule:
            actions.append(_print_pair(name, complete, names, now))
        elif seen is None:
            actions.append(_still_written(name))
        elif kind is None:
            actions.append(Refuse(name, unknown_kind(source, suffix_of(name))))
        else:
            actions.append(Take(name, kind))
    return actions


def _control_alone(name: str, seen: Sighting | None, names: set[str], now: float) -> Action:
    """A control file: taken with its PDF (decided there), else waits, then refused."""
    pdf = _pdf_beside(name, names)
    if pdf is not None:
        return Wait(name, f"tas tillsammans med utskriftsfilen {pdf}")
    if seen is not None and _alone_too_long(seen, now):
        return Refuse(
            name,
            f"styrfilen {name} har legat ensam i mer än en timme: det finns ingen "
            f"utskriftsfil {stem_of(name)}.pdf bredvid den. Lägg PDF-filen och styrfilen i "
            "mappen igen, båda med samma namn före filändelsen.",
        )
    return Wait(name, f"väntar på utskriftsfilen {stem_of(name)}.pdf")


def _print_pair(
    name: str, complete: dict[str, Sighting | None], names: set[str], now: float
) -> Action:
    """A PDF under the control-file rule: taken with its one control file once both are whole."""
    stem = stem_of(name)
    controls = sorted(
        other
        for other in names
        if stem_key(other) == stem_key(name) and suffix_of(other) in CONTROL_SUFFIXES
    )
    if len(controls) > 1:
        return Refuse(
            name,
            f"utskriftsfilen {name} har två styrfiler ({' och '.join(controls)}); lägg "
            "PDF-filen i mappen igen med bara en av dem",
        )
    seen = complete[name]
    if not controls:
        if seen is not None and _alone_too_long(seen, now):
            return Refuse(
                name,
                f"utskriftsfilen {name} har legat utan styrfil i mer än en timme. Källan hittar "
                f"breven och mottagarna i en styrfil {stem}.csv eller {stem}.json bredvid "
                "PDF-filen; lägg båda i mappen igen.",
            )
        return Wait(name, f"väntar på styrfilen {stem}.csv eller {stem}.json")
    [control] = controls
    if seen is None or complete[control] is None:
        return _still_written(name)
    return Take(name, PDF, control)


def _still_written(name: str) -> Wait:
    return Wait(name, "skrivs fortfarande (storleken eller tiden ändras)")


def _pdf_beside(control: str, names: set[str]) -> str | None:
    stem = stem_key(control)
    return next(
        (name for name in sorted(names) if suffix_of(name) == ".pdf" and stem_key(name) == stem),
        None,
    )


def _alone_too_long(seen: Sighting, now: float) -> bool:
    """Alone for an hour by the file's time and since this process first saw it.

    Both must hold: a file whose time was kept from elsewhere (an old copy uploaded) is not
    refused at once, and a process that just started gives it its hour again.
    """
    return now - seen.mtime >= ALONE_SECONDS and now - seen.first_seen >= ALONE_SECONDS


def unknown_kind(source: Source, suffix: str) -> str:
    """Why a file of this ending is refused, and what the source takes, in Swedish."""
    kind = f"filtypen {suffix}" if suffix else "filer utan filändelse"
    if source.recipient.rule == "control-file":
        taken = (
            "utskriftsfiler (.pdf) med styrfil (.csv eller .json med samma namn) och brev i "
            "NDJSON (.ndjson, .jsonl)"
        )
    else:
        taken = (
            "utskriftsfiler (.pdf), tabeller med ett brev per rad (.csv, .xlsx) och brev i "
            "NDJSON (.ndjson, .jsonl)"
        )
    return (
        f"{kind} tas inte emot; källan {source.name} tar emot {taken}. Spara filen i ett "
        "av de formaten och lägg den i mappen igen."
    )


def kind_of(source: Source, name: str) -> str | None:
    """What a file is to the source by its ending: a kind, `control`, or None (not taken)."""
    suffix = suffix_of(name)
    control_rule = source.recipient.rule == "control-file"
    if control_rule and suffix in CONTROL_SUFFIXES:
        return CONTROL
    if suffix == ".pdf":
        return PDF
    if suffix in NDJSON_SUFFIXES:
        return NDJSON
    if suffix in (".csv", ".xlsx") and not control_rule:
        return suffix[1:]
    return None
