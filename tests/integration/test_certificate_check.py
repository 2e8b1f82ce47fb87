"""The daily certificate check on SQLite and PostgreSQL, e-mailing through a real SMTP server.

The intermediary's certificate is 59 days from expiry when the check first runs; the clock
then moves through the 30 and 7 day thresholds to the day after expiry. Each threshold is
e-mailed once (however often the check runs), every run logs the warning, and every run
queues the next check for 07:00 Stockholm time. A mail server that refuses for now gets the
same e-mail again on the retry.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import logging
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.entrypoints.certificate_check import (
    certificate_check_job,
    certificate_mail_sender,
    ensure_certificate_check_job,
)
from utskick.jobs.models import Job
from utskick.jobs.queue import CERTIFICATE_CHECK, ClaimedJob, Retry
from utskick.migrations import migrate
from utskick.mm.devca import write_pem_bundle
from utskick.reference.runner import free_loopback_ports
from utskick.senders.certificates import EXPIRED_THRESHOLD
from utskick.senders.models import CertificateNotice, SenderOrganisation
from utskick.settings import Settings

pytestmark = pytest.mark.storage

STOCKHOLM = ZoneInfo("Europe/Stockholm")
START = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
WARNINGS_TO = "it-drift@exempelkommun.se"


class Inbox:
    """An SMTP server's handler that keeps each message, or refuses them while told to."""

    def __init__(self):
        self.messages = []
        self.refusing = False

    async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.refusing:
            return "451 4.3.0 Försök igen senare"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"

    def subjects(self):
        return [str(message["Subject"]) for _, message in self.messages]


@pytest.fixture
def inbox():
    [port] = free_loopback_ports(1)
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, f"smtp://127.0.0.1:{port}"
    controller.stop()


@pytest.fixture
def engine(empty_engine):
    migrate.upgrade(empty_engine)
    return empty_engine


@pytest.fixture
def installation(engine, authority, inbox, tmp_path):
    """(settings, sessions): Exempelkommun (intermediary) 59 days from expiry, Grannkommun far off."""
    _, url = inbox
    settings = Settings(
        home=tmp_path / "var",
        mail_out_url=url,
        mail_out_from="utskick@exempelkommun.se",
        certificate_warning_email=WARNINGS_TO,
        retry_base_seconds=60,
        retry_max_seconds=600,
    )
    issued_from = START - dt.timedelta(days=306)
    soon = authority.issue_organisation(
        EXEMPELKOMMUN, "Exempelkommun", days=365, valid_from=issued_from
    )
    later = authority.issue_organisation(GRANNKOMMUN, "Grannkommun", days=800)
    sessions = sessionmaker(engine)
    with sessions.begin() as session:
        for number, name, issued, intermediary in (
            (EXEMPELKOMMUN, "Exempelkommun", soon, True),
            (GRANNKOMMUN, "Grannkommun", later, False),
        ):
            path = tmp_path / f"{number}.pem"
            write_pem_bundle(path, issued)
            session.add(
                SenderOrganisation(
                    organisation_number=number,
                    name=name,
                    key_path=str(path),
                    intermediary=intermediary,
                    support_text="Frågor besvaras av kommunen.",
                    created_at=START,
                )
            )
    return settings, sessions


def run_check(settings, sessions, at, attempts=1):
    """Queue a check (as at start-up) and run it as the worker would at `at`."""
    with sessions.begin() as session:
        queued = ensure_certificate_check_job(session, at)
        job_id = queued.id if queued is not None else waiting_checks(session)[0].id
    job = ClaimedJob(job_id, CERTIFICATE_CHECK, None, None, attempts, at)
    outcome = certificate_check_job(
        job,
        sessions=sessions,
        settings=settings,
        clock=lambda: at,
        send_mail=certificate_mail_sender(settings),
    )
    if outcome is None:
        with sessions.begin() as session:
            session.delete(session.get(Job, job_id))
    return outcome


def waiting_checks(session: Session):
    return list(
        session.scalars(select(Job).where(Job.kind == CERTIFICATE_CHECK).order_by(Job.run_at))
    )


def test_each_threshold_is_emailed_once_and_expiry_once_more(installation, inbox):
    settings, sessions = installation
    handler, _ = inbox

    for day in (0, 0, 1, 30, 31, 53, 60, 61):
        assert run_check(settings, sessions, START + dt.timedelta(days=day)) is None

    assert handler.subjects() == [
        "Utskick: certifikatet för Exempelkommun (202100-4748) går ut om 59 dagar",
        "Utskick: certifikatet för Exempelkommun (202100-4748) går ut om 29 dagar",
        "Utskick: certifikatet för Exempelkommun (202100-4748) går ut om 6 dagar",
        "Utskick: certifikatet för Exempelkommun (202100-4748) har gått ut",
    ]
    assert {tuple(recipients) for recipients, _ in handler.messages} == {(WARNINGS_TO,)}
    with sessions() as session:
        thresholds = session.scalars(select(CertificateNotice.threshold_days)).all()
    assert sorted(thresholds) == sorted([60, 30, 7, EXPIRED_THRESHOLD])


def test_the_email_says_when_in_local_time_and_what_to_do(installation, inbox):
    settings, sessions = installation
    handler, _ = inbox

    run_check(settings, sessions, START)

    [(_, message)] = handler.messages
    body = message.get_content()
    with sessions() as session:
        key_path = session.scalars(
            select(SenderOrganisation.key_path).where(
                SenderOrganisation.organisation_number == EXEMPELKOMMUN
            )
        ).one()
    not_after = START - dt.timedelta(days=306) + dt.timedelta(days=365)
    assert f"går ut {not_after.astimezone(STOCKHOLM):%Y-%m-%d %H:%M} CET" in body
    assert f"utskick senders key {EXEMPELKOMMUN} --key NYTT-CERTIFIKAT.p12" in body
    assert "förseglar brev och ansluter till Mina meddelanden" in body
    assert "BEGIN" not in body
    assert key_path not in body
    assert message["From"] == "utskick@exempelkommun.se"


def test_every_run_logs_the_warning_and_queues_the_next_run_at_seven(installation, inbox, caplog):
    settings, sessions = installation
    caplog.set_level(logging.WARNING, logger="utskick.entrypoints.certificate_check")

    run_check(settings, sessions, START)

    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage().startswith(
        f"the intermediary certificate of {EXEMPELKOMMUN} (Exempelkommun) expires in 59.0 days"
    )
    assert "CET" in warning.getMessage()
    assert "PRIVATE" not in caplog.text
    with sessions() as session:
        [next_run] = waiting_checks(session)
    assert next_run.run_at.replace(tzinfo=dt.UTC) == dt.datetime(2026, 12, 8, 6, 0, tzinfo=dt.UTC)
    assert next_run.run_at.replace(tzinfo=dt.UTC).astimezone(STOCKHOLM).hour == 7


def test_a_mail_server_refusing_for_now_gets_the_same_email_on_the_retry(installation, inbox):
    settings, sessions = installation
    handler, _ = inbox
    handler.refusing = True

    outcome = run_check(settings, sessions, START)

    assert isinstance(outcome, Retry)
    assert "451" in outcome.error
    assert START + dt.timedelta(seconds=60) <= outcome.at <= START + dt.timedelta(seconds=600)
    with sessions() as session:
        assert session.scalars(select(CertificateNotice)).all() == []

    handler.refusing = False
    assert run_check(settings, sessions, START + dt.timedelta(minutes=5), attempts=2) is None

    assert len(handler.subjects()) == 1


def test_an_unreadable_key_is_logged_and_not_emailed(installation, inbox, caplog, tmp_path):
    settings, sessions = installation
    handler, _ = inbox
    with sessions.begin() as session:
        session.add(
            SenderOrganisation(
                organisation_number="2120000142",
                name="Trasiga nämnden",
                key_path=str(tmp_path / "borta.p12"),
                support_text="Frågor besvaras av nämnden.",
                created_at=START,
            )
        )
    caplog.set_level(logging.WARNING, logger="utskick.entrypoints.certificate_check")

    run_check(settings, sessions, START)

    assert any("2120000142" in r.getMessage() and "cannot be read" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    assert all("Trasiga" not in subject for subject in handler.subjects())


def test_one_waiting_check_however_often_it_is_queued(engine):
    sessions = sessionmaker(engine)
    for _ in range(3):
        with sessions.begin() as session:
            ensure_certificate_check_job(session, START)

    with sessions() as session:
        assert len(waiting_checks(session)) == 1
