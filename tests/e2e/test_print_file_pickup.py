"""A finance system's print file of 1,000 invoices, from its watched folder to the mailboxes
and the print vendor, end to end on the embedded reference infrastructure.

The finance system ("Ekonomisystemet") prints its invoices to one PDF and writes a control
file beside it as Swedish Excel saves CSV (`sidor;personnummer;ämne`, Windows-1252), each
under a `.part` name renamed into place. Utskick runs as `utskick serve` runs its workers: a
`WorkerPool` whose `pickup` job polls the source named in `sources.toml`, and whose other jobs
classify the letters at the reference FaR, deliver them over mutual TLS to Brevlåda Syd and
Nord, and address the paper letters at the reference population register. Then:

- the file lies in `behandlade/` with its receipt naming every letter; the letters with a
  wrong check digit have their pages in `fel/` with the reason; nothing is left in the inbox
  or in `pågående/`;
- each reachable letter is in its recipient's mailbox exactly once, with the control file's
  subject, under the TransId the connector recorded;
- each paper letter is in an open print batch, and handed to the vendor it is printed as the
  finance system laid it out: exactly its pages, the address in the window;
- once every letter has its outcome, `behandlade/<name>.utfall.csv` says per letter digital
  or paper;
- the same two files copied in again (straight under their names this time) are a duplicate:
  to `fel/` with the Swedish reason, no letter stored or sent again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from support.connector_world import connector_settings, prepare_connector
from support.finance_system import (
    DIGITAL,
    PAPER,
    Invoice,
    control_file,
    drop,
    invoice_run,
    print_file,
)
from support.world import (
    ANNA,
    BERTIL,
    DAVID,
    EXEMPELKOMMUN,
    IDA,
    KARIN,
    NORD,
    SYD,
    TOLVAN,
    start_reference,
)
from utskick.db.engine import session_factory
from utskick.entrypoints.worker import WorkerPool
from utskick.jobs.models import Job
from utskick.jobs.queue import CERTIFICATE_CHECK, PICKUP, PRINT_CLOSE, RECORDS_DAILY
from utskick.letters import vocabulary
from utskick.letters.models import Letter, MessageType
from utskick.printing.handover import handover_batch
from utskick.printing.models import OPEN, WHOLE_LETTER, PrintBatch, PrintItem
from utskick.printing.service import close_on_command
from utskick.reference.context import ReferenceContext
from utskick.reference.mailbox.storage import MessageStore
from utskick.reference.store import MailboxDelivery, MailboxMessage
from utskick.senders.systems import create_sending_system
from utskick.settings import PrintVendor, Settings

LETTERS = 1000
SYSTEM = "Ekonomisystemet"
SOURCE = "ekonomi-e2e"
PRINT_FILE = "fakturor-2026-11.pdf"
CONTROL_FILE = "fakturor-2026-11.csv"
STEM = "fakturor-2026-11"
WORKER_THREADS = 3
DEADLINE_SECONDS = 150
OPERATORS = {SYD: "syd", NORD: "nord"}
OPERATOR_OF = {TOLVAN: SYD, IDA: SYD, KARIN: SYD, ANNA: NORD}
# Why each paper recipient goes on paper (docs/test-identities.md).
PAPER_REASONS = {DAVID: "not_registered", BERTIL: "sender_not_accepted"}
SOURCES_TOML = """\
[[source]]
name = "{name}"
system = "{system}"
department = "Ekonomi"
message_type = "faktura"
subject = "Faktura från Exempelkommun"
paper_layout = "address-in-window"
folder = '{folder}'
poll_seconds = 0.3
stable_seconds = 0.5

[source.recipient]
rule = "control-file"
"""


@dataclass
class FinanceWorld:
    """The reference, a connector with the finance system's source, and its inbox."""

    context: ReferenceContext
    settings: Settings
    engine: Engine
    inbox: Path
    drop_folder: Path

    def files(self, folder: str = "") -> list[str]:
        where = self.inbox / folder if folder else self.inbox
        return sorted(path.name for path in where.iterdir() if path.is_file())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[FinanceWorld]:
    context, infrastructure = start_reference(tmp_path / "reference", run_smtp_sink=False)
    home = tmp_path / "connector"
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    drop_folder = tmp_path / "tryckeriet"
    settings = connector_settings(
        home,
        context,
        sources_file=home / "sources.toml",
        print_vendors=[PrintVendor(name="tryckeriet", drop=drop_folder)],
        print_close_times=[half_a_day_from_now()],
        retry_base_seconds=0.05,
        retry_max_seconds=0.5,
        worker_poll_seconds=0.05,
        operator_read_timeout_seconds=30,
    )
    engine, _ = prepare_connector(settings, context)
    with Session(engine) as session, session.begin():
        session.add(MessageType(code="faktura", name="Faktura", protection_class=1))
        create_sending_system(
            session, name=SYSTEM, sender_numbers=[EXEMPELKOMMUN], now=dt.datetime.now(dt.UTC)
        )
    (home / "sources.toml").write_text(
        SOURCES_TOML.format(name=SOURCE, system=SYSTEM, folder=inbox), encoding="utf-8"
    )
    try:
        yield FinanceWorld(context, settings, engine, inbox, drop_folder)
    finally:
        engine.dispose()
        infrastructure.stop()


def half_a_day_from_now() -> str:
    """A close time for print batches that no run of the test comes near (HH:MM, local):
    the paper letters stay in one open batch until the test closes it."""
    later = dt.datetime.now(ZoneInfo("Europe/Stockholm")) + dt.timedelta(hours=12)
    return f"{later:%H:%M}"


def test_a_print_file_of_1000_invoices_goes_out_digitally_and_on_paper(world: FinanceWorld) -> None:
    started = time.monotonic()
    invoices = invoice_run(LETTERS)
    pdf, control = print_file(invoices), control_file(invoices)
    pool = WorkerPool(world.settings, world.engine, WORKER_THREADS)
    pool.start()
    try:
        drop(world.inbox, CONTROL_FILE, control)
        drop(world.inbox, PRINT_FILE, pdf)
        outcome_file = world.inbox / "behandlade" / f"{PRINT_FILE}.utfall.csv"
        wait_for(world, outcome_file.exists, "the outcome file", started)
        letters_before = letter_count(world.engine)

        # Someone copies the same two files in again, straight into the folder this time.
        drop(world.inbox, CONTROL_FILE, control, in_place=True)
        drop(world.inbox, PRINT_FILE, pdf, in_place=True)
        reason_file = world.inbox / "fel" / f"{PRINT_FILE}.fel.txt"
        duplicate = world.inbox / "fel" / PRINT_FILE
        wait_for(world, duplicate.exists, "the duplicate in fel/", started)
    finally:
        pool.stop(timeout=60)

    check_folders(world, invoices)
    letter_ids = check_receipt(world, invoices)
    check_refused_pages(world, invoices)
    check_mailboxes(world, invoices, letter_ids)
    check_paper_letters(world, invoices, letter_ids)
    check_outcome_file(outcome_file, invoices, letter_ids)
    check_duplicate(world, reason_file, letters_before)
    check_handover(world, invoices, letter_ids)


# --- running ---------------------------------------------------------------------------------


def wait_for(world: FinanceWorld, done: Callable[[], bool], what: str, started: float) -> None:
    """Wait until `done`; on the deadline fail with where the letters and jobs stand."""
    while not done():
        if time.monotonic() - started > DEADLINE_SECONDS:
            pytest.fail(f"no {what} after {DEADLINE_SECONDS} s: {standing(world)}")
        time.sleep(0.1)


def standing(world: FinanceWorld) -> str:
    """The letters by state, the jobs by kind (with their last errors) and the folders."""
    with Session(world.engine) as session:
        states = dict(session.execute(select(Letter.state, func.count()).group_by(Letter.state)))
        jobs = dict(session.execute(select(Job.kind, func.count()).group_by(Job.kind)))
        errors = list(session.scalars(select(Job.last_error).where(Job.last_error.is_not(None))))
    folders = {name: world.files(name) for name in ("", "pågående", "behandlade", "fel")}
    return f"letters {states}, jobs {jobs}, errors {errors[:3]}, folders {folders}"


def letter_count(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Letter)) or 0


# --- the folders and the receipt ----------------------------------------------------------------


def refused_pages_name(invoice: Invoice) -> str:
    return f"{STEM}-sidor-{invoice.first_page}-{invoice.last_page}.pdf"


def check_folders(world: FinanceWorld, invoices: list[Invoice]) -> None:
    """The file and its companions in `behandlade/`, the refused pages and the duplicate in
    `fel/`, nothing anywhere else."""
    assert world.files() == []
    assert world.files("pågående") == []
    assert world.files("behandlade") == [
        CONTROL_FILE,
        PRINT_FILE,
        f"{PRINT_FILE}.kvitto.json",
        f"{PRINT_FILE}.utfall.csv",
    ]
    refused = [refused_pages_name(invoice) for invoice in invoices if invoice.recipient_id is None]
    expected = [CONTROL_FILE, PRINT_FILE, f"{PRINT_FILE}.fel.txt"]
    for name in refused:
        expected += [name, f"{name}.fel.txt"]
    assert world.files("fel") == sorted(expected)


def check_receipt(world: FinanceWorld, invoices: list[Invoice]) -> dict[int, str]:
    """The receipt names every letter with its pages and recipient; the invoices' letter ids."""
    receipt = json.loads(
        (world.inbox / "behandlade" / f"{PRINT_FILE}.kvitto.json").read_text("utf-8")
    )
    refused = [invoice for invoice in invoices if invoice.recipient_id is None]
    assert (receipt["file"], receipt["source"], receipt["control_file"]) == (
        PRINT_FILE,
        SOURCE,
        CONTROL_FILE,
    )
    assert (receipt["accepted"], receipt["rejected"]) == (LETTERS - len(refused), len(refused))
    letters = receipt["letters"]
    assert [
        (entry["index"], entry["first_page"], entry["last_page"], entry["recipient"])
        for entry in letters
    ] == [
        (invoice.number, invoice.first_page, invoice.last_page, invoice.written)
        for invoice in invoices
    ]
    for entry, invoice in zip(letters, invoices, strict=True):
        if invoice.recipient_id is None:
            assert entry["letter_id"] is None
            assert "kontrollsiffran stämmer inte" in entry["problem"]
        else:
            assert entry["letter_id"], entry
            assert entry["problem"] is None
    ids = {entry["index"]: entry["letter_id"] for entry in letters if entry["letter_id"]}
    assert len(set(ids.values())) == len(ids)
    return ids


def check_refused_pages(world: FinanceWorld, invoices: list[Invoice]) -> None:
    """Each refused invoice's own pages lie in `fel/`, with why in Swedish."""
    for invoice in (invoice for invoice in invoices if invoice.recipient_id is None):
        name = refused_pages_name(invoice)
        pages = PdfReader(world.inbox / "fel" / name).pages
        assert len(pages) == invoice.pages
        assert f"Fakturanummer 2026-{invoice.number:05d}" in pages[0].extract_text()
        reason = (world.inbox / "fel" / f"{name}.fel.txt").read_text("utf-8")
        assert f"numret {invoice.written} är inget giltigt" in reason
        assert "kontrollsiffran stämmer inte" in reason
        assert "skickades inte" in reason


# --- where the letters went ---------------------------------------------------------------------


def letters_by_id(engine: Engine) -> dict[str, Letter]:
    with Session(engine) as session:
        letters = {letter.id: letter for letter in session.scalars(select(Letter))}
        session.expunge_all()
    return letters


def check_mailboxes(world: FinanceWorld, invoices: list[Invoice], ids: dict[int, str]) -> None:
    """Every digital invoice is in its recipient's mailbox once, under the connector's TransId,
    with the control file's subject and its own pages as the attachment."""
    letters = letters_by_id(world.engine)
    digital = [invoice for invoice in invoices if invoice.recipient_id in DIGITAL]
    expected = {}
    for invoice in digital:
        letter = letters[ids[invoice.number]]
        assert (letter.state, letter.channel, letter.operator_number) == (
            vocabulary.DELIVERED,
            "digital",
            OPERATOR_OF[invoice.recipient_id],
        ), invoice
        expected[letter.message_id] = (
            letter.operator_number,
            invoice.recipient_id,
            letter.trans_id,
        )
    assert stored_messages(world.context, {letter.message_id for letter in letters.values()}) == (
        expected
    )
    for recipient in DIGITAL:
        check_inbox(world.context, recipient, [i for i in digital if i.recipient_id == recipient])


def stored_messages(context: ReferenceContext, ours: set[str]) -> dict[str, tuple[str, str, str]]:
    """Our letters as the operators stored them: message id → (operator, recipient, TransId);
    a message stored twice fails here."""
    with context.sessions() as session:
        rows = session.execute(
            select(
                MailboxMessage.message_id,
                MailboxMessage.operator_number,
                MailboxMessage.recipient_id,
                MailboxDelivery.trans_id,
            ).join(MailboxDelivery, MailboxMessage.delivery_id == MailboxDelivery.id)
        ).all()
    stored = [row for row in rows if row.message_id in ours]
    twice = [id_ for id_, count in Counter(row.message_id for row in stored).items() if count > 1]
    assert twice == [], f"{len(twice)} letters are stored more than once"
    return {row.message_id: (row.operator_number, row.recipient_id, row.trans_id) for row in stored}


def check_inbox(context: ReferenceContext, recipient: str, invoices: list[Invoice]) -> None:
    """The recipient reads each of their invoices once, with its subject and its pages."""
    operator = OPERATOR_OF[recipient]
    store = MessageStore(context.sessions, operator, context.storage_keys[OPERATORS[operator]])
    entries = [
        entry for entry in store.inbox(recipient) if entry.subject.startswith("Faktura 2026-")
    ]
    assert Counter(entry.subject for entry in entries) == Counter(i.subject for i in invoices)
    by_subject = {invoice.subject: invoice for invoice in invoices}
    # One invoice of one page and one of two, opened as the recipient opens them.
    for pages in (1, 2):
        entry = next(e for e in entries if by_subject[e.subject].pages == pages)
        invoice = by_subject[entry.subject]
        message = store.message(recipient, entry.id)
        assert message is not None
        assert message.sender_number == EXEMPELKOMMUN
        [attachment] = message.attachments
        attached = PdfReader(io.BytesIO(attachment.data)).pages
        assert (attachment.filename, len(attached)) == ("brev.pdf", pages)
        assert f"Personnummer: {invoice.written}" in attached[0].extract_text()


def check_paper_letters(world: FinanceWorld, invoices: list[Invoice], ids: dict[int, str]) -> None:
    """Every paper invoice is addressed and in the one open print batch of the department."""
    letters = letters_by_id(world.engine)
    paper = [invoice for invoice in invoices if invoice.recipient_id in PAPER]
    for invoice in paper:
        letter = letters[ids[invoice.number]]
        assert (letter.state, letter.channel, letter.reason, letter.paper_layout) == (
            vocabulary.BATCHED,
            "paper",
            PAPER_REASONS[invoice.recipient_id],
            vocabulary.ADDRESS_IN_WINDOW,
        ), invoice
    with Session(world.engine) as session:
        items = {item.letter_id: item for item in session.scalars(select(PrintItem))}
        batches = list(session.scalars(select(PrintBatch)))
    assert set(items) == {ids[invoice.number] for invoice in paper}
    [batch] = batches
    assert (batch.state, batch.route, batch.department) == (OPEN, "tryckeriet", "Ekonomi")
    for item in items.values():
        assert (item.batch_id, item.part, item.protected) == (batch.id, WHOLE_LETTER, False)
    david = items[ids[next(i.number for i in paper if i.recipient_id == DAVID)]]
    assert david.address == ["David Dahl", "Dalvägen 7", "123 48 Exempelstad"]


def check_outcome_file(path: Path, invoices: list[Invoice], ids: dict[int, str]) -> None:
    """The outcome file says per accepted letter digital or paper, as people read it."""
    with path.open(encoding="utf-8-sig", newline="") as stream:
        rows = list(csv.reader(stream, delimiter=";"))
    assert rows[0] == ["brev_id", "mottagare", "utfall", "kanal", "skäl"]
    outcomes = {row[0]: tuple(row[1:4]) for row in rows[1:]}
    assert len(rows) - 1 == len(outcomes) == len(ids)
    for invoice in invoices:
        if invoice.recipient_id is None:
            continue
        shown = f"{invoice.recipient_id[:8]}-{invoice.recipient_id[8:]}"
        expected = (
            (shown, "levererat digitalt", "digitalt")
            if invoice.recipient_id in DIGITAL
            else (shown, "i utskriftsbatch", "papper")
        )
        assert outcomes[ids[invoice.number]] == expected, invoice


def check_duplicate(world: FinanceWorld, reason_file: Path, letters_before: int) -> None:
    """The file dropped again was taken as nothing: the reason says whose copy it is."""
    reason = reason_file.read_text("utf-8")
    assert f"filen har samma innehåll som {PRINT_FILE}" in reason
    assert "Ingenting skickades igen" in reason
    assert letter_count(world.engine) == letters_before
    with Session(world.engine) as session:
        left = set(session.scalars(select(Job.kind)))
    # Only the periodic jobs and the batch's scheduled close wait: nothing is to be
    # classified, sent or addressed for the copy.
    assert left <= {PICKUP, RECORDS_DAILY, CERTIFICATE_CHECK, PRINT_CLOSE}, left


def check_handover(world: FinanceWorld, invoices: list[Invoice], ids: dict[int, str]) -> None:
    """Handed to the vendor, each paper invoice is printed as its pages in the print file."""
    sessions = session_factory(world.engine)
    with sessions() as session, session.begin():
        [batch_id] = session.scalars(select(PrintBatch.id))
        close_on_command(session, batch_id, now=dt.datetime.now(dt.UTC))
    outcome = handover_batch(
        batch_id,
        sessions=sessions,
        settings=world.settings,
        clock=lambda: dt.datetime.now(dt.UTC),
        actor="cli",
    )
    assert outcome.folder.parent == world.drop_folder
    manifest = json.loads((outcome.folder / "manifest.json").read_text("utf-8"))
    files = {entry["letter_id"]: entry["file"] for entry in manifest["letters"]}
    paper = [invoice for invoice in invoices if invoice.recipient_id in PAPER]
    assert len(files) == len(paper)
    for invoice in paper:
        pages = PdfReader(outcome.folder / files[ids[invoice.number]]).pages
        assert len(pages) == invoice.pages, invoice
        first = pages[0].extract_text()
        assert f"Fakturanummer 2026-{invoice.number:05d}" in first
        assert invoice.name in first
    assert manifest["totals"]["pages"] == sum(invoice.pages for invoice in paper)
