"""The compose page's own constants: the class-4 refusal it shows at once, and its form keys."""

import pytest

from support.world import EXEMPELKOMMUN, NOW, sender_organisation
from utskick.desk.compose import CLASS_FOUR_REFUSAL, new_idempotency_key
from utskick.letters.inputs import LetterInput, LetterRejectedError, checked_idempotency_key
from utskick.letters.models import MessageType
from utskick.letters.service import LetterService
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings


@pytest.mark.storage
def test_the_class_4_refusal_shown_at_once_is_the_letter_services(db_session):
    db_session.add(sender_organisation(EXEMPELKOMMUN))
    db_session.add(MessageType(code="skyddat", name="Skyddat", protection_class=4))
    db_session.flush()
    system = create_sending_system(db_session, name="Desk", sender_numbers=[EXEMPELKOMMUN], now=NOW)
    letter = LetterInput(sender=EXEMPELKOMMUN, recipient="19121212-1212", subject="Hemligt",
                         body="Text", message_type="skyddat")  # fmt: skip
    with pytest.raises(LetterRejectedError) as refused:
        LetterService(db_session, Settings()).accept(system, letter, actor="test")
    assert refused.value.field == "protection_class"
    assert refused.value.message == CLASS_FOUR_REFUSAL[:1].lower() + CLASS_FOUR_REFUSAL[1:]


def test_every_drawn_form_gets_a_key_of_its_own_that_the_letter_service_takes():
    keys = {new_idempotency_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(checked_idempotency_key(key) == key for key in keys)
