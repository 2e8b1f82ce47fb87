"""A letter's own support text (the officer's contact details instead of the organisation's),
on SQLite and PostgreSQL: stored as given, checked like the organisation's, and part of what an
idempotency key stands for."""

import pytest

from utskick.letters.inputs import (
    MAX_WIRE_BYTES,
    SIGNATURES_AND_ENVELOPE_BYTES,
    IdempotencyConflictError,
    LetterRejectedError,
    request_fingerprint,
)
from utskick.mm.delivery import MAX_SUPPORT_TEXT_LENGTH

pytestmark = pytest.mark.storage

OWN_TEXT = (
    "Har du frågor om brevet? Kontakta Anna Andersson, Bygglovsenheten.\n"
    "E-post: anna.andersson@exempelkommun.se\nTelefon: 0771-00 00 00"
)


def test_a_letters_own_support_text_is_stored_as_given(intake, a_letter, db_session):
    service, system = intake
    letter, created = service.accept(system, a_letter(support_text=OWN_TEXT), actor="cli")
    db_session.flush()
    db_session.expire_all()
    assert created
    assert letter.support_text == OWN_TEXT


def test_without_one_the_letter_has_none_and_the_organisations_is_used(intake, a_letter):
    service, system = intake
    letter, _ = service.accept(system, a_letter(), actor="cli")
    assert letter.support_text is None


def test_the_longest_support_text_the_wire_takes_is_accepted(intake, a_letter):
    service, system = intake
    text = "x" * MAX_SUPPORT_TEXT_LENGTH
    letter, _ = service.accept(system, a_letter(support_text=text), actor="cli")
    assert letter.support_text == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "supporttexten är tom", id="empty"),
        pytest.param(" \n\t ", "supporttexten är tom", id="blank"),
        pytest.param(
            "x" * (MAX_SUPPORT_TEXT_LENGTH + 1),
            f"supporttexten har {MAX_SUPPORT_TEXT_LENGTH + 1} tecken; korta den till högst "
            f"{MAX_SUPPORT_TEXT_LENGTH}",
            id="too-long",
        ),
        pytest.param(
            "Ring \u202e00 00-1770\u202c.",
            "supporttexten innehåller riktningstecknet U+202E",
            id="bidi-override",
        ),
        pytest.param("Ring oss\x07", "supporttexten innehåller styrtecknet U+0007", id="bell"),
    ],
)
def test_a_support_text_that_cannot_be_sent_is_refused_and_nothing_is_stored(
    intake, a_letter, stored_rows, text, reason
):
    service, system = intake
    before = stored_rows()
    with pytest.raises(LetterRejectedError) as refused:
        service.accept(system, a_letter(support_text=text), actor="cli")
    assert refused.value.field == "support_text"
    assert refused.value.message.startswith(reason)
    assert stored_rows() == before


def test_the_support_text_counts_in_the_size_on_the_wire(intake, a_letter):
    # A body that fits with the organisation's short text (the delivery around the body is
    # about 800 bytes), but not with the longest text of its own.
    service, system = intake
    body = "x" * ((MAX_WIRE_BYTES - SIGNATURES_AND_ENVELOPE_BYTES - 1100) * 3 // 4)
    service.accept(system, a_letter(body=body, idempotency_key="kort"), actor="cli")
    with pytest.raises(LetterRejectedError) as refused:
        service.accept(
            system,
            a_letter(body=body, support_text="y" * MAX_SUPPORT_TEXT_LENGTH, idempotency_key="lång"),
            actor="cli",
        )
    assert "Mina meddelanden tar högst 2048 kB" in refused.value.message


def test_a_letter_without_one_keeps_the_fingerprint_it_had_before_letters_could_have_one(
    a_letter,
):
    # A key used before the upgrade must still find its letter when it is sent again after.
    assert request_fingerprint(a_letter()) == (
        "921932051419ad0aa555367bd3d6eff80adf781593a793b4f5a102c9f674e403"
    )


def test_the_support_text_is_part_of_the_request_fingerprint(a_letter):
    without = request_fingerprint(a_letter())
    assert request_fingerprint(a_letter(support_text=OWN_TEXT)) != without
    assert request_fingerprint(a_letter(support_text=OWN_TEXT + ".")) != request_fingerprint(
        a_letter(support_text=OWN_TEXT)
    )


def test_a_key_used_again_with_another_support_text_is_refused(intake, a_letter, stored_rows):
    service, system = intake
    first, _ = service.accept(
        system, a_letter(idempotency_key="k", support_text=OWN_TEXT), actor="cli"
    )
    again, created = service.accept(
        system, a_letter(idempotency_key="k", support_text=OWN_TEXT), actor="cli"
    )
    assert (again.id, created) == (first.id, False)
    before = stored_rows()
    with pytest.raises(IdempotencyConflictError) as refused:
        service.accept(system, a_letter(idempotency_key="k"), actor="cli")
    assert refused.value.letter_id == first.id
    assert stored_rows() == before


def test_a_letter_stored_before_fingerprints_is_compared_on_its_support_text_too(
    intake, a_letter, db_session
):
    service, system = intake
    old, _ = service.accept(
        system, a_letter(idempotency_key="gammal", support_text=OWN_TEXT), actor="cli"
    )
    db_session.flush()
    old.request_fingerprint = None
    db_session.flush()
    with pytest.raises(IdempotencyConflictError):
        service.accept(system, a_letter(idempotency_key="gammal"), actor="cli")
    replayed, created = service.accept(
        system, a_letter(idempotency_key="gammal", support_text=OWN_TEXT), actor="cli"
    )
    assert (replayed.id, created) == (old.id, False)
