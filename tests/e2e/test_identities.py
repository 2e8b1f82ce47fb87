"""A letter to every demo identity, end to end over HTTPS and mutual TLS.

The embedded reference runs on free ports; the connector (a migrated SQLite database with the
demo sender organisations) accepts each letter through `LetterService`, the worker classifies
it against the reference FaR and delivers it to the operator FaR names. A digital letter is
then read back from that operator's message store: it is there only if the operator verified
the seal and the sender's signature on receipt.
"""

import datetime as dt
import gc
import json

import pytest
from sqlalchemy import func, select

from support.world import (
    ANNA,
    BERTIL,
    CECILIA,
    DAVID,
    EVA,
    EXEMPELBOLAGET,
    EXEMPELKOMMUN,
    FILIP,
    GRANNKOMMUN,
    GUSTAV,
    HANNA,
    IDA,
    KARIN,
    NORD,
    SYD,
    TOLVAN,
    UTAN_BREVLADA,
    running_reference,
)
from utskick.db.engine import create_database_engine, session_factory
from utskick.entrypoints.embedded import seed_demo_configuration
from utskick.entrypoints.worker import drain
from utskick.jobs.queue import enqueue
from utskick.letters import vocabulary
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.migrations import migrate
from utskick.printing.repository import BatchFilter, PrintRepository
from utskick.printing.service import close_on_command
from utskick.reference.mailbox.storage import MessageStore
from utskick.reference.store import MailboxMessage
from utskick.senders import systems
from utskick.settings import Settings
from utskick.switch import precheck


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    home = tmp_path_factory.mktemp("e2e-reference")
    with running_reference(home, run_smtp_sink=False) as context:
        yield context
        # The connector's clients keep connections alive; let them go so the servers stop
        # at once.
        precheck._REGISTERS.clear()  # the process-wide FaR client cache
        gc.collect()


@pytest.fixture(scope="module")
def connector(reference, tmp_path_factory):
    """The connector's settings, engine and sending system, pointed at the reference."""
    home = tmp_path_factory.mktemp("e2e-connector")
    settings = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'utskick.db'}",
        embedded_reference=False,
        far_url=reference.endpoints.far_url,
        population_url=reference.endpoints.population_url,
        tls_ca_file=reference.pki.ca_certificate,
        retry_base_seconds=0.05,
        retry_max_seconds=0.2,
    )
    engine = create_database_engine(settings.resolved_database_url())
    migrate.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    with session_factory(engine).begin() as session:
        seed_demo_configuration(session, reference.pki.directory, now)
        system = systems.create_sending_system(
            session, name="E2E", sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN], now=now
        )
    yield settings, engine, system
    engine.dispose()


def _send(connector, recipient, *, sender=EXEMPELKOMMUN, subject=None, **extra):
    settings, engine, system = connector
    letter = LetterInput(
        sender=sender,
        recipient=recipient,
        subject=subject or f"Beslut till {recipient} från {sender}",
        body=f"Hej! Det här är beslutet till {recipient}.",
        message_type="beslut",
        **extra,
    )
    with session_factory(engine).begin() as session:
        stored, _ = LetterService(session, settings).accept(system, letter, actor="api:E2E")
        return stored.id


# Who, from which sender, with which policy → the state, channel, reason and operator. Paper
# letters go the whole way: addressed, batched, and handed to the print vendor's drop.
CASES = {
    "Tolvan": (TOLVAN, EXEMPELKOMMUN, "digital-or-paper", "delivered", "digital", "reachable", SYD),
    "Anna": (ANNA, EXEMPELKOMMUN, "digital-or-paper", "delivered", "digital", "reachable", NORD),
    "Gustav": (GUSTAV, EXEMPELKOMMUN, "digital-or-paper", "delivered", "digital", "reachable", NORD),
    "Ida": (IDA, EXEMPELKOMMUN, "digital-or-paper", "delivered", "digital", "reachable", SYD),
    "Karin": (KARIN, EXEMPELKOMMUN, "digital-or-paper", "delivered", "digital", "reachable", SYD),
    "Exempelbolaget": (
        EXEMPELBOLAGET, EXEMPELKOMMUN, "digital-or-paper", "delivered", "digital", "reachable", NORD,
    ),
    "Bertil from Exempelkommun": (
        BERTIL, EXEMPELKOMMUN, "digital-or-paper", "handed_to_print", "paper", "sender_not_accepted", None,
    ),
    "Bertil from Grannkommun": (
        BERTIL, GRANNKOMMUN, "digital-or-paper", "delivered", "digital", "reachable", SYD,
    ),
    "Cecilia": (CECILIA, EXEMPELKOMMUN, "digital-or-paper", "handed_to_print", "paper", "pending", None),
    "David": (DAVID, EXEMPELKOMMUN, "digital-or-paper", "handed_to_print", "paper", "not_registered", None),
    # Hanna is deceased: the switch sends her letter to paper, the print service stops it.
    "Hanna": (HANNA, EXEMPELKOMMUN, "digital-or-paper", "impossible", "none", "deceased", None),
    "Utan Brevlåda AB": (
        UTAN_BREVLADA, EXEMPELKOMMUN, "digital-or-paper", "handed_to_print", "paper", "not_registered", None,
    ),
    "Eva": (EVA, EXEMPELKOMMUN, "digital-or-paper", "handed_to_print", "paper", "protected_identity", None),
    "Filip": (FILIP, EXEMPELKOMMUN, "digital-or-paper", "handed_to_print", "paper", "under_age", None),
    "David digital-only": (
        DAVID, EXEMPELKOMMUN, "digital-only", "not_reachable", None, "not_registered", None,
    ),
    "Tolvan paper-only": (
        TOLVAN, EXEMPELKOMMUN, "paper-only", "handed_to_print", "paper", "paper_only_policy", None,
    ),
}  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(connector):
    """Every case's letter, sent and worked until no job is due; by case name."""
    settings, engine, _ = connector
    letter_ids = {
        name: _send(connector, recipient, sender=sender, policy=policy, subject=f"Brev: {name}")
        for name, (recipient, sender, policy, *_) in CASES.items()
    }
    drain(settings, engine)
    # The print batches would close at their scheduled time; close them now, as the print
    # room can, and let the workers hand them over.
    with session_factory(engine).begin() as session:
        for batch in PrintRepository(session).batches(BatchFilter(state="open")):
            close_on_command(session, batch.id, now=dt.datetime.now(dt.UTC))
    drain(settings, engine)
    with session_factory(engine)() as session:
        return {name: session.get(Letter, letter_id) for name, letter_id in letter_ids.items()}


def _assert_in_the_vendor_drop(connector, letter):
    """The letter's PDF is in a handed-over batch folder, named in its manifest."""
    settings, _, _ = connector
    [vendor] = settings.print_vendors
    manifests = list(settings.vendor_drop(vendor).glob("*/manifest.json"))
    rows = [row for path in manifests for row in json.loads(path.read_text())["letters"]]
    [row] = [row for row in rows if row["letter_id"] == letter.id]
    folder = next(path.parent for path in manifests if letter.id in path.read_text())
    assert (folder / row["file"]).read_bytes().startswith(b"%PDF")
    if letter.reason == "protected_identity":
        assert row["forwarding"] == "skatteverket"


def _store(reference, operator_number):
    key = next(o.operator_key for o in reference.world.operators if o.number == operator_number)
    return MessageStore(reference.sessions, operator_number, reference.storage_keys[key])


@pytest.mark.parametrize("case", list(CASES))
def test_each_demo_identity_ends_with_the_expected_outcome_and_reason(
    case, outcomes, reference, connector
):
    recipient, sender, _, state, channel, reason, operator = CASES[case]
    letter = outcomes[case]
    assert (letter.state, letter.reason) == (state, reason), case
    assert letter.state in vocabulary.TERMINAL_STATES
    if state == "handed_to_print":
        _assert_in_the_vendor_drop(connector, letter)
    if channel is not None:
        assert letter.channel == channel
    if operator is None:
        assert letter.trans_id is None
        return
    assert letter.operator_number == operator
    assert letter.trans_id
    inbox = _store(reference, operator).inbox(recipient)
    entry = next((e for e in inbox if e.subject == f"Brev: {case}"), None)
    assert entry is not None, f"{case}: not in the inbox at {operator}"
    message = _store(reference, operator).message(recipient, entry.id)
    assert message.message_id == letter.message_id
    assert message.trans_id == letter.trans_id
    assert message.sender_number == sender
    assert message.body_text == f"Hej! Det här är beslutet till {recipient}."
    assert message.secure
    assert message.support_text.startswith("Har du frågor om brevet?")


def test_a_digital_letter_goes_to_the_recipients_own_operator_only(outcomes, reference):
    anna = outcomes["Anna"]
    assert not [e for e in _store(reference, SYD).inbox(ANNA) if e.subject == "Brev: Anna"]
    assert anna.operator_number == NORD


def test_the_event_log_tells_each_step_with_the_worker_as_actor(connector, outcomes):
    _, engine, _ = connector
    with session_factory(engine)() as session:
        logged = list(
            session.scalars(
                select(LetterEvent)
                .where(LetterEvent.letter_id == outcomes["Tolvan"].id)
                .order_by(LetterEvent.id)
            )
        )
    assert [event.state for event in logged] == ["received", "classified", "delivered"]
    assert logged[0].actor == "api:E2E"
    assert all(event.actor.startswith("worker:") for event in logged[1:])


def _stored_copies(reference, operator_number, recipient, message_id):
    with reference.sessions() as session:
        return session.scalar(
            select(func.count(MailboxMessage.id)).where(
                MailboxMessage.operator_number == operator_number,
                MailboxMessage.recipient_id == recipient,
                MailboxMessage.message_id == message_id,
            )
        )


def test_the_same_idempotency_key_twice_is_one_letter_and_one_message(connector, reference):
    settings, engine, system = connector
    letter = LetterInput(
        sender=EXEMPELKOMMUN,
        recipient="19930228-1465",
        subject="Kallelse till möte",
        body="Välkommen på möte.",
        message_type="kallelse",
        idempotency_key="e2e-kallelse-ida-1",
    )
    accepted = []
    for _ in range(2):
        with session_factory(engine).begin() as session:
            stored, created = LetterService(session, settings).accept(
                system, letter, actor="api:E2E"
            )
            accepted.append((stored.id, stored.message_id, created))
    assert accepted[0][0] == accepted[1][0]
    assert [created for *_, created in accepted] == [True, False]
    drain(settings, engine)
    message_id = accepted[0][1]
    assert _stored_copies(reference, SYD, IDA, message_id) == 1
    # A second delivery of the same letter (as after a lost answer) stores nothing new.
    with session_factory(engine).begin() as session:
        enqueue(session, "deliver", now=dt.datetime.now(dt.UTC), letter_id=accepted[0][0])
    drain(settings, engine)
    assert _stored_copies(reference, SYD, IDA, message_id) == 1
    with session_factory(engine)() as session:
        again = session.get(Letter, accepted[0][0])
        delivered = session.scalar(
            select(func.count(LetterEvent.id)).where(
                LetterEvent.letter_id == again.id, LetterEvent.state == "delivered"
            )
        )
    assert again.state == "delivered"
    assert delivered == 1
