"""An idempotency key used again returns the stored letter only for the same content; other
content is refused with the stored letter's id. SQLite and PostgreSQL."""

import re

import pytest

from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters.inputs import AttachmentInput, IdempotencyConflictError
from utskick.letters.models import Letter

pytestmark = pytest.mark.storage


def test_every_letter_keeps_the_fingerprint_of_its_request(intake, a_letter, db_session):
    service, system = intake
    letter, _ = service.accept(system, a_letter(idempotency_key="k1"), actor="cli")
    db_session.flush()
    db_session.expire_all()
    assert re.fullmatch(r"[0-9a-f]{64}", db_session.get(Letter, letter.id).request_fingerprint)


def test_the_same_letter_spelled_differently_is_the_same_request(intake, a_letter, stored_rows):
    service, system = intake
    first, _ = service.accept(
        system, a_letter(idempotency_key="k2", sender="202100-4748"), actor="cli"
    )
    before = stored_rows()
    again, created = service.accept(
        system,
        a_letter(idempotency_key="k2", sender="2021004748", recipient="191212121212"),
        actor="cli",
    )
    assert (again.id, created) == (first.id, False)
    assert stored_rows() == before


def test_other_attachment_bytes_under_the_same_name_are_other_content(
    intake, a_letter, stored_rows
):
    service, system = intake
    first, _ = service.accept(
        system,
        a_letter(
            idempotency_key="k3", attachments=(AttachmentInput("beslut.pdf", minimal_pdf(1000)),)
        ),
        actor="cli",
    )
    before = stored_rows()
    with pytest.raises(IdempotencyConflictError) as refused:
        service.accept(
            system,
            a_letter(
                idempotency_key="k3",
                attachments=(AttachmentInput("beslut.pdf", minimal_pdf(2000)),),
            ),
            actor="cli",
        )
    assert refused.value.letter_id == first.id
    assert stored_rows() == before


@pytest.mark.parametrize(
    ("changes", "conflict"),
    [
        pytest.param({}, False, id="same-content"),
        pytest.param({"subject": "Ett annat beslut"}, True, id="other-subject"),
        pytest.param({"recipient": "198004232388"}, True, id="other-recipient"),
        pytest.param({"case_number": "BN 2026/9"}, True, id="other-case"),
    ],
)
def test_a_letter_stored_before_fingerprints_is_compared_on_what_its_row_holds(
    intake, a_letter, db_session, changes, conflict
):
    service, system = intake
    old, _ = service.accept(system, a_letter(idempotency_key="gammal"), actor="cli")
    db_session.flush()
    old.request_fingerprint = None  # as migrated: the column is new and empty
    old.body = None  # and its body removed after delivery
    db_session.flush()
    again = a_letter(idempotency_key="gammal", **changes)
    if conflict:
        with pytest.raises(IdempotencyConflictError) as refused:
            service.accept(system, again, actor="cli")
        assert refused.value.letter_id == old.id
    else:
        replayed, created = service.accept(system, again, actor="cli")
        assert (replayed.id, created) == (old.id, False)
