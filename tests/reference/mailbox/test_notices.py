"""Notices of new messages: e-mail over real SMTP to the sink, SMS to the SMS sink, digests.

Each test opens mailboxes of its own (a fresh personnummer, a unique e-mail address and
phone number), so what arrives in the sinks can only come from that test.
"""

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from support.world import fresh_organisation_number, fresh_personnummer
from utskick.mm.delivery import (
    NotificationDelivery,
    SecureMessage,
    SupportInfo,
    build_notification_delivery,
)
from utskick.mm.notify import notify_request, parse_notify_response
from utskick.mm.soap import parse_deliver_secure_response
from utskick.reference.mailbox.notices import Notices, SmtpMailer
from utskick.reference.mailbox.operator import MailboxOperator
from utskick.reference.mailbox.service import create_operator_service_app
from utskick.reference.runner import free_loopback_ports as free_ports
from utskick.reference.store import (
    MailboxAccount,
    MailboxCompanyAdministrator,
    MailboxMessage,
    MailboxNotice,
    SinkMail,
    SinkSms,
)
from utskick.reference.world import EXEMPELKOMMUN, NORD, SYD

from .wire import post, wait_for


def open_mailbox(context, *, operator=SYD, frequency="direkt", email=True, phone=True):
    """A new person with a mailbox (in FaR and at the operator) and unique notice addresses."""
    person = fresh_personnummer()
    context.registry.register(operator, person)
    tag = uuid.uuid4().hex[:8]
    with context.sessions.begin() as session:
        session.add(
            MailboxAccount(
                operator_number=operator,
                owner_id=person,
                kind="person",
                name=f"Test {tag}",
                email=f"{tag}@exempel.test" if email else None,
                phone=f"07{int(tag, 16) % 10**8:08d}" if phone else None,
                notice_frequency=frequency,
            )
        )
    with context.sessions() as session:
        return session.get(MailboxAccount, (operator, person))


def mails_to(context, address):
    with context.sessions() as session:
        return session.scalars(
            select(SinkMail).where(SinkMail.recipients == address).order_by(SinkMail.id)
        ).all()


def texts_to(context, phone):
    with context.sessions() as session:
        return session.scalars(
            select(SinkSms).where(SinkSms.phone == phone).order_by(SinkSms.id)
        ).all()


def notices_of(context, recipient):
    with context.sessions() as session:
        return session.scalars(
            select(MailboxNotice)
            .where(MailboxNotice.recipient_id == recipient)
            .order_by(MailboxNotice.id)
        ).all()


@pytest.fixture
def syd_notices(mailbox_context, syd_store):
    notices = Notices(mailbox_context, mailbox_context.operator("syd"), syd_store)
    yield notices
    notices.close()


@pytest.fixture
def syd_operator(mailbox_context, syd_notices, smtp_sink):
    """Syd in process with real notices, mailing to the SMTP sink."""
    assert smtp_sink.port == mailbox_context.settings.smtp_port
    return MailboxOperator(mailbox_context, mailbox_context.operator("syd"), notices=syd_notices)


def deliver(operator, context, letters, recipient, **letter):
    request = letters.request(letters.letter(recipient, **letter))
    answer = operator.deliver_secure(request, context.pki.certificates[EXEMPELKOMMUN])
    return parse_deliver_secure_response(answer)


class TestDirectNotices:
    def test_a_secure_letter_is_noticed_by_email_and_sms_without_its_content(
        self, mailbox_context, services, client, letters
    ):
        account = open_mailbox(mailbox_context)
        letter = letters.letter(
            account.owner_id,
            subject="Beslut om försörjningsstöd",
            body=b"Du beviljas 4 312 kronor.",
        )
        response = post(client(), services.syd, letters.request(letter))
        assert parse_deliver_secure_response(response.content).statuses[0].delivered

        [mail] = wait_for(lambda: mails_to(mailbox_context, account.email))
        assert mail.subject == "Nytt meddelande från Exempelkommun"
        assert "Exempelkommun" in mail.body
        assert "Brevlåda Syd AB" in mail.body
        assert mailbox_context.endpoints.operators["syd"].ui_url in mail.body
        assert "försörjningsstöd" not in mail.body
        assert "4 312" not in mail.body
        assert mail.mail_from == mailbox_context.settings.notice_from
        [sms] = wait_for(lambda: texts_to(mailbox_context, account.phone))
        assert "Exempelkommun" in sms.text
        assert "försörjningsstöd" not in sms.text
        assert len(sms.text) <= 160
        sent = wait_for(
            lambda: all(n.sent_at for n in notices_of(mailbox_context, account.owner_id))
        )
        assert sent
        assert sorted(n.channel for n in notices_of(mailbox_context, account.owner_id)) == [
            "email",
            "sms",
        ]

    def test_a_notification_may_forward_its_text_by_email_and_sms(
        self, mailbox_context, services, client
    ):
        account = open_mailbox(mailbox_context)
        notification = NotificationDelivery(
            sender_id="16" + EXEMPELKOMMUN,
            sender_name="Exempelkommun",
            recipient_ids=(account.owner_id,),
            message=SecureMessage(
                id=f"n-{uuid.uuid4().hex}",
                subject="Sophämtning",
                support_info=SupportInfo("Ring 010-123 45 67"),
                body=b"Sophamtningen flyttas.",
            ),
            email_from="info@exempelkommun.test",
            email_subject="Sophämtningen flyttas",
            email_text="Sophämtningen flyttas till tisdag vecka 49.",
            sms_from="Kommunen",
            sms_text="Sophamtningen flyttas till tisdag v 49.",
        )
        response = post(
            client(), services.syd, notify_request(build_notification_delivery(notification))
        )
        result = parse_notify_response(response.content)
        assert result.statuses[0].delivered
        assert sorted(result.statuses[0].notified_by) == ["EMail", "SMS"]

        [mail] = wait_for(lambda: mails_to(mailbox_context, account.email))
        assert mail.subject == "Sophämtningen flyttas"
        assert "Sophämtningen flyttas till tisdag vecka 49." in mail.body
        [sms] = wait_for(lambda: texts_to(mailbox_context, account.phone))
        assert sms.text == "Sophamtningen flyttas till tisdag v 49."

    def test_a_company_mailbox_without_email_notices_its_administrators(
        self, mailbox_context, services, client, letters
    ):
        administrator = open_mailbox(mailbox_context, phone=False)
        company = "16" + fresh_organisation_number()
        mailbox_context.registry.register(NORD, company)
        with mailbox_context.sessions.begin() as session:
            session.add(
                MailboxAccount(
                    operator_number=NORD, owner_id=company, kind="company", name="Testbolaget AB"
                )
            )
            session.add(
                MailboxCompanyAdministrator(
                    operator_number=NORD, company_id=company, person_id=administrator.owner_id
                )
            )
        response = post(client(), services.nord, letters.request(letters.letter(company)))
        assert parse_deliver_secure_response(response.content).statuses[0].delivered

        [mail] = wait_for(lambda: mails_to(mailbox_context, administrator.email))
        assert "Brevlåda Nord AB" in mail.body

    def test_a_recipient_who_wants_no_notices_gets_none(
        self, mailbox_context, syd_operator, letters
    ):
        account = open_mailbox(mailbox_context, frequency="aldrig")
        deliver(syd_operator, mailbox_context, letters, account.owner_id)
        assert notices_of(mailbox_context, account.owner_id) == []

    @pytest.mark.usefixtures("smtp_sink")
    def test_a_failing_mail_server_does_not_fail_the_delivery_and_is_retried(
        self, mailbox_context, syd_store, letters
    ):
        account = open_mailbox(mailbox_context, phone=False)
        (closed_port,) = free_ports(1)
        failing = Notices(
            mailbox_context,
            mailbox_context.operator("syd"),
            syd_store,
            mailer=SmtpMailer("127.0.0.1", closed_port, "no-reply@brevlada.test"),
        )
        operator = MailboxOperator(
            mailbox_context, mailbox_context.operator("syd"), notices=failing
        )
        result = deliver(operator, mailbox_context, letters, account.owner_id)
        failing.close()

        assert result.statuses[0].delivered
        [notice] = notices_of(mailbox_context, account.owner_id)
        assert notice.sent_at is None
        assert f"127.0.0.1:{closed_port}" in notice.error
        assert mails_to(mailbox_context, account.email) == []

        working = Notices(mailbox_context, mailbox_context.operator("syd"), syd_store)
        working.send_due_digests(dt.datetime.now(dt.UTC))
        working.close()
        [notice] = notices_of(mailbox_context, account.owner_id)
        assert notice.sent_at is not None
        assert notice.error is None
        assert len(wait_for(lambda: mails_to(mailbox_context, account.email))) == 1


class TestDigests:
    @pytest.mark.parametrize(("frequency", "period"), [("daglig", 1), ("veckovis", 7)])
    def test_notices_are_gathered_into_one_digest_per_period(
        self, mailbox_context, syd_operator, syd_notices, letters, frequency, period
    ):
        account = open_mailbox(mailbox_context, frequency=frequency)
        deliver(syd_operator, mailbox_context, letters, account.owner_id)
        deliver(syd_operator, mailbox_context, letters, account.owner_id)
        assert mails_to(mailbox_context, account.email) == []

        now = dt.datetime.now(dt.UTC)
        syd_notices.send_due_digests(now)
        [digest] = wait_for(lambda: mails_to(mailbox_context, account.email))
        assert digest.subject == "Du har 2 nya meddelanden i din brevlåda hos Brevlåda Syd AB"
        assert "Exempelkommun: 2 st" in digest.body
        [sms] = texts_to(mailbox_context, account.phone)
        assert "2 nya meddelanden" in sms.text

        deliver(syd_operator, mailbox_context, letters, account.owner_id)
        syd_notices.send_due_digests(now + dt.timedelta(days=period, hours=-1))
        assert len(mails_to(mailbox_context, account.email)) == 1
        syd_notices.send_due_digests(now + dt.timedelta(days=period, hours=1))
        mails = wait_for(lambda: len(mails_to(mailbox_context, account.email)) == 2)
        assert mails
        assert mails_to(mailbox_context, account.email)[-1].subject == (
            "Du har ett nytt meddelande i din brevlåda hos Brevlåda Syd AB"
        )

    @pytest.mark.usefixtures("smtp_sink")
    def test_the_service_sends_due_digests_on_its_own(self, mailbox_context, letters):
        account = open_mailbox(mailbox_context, frequency="daglig", phone=False)
        syd = mailbox_context.operator("syd")
        operator = MailboxOperator(mailbox_context, syd)  # stores, records no notices
        deliver(operator, mailbox_context, letters, account.owner_id)
        with mailbox_context.sessions.begin() as session:
            [message] = session.scalars(
                select(MailboxMessage).where(MailboxMessage.recipient_id == account.owner_id)
            ).all()
            session.add(
                MailboxNotice(
                    operator_number=SYD,
                    recipient_id=account.owner_id,
                    message_id=message.id,
                    channel="email",
                )
            )

        app = create_operator_service_app(mailbox_context, syd, digest_interval_seconds=0.1)
        with TestClient(app):
            mails = wait_for(lambda: mails_to(mailbox_context, account.email))
        assert [m.subject for m in mails] == [
            "Du har ett nytt meddelande i din brevlåda hos Brevlåda Syd AB"
        ]
