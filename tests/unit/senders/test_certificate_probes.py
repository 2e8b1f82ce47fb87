"""Probes of the certificate survey with key files an operator got wrong (SQLite, PostgreSQL).

/health, /metrics and the daily certificate check all read the certificates through
`certificate_survey`; one sender's broken key file must be listed as unreadable, with a reason
that names neither the passphrase nor the file's content, and must never hide the others'.
"""

from __future__ import annotations

import datetime as dt

import pytest

from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.mm.devca import write_pem_bundle
from utskick.senders.certificates import certificate_survey
from utskick.senders.models import SenderOrganisation

pytestmark = pytest.mark.storage

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
PASSPHRASE_ENV = "UTSKICK_TEST_PROBE_PASSPHRASE"
PASSPHRASE_VALUE = "inte-den-ratta-frasen"
GARBAGE = b"ingen nyckel alls, bara text \x00\x01\x02"
DAMAGED_CERTIFICATE = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
EMPTY_CERTIFICATE = b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"


def organisation(number, key_path, *, intermediary=False, passphrase_env=None):
    return SenderOrganisation(
        organisation_number=number,
        name="Exempelkommun" if number == EXEMPELKOMMUN else "Grannkommun",
        key_path=str(key_path),
        intermediary=intermediary,
        passphrase_env=passphrase_env,
        support_text="Frågor besvaras av kommunen.",
        created_at=NOW,
    )


@pytest.mark.parametrize(
    "broken",
    ["garbage", "damaged certificate block", "empty certificate block", "wrong passphrase"],
)
def test_a_broken_key_file_is_unreadable_and_hides_no_other_certificate(
    db_session, authority, tmp_path, monkeypatch, broken
):
    good = tmp_path / "exempelkommun.pem"
    write_pem_bundle(good, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
    bad = tmp_path / "grannkommun.pem"
    passphrase_env = None
    if broken == "garbage":
        bad.write_bytes(GARBAGE)
    elif broken == "damaged certificate block":
        bad.write_bytes(DAMAGED_CERTIFICATE)
    elif broken == "empty certificate block":
        bad.write_bytes(EMPTY_CERTIFICATE)
    else:  # an unencrypted PEM opened with a passphrase the operator set anyway
        write_pem_bundle(bad, authority.issue_organisation(GRANNKOMMUN, "Grannkommun"))
        monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE_VALUE)
        passphrase_env = PASSPHRASE_ENV
    db_session.add(organisation(EXEMPELKOMMUN, good, intermediary=True))
    db_session.add(organisation(GRANNKOMMUN, bad, passphrase_env=passphrase_env))
    db_session.flush()

    survey = certificate_survey(db_session)

    assert [e.organisation_number for e in survey.expiries] == [EXEMPELKOMMUN]
    [unreadable] = survey.unreadable
    assert unreadable.organisation_number == GRANNKOMMUN
    assert PASSPHRASE_VALUE not in unreadable.reason
    assert "bm90IGEgY2VydA" not in unreadable.reason
    assert "ingen nyckel alls" not in unreadable.reason
