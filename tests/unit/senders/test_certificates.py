"""When the organisations' certificates expire and which warnings are due: 60, 30 and 7 days
before by default, every threshold once expired. The notices already sent are kept in the
database (SQLite and PostgreSQL), so that each warning goes out once."""

import datetime as dt

import pytest
from cryptography.hazmat.primitives import hashes

from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.mm.devca import write_pem_bundle
from utskick.senders.certificates import (
    EXPIRED_THRESHOLD,
    certificate_expiries,
    certificate_status,
    certificate_survey,
    claim_notices,
    due_warnings,
    expiry_of,
    release_notices,
    sent_notices,
)
from utskick.senders.models import SenderOrganisation

THRESHOLDS = [60, 30, 7]
NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
ISSUED = NOW - dt.timedelta(days=300)


def organisation(number=EXEMPELKOMMUN, *, key_path=None, intermediary=False):
    return SenderOrganisation(
        organisation_number=number,
        name="Exempelkommun" if number == EXEMPELKOMMUN else "Grannkommun",
        key_path=str(key_path) if key_path else None,
        intermediary=intermediary,
        support_text="Frågor besvaras av kommunen.",
        created_at=NOW,
    )


@pytest.fixture(scope="module")
def expiring(authority):
    """A certificate per case, by days left at NOW: 90, 45, 20, 5, and expired a day ago."""

    def issue(days_left):
        days = (NOW + dt.timedelta(days=days_left) - ISSUED).days
        return authority.issue_organisation(
            EXEMPELKOMMUN, "Exempelkommun", days=days, valid_from=ISSUED
        )

    return {days: issue(days) for days in (90, 45, 20, 5, -1)}


def expiry(expiring, days_left, **fields):
    return expiry_of(organisation(**fields), expiring[days_left].certificate)


class TestCertificateExpiry:
    def test_days_left_counts_from_now_to_not_after(self, expiring):
        assert expiry(expiring, 45).days_left(NOW) == pytest.approx(45.0)
        assert expiry(expiring, -1).days_left(NOW) == pytest.approx(-1.0)

    def test_the_fingerprint_is_the_sha256_of_the_certificate(self, expiring):
        certificate = expiring[20].certificate

        assert expiry_of(organisation(), certificate).fingerprint == (
            certificate.fingerprint(hashes.SHA256()).hex()
        )

    def test_the_intermediary_is_named_by_its_role(self, expiring):
        assert expiry(expiring, 90).role == "sender"
        assert expiry(expiring, 90, intermediary=True).role == "intermediary"


class TestDueWarnings:
    @pytest.mark.parametrize(
        ("days_left", "threshold", "crossed"),
        [
            (45, 60, (60,)),
            (20, 30, (60, 30)),
            (5, 7, (60, 30, 7)),
            (-1, EXPIRED_THRESHOLD, (60, 30, 7, EXPIRED_THRESHOLD)),
        ],
    )
    def test_a_certificate_within_a_threshold_is_due_at_the_tightest(
        self, expiring, days_left, threshold, crossed
    ):
        [warning] = due_warnings([expiry(expiring, days_left)], THRESHOLDS, NOW)

        assert (warning.threshold_days, warning.crossed) == (threshold, crossed)

    def test_a_certificate_further_off_than_every_threshold_is_not_due(self, expiring):
        assert due_warnings([expiry(expiring, 90)], THRESHOLDS, NOW) == []

    def test_thresholds_are_crossed_as_time_passes(self, expiring):
        certificate = expiry(expiring, 90)
        later = NOW + dt.timedelta(days=61)

        [warning] = due_warnings([certificate], THRESHOLDS, later)

        assert warning.threshold_days == 30


class TestStatus:
    @pytest.mark.parametrize(
        ("days_left", "status"),
        [(90, "ok"), (45, "warning"), (20, "warning"), (5, "warning"), (-1, "expired")],
    )
    def test_health_shows_ok_warning_or_expired(self, expiring, days_left, status):
        assert certificate_status(expiry(expiring, days_left), THRESHOLDS, NOW) == status


class TestSurvey:
    def test_every_sender_is_read_and_an_unreadable_key_is_reported_not_raised(
        self, db_session, expiring, tmp_path
    ):
        path = tmp_path / "ek.pem"
        write_pem_bundle(path, expiring[20])
        db_session.add(organisation(key_path=path, intermediary=True))
        db_session.add(organisation(GRANNKOMMUN, key_path=tmp_path / "saknas.p12"))
        db_session.flush()

        survey = certificate_survey(db_session)

        [read] = survey.expiries
        assert (read.organisation_number, read.role) == (EXEMPELKOMMUN, "intermediary")
        assert read.not_after == expiring[20].certificate.not_valid_after_utc
        [broken] = survey.unreadable
        assert (broken.organisation_number, broken.role) == (GRANNKOMMUN, "sender")
        assert "saknas.p12" in broken.reason
        assert "finns inte" in broken.reason

    def test_expiries_come_first_to_expire_first(self, db_session, expiring, tmp_path):
        for number, days_left in ((EXEMPELKOMMUN, 45), (GRANNKOMMUN, 5)):
            path = tmp_path / f"{number}.pem"
            write_pem_bundle(path, expiring[days_left])
            db_session.add(organisation(number, key_path=path))
        db_session.flush()

        expiries = certificate_expiries(db_session, NOW)

        assert [e.organisation_number for e in expiries] == [GRANNKOMMUN, EXEMPELKOMMUN]


class TestNotices:
    def test_a_claimed_notice_is_sent_and_cannot_be_claimed_again(self, db_session, expiring):
        certificate = expiry(expiring, 20)

        assert claim_notices(db_session, certificate, [60, 30], NOW)

        assert sent_notices(db_session, [certificate.fingerprint]) == {
            (certificate.fingerprint, 60),
            (certificate.fingerprint, 30),
        }
        assert not claim_notices(db_session, certificate, [30], NOW)

    def test_a_released_notice_can_be_claimed_again(self, db_session, expiring):
        certificate = expiry(expiring, 5)
        claim_notices(db_session, certificate, [7], NOW)

        release_notices(db_session, certificate.fingerprint, [7])

        assert sent_notices(db_session, [certificate.fingerprint]) == set()
        assert claim_notices(db_session, certificate, [7], NOW)

    def test_notices_of_another_certificate_do_not_count(self, db_session, expiring):
        claim_notices(db_session, expiry(expiring, 5), [7], NOW)

        assert sent_notices(db_session, [expiry(expiring, 20).fingerprint]) == set()
