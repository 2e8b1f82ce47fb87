"""`utskick records`: records rules, holds (spärrar), disposal (gallring) and its log.

The commands a records officer or an operator runs: list and set the rule of a message type,
place and release holds, run the disposal now (or only count what it would take) and read
the disposal log. Lists print as tables, or as JSON with `--json` (times in UTC, ISO 8601).

The archive export's commands (`utskick records archive …`) are another module's
(`records_archive`); they join this group on `records_app`, and this module does not import
them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.db.engine import session_factory
from utskick.entrypoints.cli.common import (
    CLI_ACTOR,
    HomeOption,
    fail,
    now,
    open_installation,
    shown_time,
)
from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.letters.models import Letter, MessageType
from utskick.records.disposal_log import (
    WHAT_TEXTS,
    DisposalCount,
    DisposalSummary,
    disposal_log,
)
from utskick.records.holds import (
    HoldInputError,
    active_holds,
    count_held_letters,
    place_hold,
    release_hold,
)
from utskick.records.models import DisposalLogEntry, RecordHold
from utskick.records.retention import dispose_due, due_for_disposal
from utskick.records.rules import (
    ANY_TYPE,
    KEEPER_TEXTS,
    RULE_TEXTS,
    RULE_WORDS,
    Rule,
    RuleBook,
    RuleInputError,
    set_rule,
)

records_app = typer.Typer(
    help="Allmänna handlingar: arkivregler per meddelandetyp, spärrar och gallring.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Skriv listan som JSON.")]
OrgFilter = Annotated[
    str | None,
    typer.Option("--org", help="Bara denna avsändarorganisation (organisationsnummer)."),
]
# The words a person may type for who keeps the record.
KEEPER_WORDS = {"system": "system", "verksamhetssystemet": "system", "utskick": "utskick"}


# --- rules ---------------------------------------------------------------------------------


@records_app.command(
    "rules", help="Lista arkivreglerna: hur breven av varje meddelandetyp bevaras."
)
def records_rules(*, home: HomeOption = None, as_json: JsonFlag = False) -> None:
    """List the records rules, the installation's first, then by organisation and type."""
    installation = open_installation(home)
    with installation.session() as session:
        rules = RuleBook.load(session).all()
    if as_json:
        _print_json([_rule_fields(rule) for rule in rules])
        return
    if not rules:
        print(
            "Inga arkivregler är satta: breven hålls ordnade, verksamhetssystemet bevarar "
            "dem och ingenting gallras. Sätt en regel med utskick records rule."
        )
        return
    table = Table(
        "typ", "organisation", "regel", "bevaras av", "innehåll", "uppgifter", "gallringsbeslut"
    )
    for rule in rules:
        table.add_row(
            "alla andra" if rule.message_type == ANY_TYPE else rule.message_type,
            _shown_organisation(rule.organisation_number, none="alla"),
            RULE_TEXTS[rule.rule],
            KEEPER_TEXTS[rule.keeper],
            _months(rule.content_months, none="tills arkiverat"),
            _months(rule.metadata_months, none="bevaras"),
            rule.decision or "–",
        )
    Console().print(table)


def _rule_fields(rule: Rule) -> dict[str, object]:
    return {
        "message_type": rule.message_type,
        "organisation_number": rule.organisation_number,
        "rule": rule.rule,
        "rule_text": RULE_TEXTS[rule.rule],
        "keeper": rule.keeper,
        "content_months": rule.content_months,
        "metadata_months": rule.metadata_months,
        "decision": rule.decision,
    }


def _months(months: int | None, *, none: str) -> str:
    return none if months is None else f"{months} månader"


@records_app.command(
    "rule",
    help="Sätt arkivregeln för en meddelandetyp (* för typer utan egen regel), för alla "
    "organisationer eller för en.",
)
def records_rule(
    message_type: Annotated[str, typer.Argument(help="Meddelandetypen, t.ex. faktura, eller *.")],
    *,
    rule_word: Annotated[
        str,
        typer.Option(
            "--regel",
            help='diarieförs, "hålls ordnad", journalförs eller "ingen allmän handling".',
        ),
    ],
    keeper_word: Annotated[
        str,
        typer.Option(
            "--förvaras",
            "--forvaras",
            help="Vem som bevarar breven: system (verksamhetssystemet; innehållet tas bort "
            "här efter digital leverans) eller utskick.",
        ),
    ] = "system",
    content_months: Annotated[
        int | None,
        typer.Option(
            "--innehåll-månader",
            "--innehall-manader",
            help="Månader som innehållet sparas efter att brevet skickats (utan: tills det "
            "arkiveras).",
        ),
    ] = None,
    metadata_months: Annotated[
        int | None,
        typer.Option(
            "--uppgifter-månader",
            "--uppgifter-manader",
            help="Månader som uppgifterna om brevet sparas (utan: bevaras för alltid).",
        ),
    ] = None,
    decision: Annotated[
        str | None,
        typer.Option("--beslut", help='Gallringsbeslutet regeln vilar på, t.ex. "KS 2026/14 § 3".'),
    ] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Bara för denna organisation (standard: alla)."),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Add or change the records rule of a message type; refused input changes nothing."""
    if not message_type.strip():
        raise fail("ange meddelandetypen, t.ex. faktura (eller * för typer utan egen regel)")
    organisation_number = _organisation_or_fail(org) if org is not None else None
    installation = open_installation(home)
    with installation.session() as session:
        try:
            row = set_rule(
                session,
                message_type=message_type.strip(),
                rule=RULE_WORDS.get(rule_word.strip().lower(), rule_word),
                keeper=KEEPER_WORDS.get(keeper_word.strip().lower(), keeper_word),
                content_months=content_months,
                metadata_months=metadata_months,
                decision=decision,
                actor=CLI_ACTOR,
                now=now(),
                organisation_number=organisation_number,
            )
        except RuleInputError as error:
            raise fail(str(error)) from None
        known_type = (
            row.message_type == ANY_TYPE or session.get(MessageType, row.message_type) is not None
        )
        session.commit()
        where = _shown_organisation(row.organisation_number, none="alla organisationer")
        print(
            f"Regeln för {row.message_type} ({where}) är satt: {RULE_TEXTS[row.rule]}, bevaras "
            f"av {KEEPER_TEXTS[row.keeper]}; innehåll "
            f"{_months(row.content_months, none='tills arkiverat')}, uppgifter "
            f"{_months(row.metadata_months, none='bevaras')}. Den gäller brev som avslutas "
            "från och med nu."
        )
        if not known_type:
            print(
                f"Obs: ingen meddelandetyp {row.message_type} är konfigurerad; regeln gäller "
                "brev som anger den typen."
            )


# --- holds ---------------------------------------------------------------------------------


@records_app.command(
    "hold",
    help="Spärra ett brev eller alla brev i ett ärende mot gallring (till exempel när en "
    "domstol begärt handlingarna).",
)
def records_hold(
    *,
    reason: Annotated[str, typer.Option("--skäl", "--skal", help="Varför breven spärras.")],
    letter_id: Annotated[str | None, typer.Option("--brev", help="Brevets id.")] = None,
    case_number: Annotated[
        str | None, typer.Option("--ärende", "--arende", help="Ärendenumret, t.ex. KS 2026/12.")
    ] = None,
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            help="Organisationens organisationsnummer (krävs med --ärende; med --brev: "
            "brevets egen).",
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Place a hold on one letter or on one case number of an organisation."""
    if (letter_id is None) == (case_number is None):
        raise fail("ange antingen --brev eller --ärende (inte båda)")
    if case_number is not None and org is None:
        raise fail("ange organisationen med --org när du spärrar ett ärende")
    installation = open_installation(home)
    with installation.session() as session:
        sender_number = (
            _organisation_or_fail(org)
            if org is not None
            else _letter_organisation(session, str(letter_id))
        )
        try:
            hold = place_hold(
                session,
                sender_number=sender_number,
                reason=reason,
                actor=CLI_ACTOR,
                now=now(),
                letter_id=letter_id,
                case_number=case_number,
            )
        except HoldInputError as error:
            raise fail(str(error)) from None
        covered = count_held_letters(session, hold)
        session.commit()
        if hold.letter_id is not None:
            print(f"Spärr {hold.id} är lagd på brevet {hold.letter_id}.")
        else:
            print(
                f"Spärr {hold.id} är lagd på ärendet {hold.case_number} hos "
                f"{_shown_organisation(hold.sender_number)}; den gäller nu {covered} brev."
            )


def _letter_organisation(session: Session, letter_id: str) -> str:
    number = session.scalar(select(Letter.sender_number).where(Letter.id == letter_id))
    if number is None:
        raise fail(
            f"det finns inget brev med id {letter_id}; kontrollera id:t eller om brevet redan "
            "har gallrats"
        )
    return number


@records_app.command("release", help="Häv en spärr; breven gallras sedan när de är på tur.")
def records_release(
    hold_id: Annotated[int, typer.Argument(help="Spärrens nummer (se utskick records holds).")],
    home: HomeOption = None,
) -> None:
    """Release an active hold."""
    installation = open_installation(home)
    with installation.session() as session:
        try:
            hold = release_hold(session, hold_id, sender_number=None, actor=CLI_ACTOR, now=now())
        except HoldInputError as error:
            raise fail(str(error)) from None
        session.commit()
        print(f"Spärr {hold.id} är hävd.")


@records_app.command("holds", help="Lista spärrarna som gäller, äldst först.")
def records_holds(
    *, org: OrgFilter = None, home: HomeOption = None, as_json: JsonFlag = False
) -> None:
    """List the active holds."""
    sender_number = _organisation_or_fail(org) if org is not None else None
    installation = open_installation(home)
    with installation.session() as session:
        holds = active_holds(session, sender_number=sender_number)
        covered = {hold.id: count_held_letters(session, hold) for hold in holds}
    if as_json:
        _print_json([{**_hold_fields(hold), "letters": covered[hold.id]} for hold in holds])
        return
    if not holds:
        print("Inga spärrar gäller.")
        return
    zone = installation.settings.print_timezone
    table = Table(
        "nr", "organisation", "spärrar", "brev", "skäl", Column("lagd", no_wrap=True), "av"
    )
    for hold in holds:
        table.add_row(
            str(hold.id),
            _shown_organisation(hold.sender_number),
            f"brevet {hold.letter_id}" if hold.letter_id else f"ärendet {hold.case_number}",
            str(covered[hold.id]),
            hold.reason,
            shown_time(hold.created_at, zone),
            hold.created_by,
        )
    Console().print(table)


def _hold_fields(hold: RecordHold) -> dict[str, object]:
    return {
        "id": hold.id,
        "organisation_number": hold.sender_number,
        "letter_id": hold.letter_id,
        "case_number": hold.case_number,
        "reason": hold.reason,
        "created_at": hold.created_at,
        "created_by": hold.created_by,
    }


# --- disposal ------------------------------------------------------------------------------


@records_app.command(
    "dispose",
    help="Gallra nu det som är på tur (det dagliga jobbet gör samma sak); --dry-run räknar "
    "bara vad som skulle gallras.",
)
def records_dispose(
    *,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Räkna bara; ingenting ändras.")
    ] = False,
    today: Annotated[
        str | None,
        typer.Option(
            "--idag", help="Gallra som om det vore denna dag, ÅÅÅÅ-MM-DD (standard: i dag)."
        ),
    ] = None,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Dispose of what is due now, or with --dry-run count what would go."""
    installation = open_installation(home)
    settings = installation.settings
    local_today = now().astimezone(ZoneInfo(settings.print_timezone)).date()
    day = _day_or_fail(today) if today is not None else local_today
    if day > local_today and not dry_run:
        raise fail(
            f"--idag {day} ligger i framtiden: gallring före sitt datum går inte att ångra. "
            "Använd --dry-run för att se vad som skulle gallras då."
        )
    if dry_run:
        with installation.session() as session:
            summary = due_for_disposal(session, settings, today=day)
    else:
        summary = dispose_due(
            session_factory(installation.engine),
            settings,
            today=day,
            clock=now,
            actor=CLI_ACTOR,
        )
    if as_json:
        _print_json(_summary_fields(summary, day, dry_run=dry_run))
        return
    _print_summary(summary, day, dry_run=dry_run, zone=settings.print_timezone)


def _day_or_fail(typed: str) -> dt.date:
    try:
        return dt.date.fromisoformat(typed.strip())
    except ValueError:
        raise fail(f"--idag {typed!r} är inget datum; skriv ÅÅÅÅ-MM-DD, t.ex. 2026-12-31") from None


def _summary_fields(summary: DisposalSummary, day: dt.date, *, dry_run: bool) -> dict[str, object]:
    return {
        "day": day.isoformat(),
        "dry_run": dry_run,
        "held": summary.held,
        "counts": [_disposal_fields(count) for count in summary.counts],
    }


def _disposal_fields(item: DisposalCount | DisposalLogEntry) -> dict[str, object]:
    """A count or a log entry as JSON (they share these facts)."""
    return {
        "organisation_number": item.sender_number,
        "message_type": item.message_type,
        "what": item.what,
        "count": item.count,
        "oldest": item.oldest,
        "newest": item.newest,
        "decision": item.decision,
        "detail": item.detail,
    }


def _print_summary(summary: DisposalSummary, day: dt.date, *, dry_run: bool, zone: str) -> None:
    verb = "skulle gallras" if dry_run else "gallrades"
    if not summary.counts:
        print(f"Ingenting {verb} ({day}).")
    else:
        table = Table("organisation", "typ", "vad", "antal", "skickade", "gallringsbeslut")
        for count in summary.counts:
            table.add_row(
                _shown_organisation(count.sender_number),
                count.message_type,
                WHAT_TEXTS.get(count.what, count.what),
                str(count.count),
                _period(count.oldest, count.newest, zone),
                count.decision or "–",
            )
        Console().print(table)
        print(f"{summary.total} {verb} ({day}).")
    if summary.held:
        print(f"{summary.held} brev som är på tur har en spärr och lämnas kvar.")


def _period(oldest: dt.datetime | None, newest: dt.datetime | None, zone: str) -> str:
    if oldest is None or newest is None:
        return "–"
    local = ZoneInfo(zone)
    first, last = (moment.astimezone(local).date() for moment in (oldest, newest))
    return str(first) if first == last else f"{first} – {last}"


@records_app.command(
    "disposals", help="Gallringsloggen: vad som gallrats, när och enligt vilket beslut."
)
def records_disposals(
    *,
    org: OrgFilter = None,
    limit: Annotated[int, typer.Option("--antal", help="Högst så många rader.", min=1)] = 200,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """The disposal log, newest first."""
    sender_number = _organisation_or_fail(org) if org is not None else None
    installation = open_installation(home)
    zone = installation.settings.print_timezone
    with installation.session() as session:
        entries = disposal_log(session, sender_number=sender_number, limit=limit)
    if as_json:
        _print_json([{"at": e.at, "actor": e.actor, **_disposal_fields(e)} for e in entries])
        return
    if not entries:
        print("Ingenting har gallrats ännu.")
        return
    table = Table(
        Column("när", no_wrap=True), "organisation", "typ", "vad", "antal", "skickade",
        "gallringsbeslut", "av",
    )  # fmt: skip
    for entry in entries:
        table.add_row(
            shown_time(entry.at, zone),
            _shown_organisation(entry.sender_number),
            entry.message_type,
            WHAT_TEXTS.get(entry.what, entry.what),
            str(entry.count),
            _period(entry.oldest, entry.newest, zone),
            entry.decision or "–",
            entry.actor,
        )
    Console().print(table)


# --- shared --------------------------------------------------------------------------------


def _organisation_or_fail(typed: str) -> str:
    try:
        return parse_organisation(typed).organisation_number
    except InvalidIdentityError as error:
        raise fail(f"--org ska vara ett organisationsnummer, t.ex. 202100-4748: {error}") from None


def _shown_organisation(number: str | None, *, none: str = "–") -> str:
    """An organisation number as people write it (202100-4748)."""
    if not number:
        return none
    try:
        return parse_organisation(number).display
    except InvalidIdentityError:
        return number


def _print_json(value: object) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=_iso_8601))


def _iso_8601(value: object) -> str:
    """Times in UTC as ISO 8601 (SQLite returns them without a zone), anything else as text."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    return str(value)
