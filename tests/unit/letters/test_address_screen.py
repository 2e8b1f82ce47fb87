"""An address given for a person with protected identity is never stored, not even briefly:
every SQL statement sent while the letter is accepted is captured, and the address is in none
of them, nor in any row afterwards. Runs on SQLite and PostgreSQL."""

import json

import pytest
from sqlalchemy import event, select

from support.world import DAVID, EVA, DownPopulationRegister
from utskick.jobs.models import Job
from utskick.letters.address_screen import (
    UNAVAILABLE,
    screen_addresses,
)
from utskick.letters.inputs import ADDRESS_NOT_SCREENED, LetterRejectedError
from utskick.letters.models import Letter, LetterEvent
from utskick.printing.addresses import FixedAddressSource, RegisterEntry, RegisterProtection

pytestmark = pytest.mark.storage

PROTECTED = EVA
ORDINARY = DAVID
ADDRESS = {
    "name": "Eva Ek",
    "lines": ["c/o Hemlig Kontakt", "Dolda gatan 7"],
    "postal_code": "999 99",
    "city": "Skyddsstad",
}
# ASCII, so that a JSON encoder's \u-escapes cannot hide a trace from the search.
TRACES = ("Dolda gatan", "Skyddsstad", "Hemlig Kontakt")


def register():
    source = FixedAddressSource(
        {
            PROTECTED: RegisterEntry(PROTECTED, found=True, protected=True),
            ORDINARY: RegisterEntry(ORDINARY, found=True, name="David Dahl", lines=("X 1",)),
        }
    )
    return source, RegisterProtection(source)


@pytest.fixture
def statements(db_session):
    """Every SQL statement and its parameters sent on the test's connection."""
    sent = []
    connection = db_session.connection()

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        sent.append(f"{statement} {' '.join(_values(parameters))}")

    event.listen(connection, "before_cursor_execute", capture)
    yield sent
    event.remove(connection, "before_cursor_execute", capture)


def _values(parameters):
    """Every parameter value as text (psycopg's Json wrapper shortens its repr: unwrap it)."""
    if isinstance(parameters, dict):
        parameters = list(parameters.values())
    if isinstance(parameters, (list, tuple)):
        return [text for item in parameters for text in _values(item)]
    wrapped = getattr(parameters, "obj", None)
    return [json.dumps(wrapped) if wrapped is not None else str(parameters)]


def _rows_as_text(session, letter_id):
    letter = session.get(Letter, letter_id)
    events = session.scalars(select(LetterEvent).where(LetterEvent.letter_id == letter_id))
    jobs = session.scalars(select(Job).where(Job.letter_id == letter_id))
    texts = [json.dumps(letter.postal_address), letter.body or "", letter.subject]
    texts += [f"{e.detail} {json.dumps(e.data)}" for e in events]
    texts += [json.dumps(j.payload) for j in jobs]
    return " ".join(texts)


def test_a_protected_persons_address_is_never_sent_to_the_database(
    intake, a_letter, db_session, statements
):
    service, system = intake
    source, protection = register()
    screened = screen_addresses([a_letter(recipient=PROTECTED, postal_address=ADDRESS)], protection)
    letter, created = service.accept(system, screened.letters[0], actor="api:x")
    db_session.flush()
    assert created
    assert source.calls == 1
    assert statements, "the capture saw the letter being written"
    for trace in TRACES:
        assert not any(trace in sent for sent in statements), trace
    db_session.expire_all()
    assert db_session.get(Letter, letter.id).postal_address is None
    stored = _rows_as_text(db_session, letter.id)
    assert not any(trace in stored for trace in TRACES)


def test_a_protected_persons_letter_keeps_no_fingerprint_of_the_address(intake, a_letter):
    # A hash of the address next to the letter's text could be guessed back from the
    # address register: the fingerprint is taken after the address is dropped.
    service, system = intake
    _, protection = register()
    with_address = screen_addresses(
        [a_letter(recipient=PROTECTED, postal_address=ADDRESS)], protection
    ).letters[0]
    stored, _ = service.accept(system, with_address, actor="cli")
    other, _ = service.accept(
        system, a_letter(recipient=PROTECTED, idempotency_key="utan-adress"), actor="cli"
    )
    assert stored.request_fingerprint == other.request_fingerprint


def test_an_ordinary_persons_address_is_stored_as_given(intake, a_letter, db_session, statements):
    service, system = intake
    _, protection = register()
    screened = screen_addresses([a_letter(recipient=ORDINARY, postal_address=ADDRESS)], protection)
    letter, _ = service.accept(system, screened.letters[0], actor="cli")
    db_session.flush()
    # The capture sees an address when one is written: its silence above means something.
    assert any("Skyddsstad" in sent for sent in statements)
    db_session.expire_all()
    assert db_session.get(Letter, letter.id).postal_address == {**ADDRESS, "country": None}


def test_when_the_register_cannot_be_asked_a_letter_with_an_address_is_refused(
    intake, a_letter, stored_rows, statements
):
    service, system = intake
    before = stored_rows()
    screened = screen_addresses(
        [a_letter(recipient=ORDINARY, postal_address=ADDRESS)],
        RegisterProtection(DownPopulationRegister()),
    )
    assert screened.unavailable == UNAVAILABLE
    statements.clear()
    with pytest.raises(LetterRejectedError) as refused:
        service.accept(system, screened.letters[0], actor="cli")
    assert refused.value.field == "address"
    assert refused.value.message == ADDRESS_NOT_SCREENED
    assert stored_rows() == before
    assert not any("Skyddsstad" in sent for sent in statements)


def test_when_the_register_cannot_be_asked_a_letter_without_address_is_accepted(intake, a_letter):
    service, system = intake
    screened = screen_addresses(
        [a_letter(recipient=ORDINARY)], RegisterProtection(DownPopulationRegister())
    )
    assert screened.unavailable is None
    _, created = service.accept(system, screened.letters[0], actor="cli")
    assert created


def test_a_way_in_that_forgets_to_ask_cannot_store_an_address(intake, a_letter, stored_rows):
    service, system = intake
    before = stored_rows()
    with pytest.raises(LetterRejectedError) as refused:
        service.accept(system, a_letter(recipient=ORDINARY, postal_address=ADDRESS), actor="cli")
    assert refused.value.field == "address"
    assert stored_rows() == before


def test_an_organisation_needs_no_question_to_the_register(intake, a_letter):
    service, system = intake
    source, protection = register()
    screened = screen_addresses(
        [a_letter(recipient="212000-0142", postal_address=ADDRESS)], protection
    )
    letter, _ = service.accept(system, screened.letters[0], actor="cli")
    assert source.calls == 0
    assert letter.postal_address is not None


def test_one_question_for_a_whole_chunk_of_letters(a_letter):
    source, protection = register()
    letters = [
        a_letter(recipient=PROTECTED, postal_address=ADDRESS),
        a_letter(recipient=ORDINARY, postal_address=ADDRESS),
        a_letter(recipient=ORDINARY),
    ]
    screened = screen_addresses(letters, protection).letters
    assert source.calls == 1
    assert [letter.postal_address is not None for letter in screened] == [False, True, False]
    assert [letter.address_screened for letter in screened] == [True, True, False]
