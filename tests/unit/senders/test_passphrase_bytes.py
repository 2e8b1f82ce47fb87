"""A key's passphrase variable holding bytes that are not UTF-8 (SQLite and PostgreSQL).

The environment is bytes; Python shows what is not UTF-8 as lone surrogates. The key is
opened with the bytes as they were set, and a variable that opens nothing makes its sender
unreadable in the certificate survey, never an error that hides the others.
"""

import datetime as dt
import os

import pytest

from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.mm.devca import write_pem_bundle
from utskick.senders.certificates import certificate_survey
from utskick.senders.models import SenderOrganisation

pytestmark = pytest.mark.storage

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
VARIABLE = "UTSKICK_TEST_LATIN1_PASSPHRASE"
LATIN1_PASSPHRASE = "lösen".encode("latin-1")  # b"l\xf6sen": not UTF-8


def organisation(number, key_path, passphrase_env):
    return SenderOrganisation(
        organisation_number=number,
        name="Exempelkommun" if number == EXEMPELKOMMUN else "Grannkommun",
        key_path=str(key_path),
        intermediary=number == EXEMPELKOMMUN,
        passphrase_env=passphrase_env,
        support_text="Frågor besvaras av kommunen.",
        created_at=NOW,
    )


def test_a_key_opens_with_the_passphrase_bytes_as_set(db_session, authority, tmp_path, monkeypatch):
    key = tmp_path / "exempelkommun.pem"
    issued = authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")
    write_pem_bundle(key, issued, LATIN1_PASSPHRASE)
    monkeypatch.setenv(VARIABLE, os.fsdecode(LATIN1_PASSPHRASE))
    db_session.add(organisation(EXEMPELKOMMUN, key, VARIABLE))
    db_session.flush()

    survey = certificate_survey(db_session)

    assert [e.organisation_number for e in survey.expiries] == [EXEMPELKOMMUN]
    assert survey.unreadable == []


def test_a_passphrase_that_opens_nothing_makes_one_sender_unreadable(
    db_session, authority, tmp_path, monkeypatch
):
    good = tmp_path / "exempelkommun.pem"
    write_pem_bundle(good, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
    open_key = tmp_path / "grannkommun.pem"
    write_pem_bundle(open_key, authority.issue_organisation(GRANNKOMMUN, "Grannkommun"))
    monkeypatch.setenv(VARIABLE, os.fsdecode(LATIN1_PASSPHRASE))
    db_session.add(organisation(EXEMPELKOMMUN, good, None))
    db_session.add(organisation(GRANNKOMMUN, open_key, VARIABLE))
    db_session.flush()

    survey = certificate_survey(db_session)

    assert [e.organisation_number for e in survey.expiries] == [EXEMPELKOMMUN]
    assert [u.organisation_number for u in survey.unreadable] == [GRANNKOMMUN]
    assert "lösenfrasen stämmer inte" in survey.unreadable[0].reason
