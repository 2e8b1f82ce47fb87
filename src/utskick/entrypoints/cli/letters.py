"""`utskick precheck`, `send` and `status`: one letter from the command line, and where it is.

A letter sent here comes from the sending system "cli", which may send for every configured
sender organisation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from utskick.entrypoints.cli.common import (
    CLI_ACTOR,
    STATE_TEXTS,
    WAIT_POLL_SECONDS,
    BodyFileOption,
    BodyOption,
    HomeOption,
    HtmlOption,
    Installation,
    RecipientOption,
    SubjectOption,
    body_text,
    cli_system,
    errors,
    fail,
    open_installation,
    shown_time,
)
from utskick.entrypoints.worker import drain
from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.letters.inputs import AttachmentInput, LetterInput, LetterRejectedError
from utskick.letters.models import Letter
from utskick.letters.repository import LetterRepository
from utskick.letters.schedule import parse_not_before
from utskick.letters.service import (
    LetterNotCancellableError,
    LetterNotFoundError,
    LetterService,
)
from utskick.letters.vocabulary import OUTCOME_KNOWN_STATES, POLICIES, text_for
from utskick.senders.repository import SenderRepository, SendingSystemRepository
from utskick.settings import load_settings
from utskick.switch.precheck import Decision, FarUnavailableError

# Commands of the root: `utskick precheck`, `utskick send`, `utskick status`.
letter_commands = typer.Typer()

CHANNEL_TEXTS = {
    "digital": "digitalt",
    "paper": "papper",
    "impossible": "omöjligt",
    "none": "ingen",
}
PolicyOption = Annotated[str, typer.Option(help="digital-or-paper, digital-only eller paper-only.")]
# The option of `utskick send` that gives each field of a letter, so that a refusal names what
# the person typed, not the API's field (`--class`, not protection_class).
SEND_OPTIONS = {
    "sender": "--sender",
    "recipient": "--recipient",
    "subject": "--subject",
    "body": "--body/--body-file",
    "body_type": "--html",
    "attachments": "--attach",
    "protection_class": "--class",
    "message_type": "--type",
    "policy": "--policy",
    "department": "--department",
    "eservice_url": "--eservice-url",
    "case_number": "--case",
    "reference": "--reference",
    "idempotency_key": "--key",
    "not_before": "--not-before",
}


@letter_commands.command(
    help="Visa vilken kanal varje mottagare skulle få nu (digital, papper eller omöjlig) och "
    "varför."
)
def precheck(
    ids: Annotated[
        list[str], typer.Argument(help="Person-, samordnings- eller organisationsnummer.")
    ],
    home: HomeOption = None,
    sender: Annotated[
        str | None,
        typer.Option(help="Avsändarorganisation (standard: förmedlaren eller den enda)."),
    ] = None,
    policy: PolicyOption = "digital-or-paper",
    as_json: Annotated[
        bool, typer.Option("--json", help="Ett JSON-objekt per mottagare och rad.")
    ] = False,
) -> None:
    """Show the channel each recipient would get now (digital, paper or impossible) and why."""
    if policy not in POLICIES:
        raise fail(f"okänd policy {policy!r}; välj digital-or-paper, digital-only eller paper-only")
    installation = open_installation(home)
    with installation.session() as session:
        sender_number = _default_sender(session, sender)
    try:
        decisions = installation.adapters.precheck.check(sender_number, ids, policy=policy)
    except InvalidIdentityError as error:
        raise fail(str(error)) from None
    except FarUnavailableError as error:
        raise fail(f"FaR kan inte frågas just nu: {error}. Försök igen om en stund.", 1) from None
    if as_json:
        _print_decisions_as_json(decisions)
    else:
        _print_decisions(sender_number, decisions)


def _default_sender(session: Session, typed: str | None) -> str:
    """The sender given, or the only configured one, or the intermediary."""
    if typed is not None:
        return typed
    senders = SenderRepository(session)
    configured = senders.all()
    if len(configured) == 1:
        return configured[0].organisation_number
    intermediary = senders.intermediary()
    if intermediary is not None:
        return intermediary.organisation_number
    raise fail("ange avsändarorganisationen med --sender (organisationsnummer)")


def _print_decisions_as_json(decisions: Sequence[Decision]) -> None:
    for decision in decisions:
        print(
            json.dumps(
                {
                    "recipient": decision.recipient_id,
                    "channel": decision.channel,
                    "reason": decision.reason,
                    "reason_text": text_for(decision.reason),
                    "operator": decision.operator_name,
                    "operator_number": decision.operator_number,
                    "service_address": decision.service_address,
                },
                ensure_ascii=False,
            )
        )


def _print_decisions(sender_number: str, decisions: Sequence[Decision]) -> None:
    # People read identity numbers the way they type them: 19121212-1212, 202100-4748.
    sender = parse_organisation(sender_number).display
    table = Table(title=f"Förhandskontroll för avsändare {sender}", title_justify="left")
    for column in ("Mottagare", "Kanal", "Skäl", "Operatör"):
        table.add_column(column)
    for decision in decisions:
        table.add_row(
            parse_identity(decision.recipient_id).display,
            CHANNEL_TEXTS.get(decision.channel, decision.channel),
            text_for(decision.reason),
            decision.operator_name or "–",
        )
    Console().print(table)


@letter_commands.command(
    help='Lämna över ett brev (som det avsändande systemet "cli") och skriv ut dess id.'
)
def send(
    *,
    sender: Annotated[str, typer.Option(help="Avsändarorganisationens organisationsnummer.")],
    recipient: RecipientOption,
    subject: SubjectOption,
    home: HomeOption = None,
    body: BodyOption = None,
    body_file: BodyFileOption = None,
    html: HtmlOption = False,
    attach: Annotated[
        list[str] | None,
        typer.Option(help="PDF-bilaga, FIL.pdf[:digital|paper|both]; kan anges flera gånger."),
    ] = None,
    protection_class: Annotated[
        int | None, typer.Option("--class", help="Skyddsklass 1–3 (standard: meddelandetypens).")
    ] = None,
    message_type: Annotated[
        str | None, typer.Option("--type", help="Meddelandetyp (t.ex. beslut).")
    ] = None,
    policy: PolicyOption = "digital-or-paper",
    department: Annotated[str | None, typer.Option(help="Förvaltning eller funktion.")] = None,
    case: Annotated[str | None, typer.Option(help="Diarienummer.")] = None,
    reference: Annotated[str | None, typer.Option(help="Egen referens.")] = None,
    eservice_url: Annotated[str | None, typer.Option(help="Länk till e-tjänst.")] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotensnyckel: samma nyckel igen ger samma brev.")
    ] = None,
    not_before: Annotated[
        str | None,
        typer.Option(
            help="Skicka tidigast då, t.ex. '2026-12-08 06:00' (svensk tid); brevet kan "
            "makuleras fram till dess med utskick cancel."
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Kör utskicket och vänta tills brevet har ett slutligt utfall.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Längsta väntan med --wait, sekunder.")] = 300.0,
) -> None:
    """Hand over one letter (as the sending system "cli") and print its id."""
    try:
        send_at = parse_not_before(not_before, load_settings().print_timezone)
    except LetterRejectedError as error:
        raise fail(f"--not-before: {error.message}") from None
    letter_input = LetterInput(
        sender=sender,
        recipient=recipient,
        subject=subject,
        body=body_text(body, body_file),
        body_type="text/html" if html else "text/plain",
        attachments=tuple(_attachment_input(spec) for spec in attach or []),
        protection_class=protection_class,
        message_type=message_type,
        policy=policy,
        department=department,
        eservice_url=eservice_url,
        case_number=case,
        reference=reference,
        idempotency_key=key,
        not_before=send_at,
    )
    installation = open_installation(home)
    letter_id = _accept(installation, letter_input, attach or [])
    if wait:
        _wait_for_letters(installation, [letter_id], timeout)
        _print_status(installation, letter_id)


def _attachment_input(spec: str) -> AttachmentInput:
    """`FILE.pdf` or `FILE.pdf:digital|paper|both` as an attachment of a letter."""
    path_text, channel = spec, "both"
    head, separator, tail = spec.rpartition(":")
    if separator and tail in ("digital", "paper", "both"):
        path_text, channel = head, tail
    path = Path(path_text)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise fail(f"kan inte läsa bilagan {path}: {error.strerror}") from None
    return AttachmentInput(filename=path.name, content=content, channel=channel)


def _accept(
    installation: Installation, letter_input: LetterInput, attach_specs: Sequence[str]
) -> str:
    """Store the letter (or find it by its key) and print its id; the id."""
    with installation.session() as session:
        system = cli_system(session)
        try:
            letter, created = LetterService(session, installation.settings).accept(
                system, letter_input, actor=CLI_ACTOR
            )
        except LetterRejectedError as error:
            option = _option_for(error.field, letter_input, attach_specs)
            raise fail(f"{option}: {error.message}" if option else error.message) from None
        session.commit()
        letter_id = letter.id
    print(letter_id)
    if not created:
        errors.print(
            "Samma idempotensnyckel som tidigare: brevet fanns redan och lämnades oförändrat.",
            highlight=False,
        )
    return letter_id


def _option_for(field: str, letter_input: LetterInput, attach_specs: Sequence[str]) -> str | None:
    """The option of `utskick send` behind a refused field (None: no option gives it).

    `attachments[1].content` is the second `--attach` as typed; a missing protection class is
    given with `--class` or a message type that has one.
    """
    name = field.partition(".")[0]
    base, bracket, index = name.partition("[")
    option = SEND_OPTIONS.get(base)
    if option is None:
        return None
    if bracket and index.removesuffix("]").isdigit():
        position = int(index.removesuffix("]"))
        if position < len(attach_specs):
            return f"{option} {attach_specs[position]}"
    if base == "protection_class" and letter_input.protection_class is None:
        return "--type" if letter_input.message_type is not None else "--class/--type"
    return option


def _wait_for_letters(
    installation: Installation, letter_ids: Sequence[str], timeout: float
) -> None:
    """Run the jobs due in this process until every letter has a terminal outcome."""
    deadline = time.monotonic() + timeout
    remaining = list(letter_ids)
    while remaining:
        drain(installation.settings, installation.engine)
        with installation.session() as session:
            remaining = [
                letter_id
                for letter_id in remaining
                if (letter := session.get(Letter, letter_id)) is not None
                and letter.state not in OUTCOME_KNOWN_STATES
            ]
        if not remaining:
            return
        if time.monotonic() > deadline:
            raise fail(
                f"{len(remaining)} brev har inget slutligt utfall efter {timeout:.0f} s; "
                "se utskick status",
                1,
            )
        time.sleep(WAIT_POLL_SECONDS)


@letter_commands.command(help="Visa ett brevs läge, kanal, skäl och alla händelser.")
def status(
    letter_id: Annotated[str, typer.Argument(help="Brevets id (från utskick send).")],
    home: HomeOption = None,
) -> None:
    """Show a letter's state, channel, reason and every event."""
    _print_status(open_installation(home), letter_id.strip())


def _print_status(installation: Installation, letter_id: str) -> None:
    with installation.session() as session:
        letter = session.get(Letter, letter_id)
        if letter is None:
            raise fail(f"det finns inget brev med id {letter_id}")
        events = LetterRepository(session).events(letter_id)
    console = Console()
    console.print(
        f"Brev {letter.id}: [bold]{STATE_TEXTS.get(letter.state, letter.state)}[/]"
        f"  ·  kanal: {CHANNEL_TEXTS.get(letter.channel or '', letter.channel or '–')}"
        f"  ·  skäl: {text_for(letter.reason) if letter.reason else '–'}",
        highlight=False,
    )
    console.print(
        f"Mottagare {parse_identity(letter.recipient_id).display}  ·  "
        f"avsändare {parse_organisation(letter.sender_number).display}  ·  "
        f"ämne: {letter.subject}" + (f"  ·  TransId {letter.trans_id}" if letter.trans_id else ""),
        highlight=False,
    )
    zone = installation.settings.print_timezone
    if letter.not_before is not None and letter.state == "received":
        console.print(f"Skickas tidigast {shown_time(letter.not_before, zone)}.", highlight=False)
    table = Table(title="Händelser", title_justify="left")
    table.add_column("Tid", no_wrap=True)
    for column in ("Tillstånd", "Skäl", "Av", "Detalj"):
        table.add_column(column)
    for event in events:
        table.add_row(
            shown_time(event.at, zone, seconds=True),
            STATE_TEXTS.get(event.state, event.state),
            event.reason or "",
            event.actor,
            event.detail or "",
        )
    console.print(table)


@letter_commands.command(
    help="Makulera ett brev som inte har gått iväg än (t.ex. ett som väntar på sin tid)."
)
def cancel(
    letter_id: Annotated[str, typer.Argument(help="Brevets id (från utskick send).")],
    home: HomeOption = None,
) -> None:
    """Cancel a letter that has not gone out (one set for later, say)."""
    installation = open_installation(home)
    with installation.session() as session:
        letter = session.get(Letter, letter_id.strip())
        system = (
            SendingSystemRepository(session).get(letter.sending_system_id)
            if letter is not None
            else None
        )
        if letter is None or system is None:
            raise fail(f"det finns inget brev med id {letter_id.strip()}")
        try:
            LetterService(session, installation.settings).cancel(system, letter.id, actor=CLI_ACTOR)
        except LetterNotFoundError:
            raise fail(f"det finns inget brev med id {letter_id.strip()}") from None
        except LetterNotCancellableError as error:
            raise fail(str(error)) from None
        session.commit()
    print(f"Brevet {letter_id.strip()} är makulerat; inget skickades till mottagaren.")
