"""Sending from the desk on SQLite and PostgreSQL: through the letter service, under the desk's
sending system, as the officer's organisation and department, once per form."""

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from support.world import EVA, EXEMPELKOMMUN, GRANNKOMMUN, NOW, TOLVAN, sender_organisation
from utskick.desk.sending import (
    DeskDraft,
    DeskSending,
    contact_lines,
    desk_sending_system,
    letter_input_for,
    screened,
)
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters.address_screen import UNAVAILABLE, ProtectionUnknownError
from utskick.letters.inputs import AttachmentInput, IdempotencyConflictError, LetterRejectedError
from utskick.letters.models import Letter, LetterEvent, MessageType
from utskick.migrations import migrate
from utskick.senders.models import SendingSystem
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings
from utskick.web.users import WebUser

pytestmark = pytest.mark.storage

SOCIAL = "Socialtjänsten"
PDF = minimal_pdf(1000)
ADDRESS = {"name": "Eva Ek", "lines": ["Gatan 1"], "postal_code": "123 45", "city": "Staden"}


def officer(username="hans", organisation=EXEMPELKOMMUN, department=SOCIAL):
    return WebUser(username=username, display_name="Hans Handläggare", role="officer",
                   organisation_number=organisation, department=department,
                   password_hash="-", active=True, created_at=NOW)  # fmt: skip


def draft(**changes):
    values = {"recipient": "19121212-1212", "subject": "Beslut om färdtjänst",
              "body": "Du har beviljats färdtjänst.", "message_type": "beslut",
              "idempotency_key": "brev-nytt-1",
              "attachments": (AttachmentInput("beslut.pdf", PDF, "paper"),)}  # fmt: skip
    values.update(changes)
    return DeskDraft(**values)


@pytest.fixture
def sessions(empty_engine):
    """A database of its own (the desk commits each letter), with two senders."""
    migrate.upgrade(empty_engine)
    factory = sessionmaker(bind=empty_engine)
    with factory() as session:
        session.add(sender_organisation(EXEMPELKOMMUN, intermediary=True))
        session.add(sender_organisation(GRANNKOMMUN))
        session.add(MessageType(code="beslut", name="Beslut", protection_class=2))
        session.add(MessageType(code="skyddat", name="Skyddat", protection_class=4))
        session.commit()
    return factory


def send(sessions, user, letter_draft):
    letter = letter_input_for(user, "Exempelkommun", letter_draft)
    return DeskSending(sessions, Settings(), clock=lambda: NOW).send(user, letter)


def count(sessions, model, *where):
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_a_letter_goes_out_under_the_desks_system_as_the_officer(sessions):
    sent = send(sessions, officer(), draft())
    with sessions() as session:
        letter = session.get(Letter, sent.letter_id)
        system = session.get(SendingSystem, letter.sending_system_id)
        assert sent.created
        assert (letter.sender_number, letter.department, letter.recipient_id) == (
            EXEMPELKOMMUN, SOCIAL, TOLVAN)  # fmt: skip
        assert (system.name, system.sender_numbers) == (
            "Handläggarwebben Exempelkommun",
            [EXEMPELKOMMUN],
        )
        assert [a.channel for a in letter.attachments] == ["paper"]
        actors = session.scalars(
            select(LetterEvent.actor).where(LetterEvent.letter_id == letter.id)
        )
        assert list(actors) == ["web:hans"]


def test_the_desks_system_is_made_once_per_organisation(sessions):
    send(sessions, officer("hans"), draft(idempotency_key="a"))
    send(sessions, officer("berit", department="Samhällsbyggnad"), draft(idempotency_key="b"))
    send(sessions, officer("greta", organisation=GRANNKOMMUN), draft(idempotency_key="c"))
    with sessions() as session:
        systems = session.scalars(select(SendingSystem).order_by(SendingSystem.name)).all()
        assert [system.name for system in systems] == [
            "Handläggarwebben Exempelkommun",
            "Handläggarwebben Grannkommun",
        ]
        # A letter written at the desk has no other home: Utskick keeps it as the record.
        assert [system.keeps_records for system in systems] == [False, False]


def test_a_form_sent_twice_gives_the_first_letter_back(sessions):
    first = send(sessions, officer(), draft())
    again = send(sessions, officer(), draft())
    assert (again.letter_id, again.created) == (first.letter_id, False)
    assert count(sessions, Letter) == 1


def test_a_key_sent_again_with_other_content_is_refused(sessions):
    send(sessions, officer(), draft())
    with pytest.raises(IdempotencyConflictError):
        send(sessions, officer(), draft(body="Något annat."))


def test_a_refused_letter_leaves_nothing_not_even_the_desks_system(sessions):
    with pytest.raises(LetterRejectedError) as refused:
        send(sessions, officer(), draft(message_type="skyddat"))
    assert refused.value.field == "protection_class"
    assert count(sessions, Letter) == 0
    assert count(sessions, SendingSystem) == 0


def test_a_person_without_organisation_cannot_send(sessions):
    with pytest.raises(LetterRejectedError) as refused:
        send(sessions, officer(organisation=None), draft())
    assert "avsändarorganisation" in refused.value.message


def test_an_organisation_that_is_no_sender_is_refused_with_what_to_do(sessions):
    with sessions() as session, pytest.raises(LetterRejectedError) as refused:
        desk_sending_system(session, "2120000142", NOW)
    assert "utskick senders add" in refused.value.message


def test_a_system_of_that_name_for_other_organisations_is_not_used(sessions):
    with sessions() as session:
        create_sending_system(session, name="Handläggarwebben Exempelkommun",
                              sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN], now=NOW)  # fmt: skip
        session.commit()
    with pytest.raises(LetterRejectedError) as refused:
        send(sessions, officer(), draft())
    assert "andra organisationer" in refused.value.message
    assert count(sessions, Letter) == 0


# --- what the letter service gets -------------------------------------------------------


def test_sender_and_department_come_from_the_person():
    letter = letter_input_for(officer(), "Exempelkommun", draft())
    assert (letter.sender, letter.department, letter.body_type) == (
        EXEMPELKOMMUN,
        SOCIAL,
        "text/plain",
    )
    assert letter.idempotency_key == "brev-nytt-1"


def test_the_contact_paragraph_is_the_letters_support_text_and_the_text_is_left_alone():
    letter = letter_input_for(officer(), "Exempelkommun",
                              draft(body="Hej!\n\n", use_contact=True, contact_phone="0123-1"))  # fmt: skip
    assert letter.support_text == (
        "Har du frågor om brevet? Kontakta Hans Handläggare, Socialtjänsten, "
        "Exempelkommun.\nTelefon: 0123-1"
    )
    assert letter.body == "Hej!\n\n"


def test_without_the_contact_paragraph_the_organisations_support_text_is_used():
    letter = letter_input_for(officer(), "Exempelkommun", draft(contact_phone="0123-1"))
    assert letter.support_text is None


def test_the_officers_support_text_is_stored_with_the_letter(sessions):
    sent = send(sessions, officer(), draft(use_contact=True, contact_email="hans@exempel.se"))
    with sessions() as session:
        letter = session.get(Letter, sent.letter_id)
        assert letter.body == "Du har beviljats färdtjänst."
        assert letter.support_text == (
            "Har du frågor om brevet? Kontakta Hans Handläggare, Socialtjänsten, "
            "Exempelkommun.\nE-post: hans@exempel.se"
        )


@pytest.mark.parametrize(("email", "phone", "field"), [
    ("hans.exempelkommun.se", None, "contact_email"),
    ("hans @x.se", None, "contact_email"),
    (None, "0123\n45", "contact_phone"),
    (None, "1" * 201, "contact_phone"),
])  # fmt: skip
def test_contact_details_that_cannot_stand_in_a_letter_are_refused(email, phone, field):
    with pytest.raises(LetterRejectedError) as refused:
        contact_lines(officer(), "Exempelkommun", email, phone)
    assert refused.value.field == field


# --- an address given for paper ---------------------------------------------------------


class Register:
    def __init__(self, protected=(), down=False):
        self.protected_ids = set(protected)
        self.down = down
        self.asked = []

    def protected(self, recipient_ids):
        self.asked.append(list(recipient_ids))
        if self.down:
            raise ProtectionUnknownError("folkbokföringen svarar inte")
        return self.protected_ids & set(recipient_ids)


def test_an_address_for_a_protected_person_is_dropped_before_anything_is_stored():
    letter = letter_input_for(officer(), "Exempelkommun",
                              draft(recipient="19851230-4166", postal_address=ADDRESS))  # fmt: skip
    result = screened(letter, Register(protected=[EVA]))
    assert result.postal_address is None
    assert result.address_screened


def test_an_address_for_another_person_is_kept_and_marked_screened():
    letter = letter_input_for(officer(), "Exempelkommun", draft(postal_address=ADDRESS))
    result = screened(letter, Register(protected=[EVA]))
    assert (result.postal_address, result.address_screened) == (ADDRESS, True)


@pytest.mark.parametrize("register", [None, Register(down=True)])
def test_an_address_that_cannot_be_screened_is_refused(register):
    letter = letter_input_for(officer(), "Exempelkommun", draft(postal_address=ADDRESS))
    with pytest.raises(LetterRejectedError) as refused:
        screened(letter, register)
    assert (refused.value.field, refused.value.message) == ("address", UNAVAILABLE)


def test_without_an_address_the_register_is_not_asked():
    register = Register(down=True)
    letter = letter_input_for(officer(), "Exempelkommun", draft())
    assert screened(letter, register) is letter
    assert register.asked == []
