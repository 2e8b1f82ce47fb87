"""Sender organisations in the database (SQLite and PostgreSQL): a number is checked and kept
as ten digits, once; the intermediary is the one organisation flagged to seal."""

import pytest

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW
from utskick.identity import InvalidIdentityError
from utskick.senders.repository import DuplicateSenderError, SenderRepository

pytestmark = pytest.mark.storage


def test_a_sender_is_stored_with_ten_digits_and_its_name_trimmed(db_session):
    senders = SenderRepository(db_session)

    added = senders.add("202100-4748", " Exempelkommun ", key_path="/nycklar/ek.p12", now=NOW)

    assert (added.organisation_number, added.name) == (EXEMPELKOMMUN, "Exempelkommun")
    assert senders.get(EXEMPELKOMMUN) is added
    assert senders.get(GRANNKOMMUN) is None


@pytest.mark.parametrize("number", ["2021004749", "191212121212", "Exempelkommun"])
def test_a_number_that_is_no_organisationsnummer_is_refused(db_session, number):
    with pytest.raises(InvalidIdentityError):
        SenderRepository(db_session).add(number, "Exempelkommun", key_path=None, now=NOW)


def test_an_organisation_is_a_sender_once(db_session):
    senders = SenderRepository(db_session)
    senders.add(EXEMPELKOMMUN, "Exempelkommun", key_path=None, now=NOW)

    with pytest.raises(DuplicateSenderError, match="organisationen 2021004748 finns redan"):
        senders.add("202100-4748", "Exempelkommun igen", key_path=None, now=NOW)


def test_senders_are_listed_by_name(db_session):
    senders = SenderRepository(db_session)
    senders.add(GRANNKOMMUN, "Grannkommun", key_path=None, now=NOW)
    senders.add(EXEMPELKOMMUN, "Exempelkommun", key_path=None, now=NOW)

    assert [sender.name for sender in senders.all()] == ["Exempelkommun", "Grannkommun"]


def test_the_intermediary_is_the_first_organisation_flagged_to_seal(db_session):
    senders = SenderRepository(db_session)
    first = senders.add(EXEMPELKOMMUN, "Exempelkommun", key_path=None, now=NOW)
    second = senders.add(GRANNKOMMUN, "Grannkommun", key_path=None, now=NOW)
    assert senders.intermediary() is None

    second.intermediary = True
    first.intermediary = True
    db_session.flush()

    assert senders.intermediary() is first
