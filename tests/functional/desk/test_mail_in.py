"""Letters by e-mail over real SMTP: STARTTLS with a test CA, AUTH, the relay, the replies.

The submission service runs on a free loopback port with a migrated SQLite database; replies go
to an aiosmtpd sink of the test's own. A client from 127.0.0.2 is the municipality's mail
server (a relay host); one from 127.0.0.1 must log in.
"""

import datetime as dt
import email
import email.policy
import smtplib
import ssl
import threading

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.api import migrated_api_engine
from support.officer_mail import EXE, PDF, new_message_id, outlook_mail, thunderbird_mail
from utskick.db.engine import session_factory
from utskick.desk.mailin.intake import MailDesk, MailSender, ReceivedMail
from utskick.desk.mailin.models import MailSubmission
from utskick.desk.mailin.reply_job import mail_reply_job
from utskick.desk.mailin.server import SubmissionServer
from utskick.jobs.models import Job
from utskick.jobs.queue import MAIL_REPLY, ClaimedJob, Retry
from utskick.letters import events, vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.mm.devca import DevCertificateAuthority, write_certificate, write_pem_bundle
from utskick.reference.runner import free_loopback_ports
from utskick.senders.models import SendingSystem
from utskick.settings import Settings
from utskick.web.users import WebUser, create_user

DOMAIN = "brev.exempelkommun.se"
PASSWORD = "ratt-losenord-1"  # smtplib sends ASCII only
HANS = "handlaggare@exempelkommun.se"
BERIT = "bygglov@exempelkommun.se"
RELAY = "127.0.0.2"
BODY = "Hej Tolvan!\n\nDu har beviljats färdtjänst. Hemlig uppgift: kod 4711.\n\nHans"
SECRET_NAME = "Beslut färdtjänst Tolvan.pdf"


class Sink:
    """An SMTP server that keeps every message it gets (the replies)."""

    def __init__(self):
        self.messages = []
        self.envelopes = []
        self.arrived = threading.Condition()

    async def handle_DATA(self, _server, _session, envelope):  # noqa: N802 (aiosmtpd's name)
        with self.arrived:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            )
            self.arrived.notify_all()
        return "250 OK"

    def clear(self):
        self.messages.clear()
        self.envelopes.clear()

    def last(self):
        assert self.messages, "no reply arrived"
        return self.messages[-1]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("mail-in")
    authority = DevCertificateAuthority.create()
    write_pem_bundle(home / "mail-in.pem", authority.issue_tls_server(["localhost", "127.0.0.1"]))
    write_certificate(home / "ca.pem", authority.certificate)
    engine = migrated_api_engine(home / "utskick.db")
    with Session(engine) as session:
        for username, role, department, address in (
            ("handlaggare", "officer", "Socialtjänsten", HANS),
            ("bygglov", "officer", "Samhällsbyggnad", BERIT),
            ("registrator", "records", None, "registrator@exempelkommun.se"),
        ):
            create_user(session, username=username, password=PASSWORD, role=role,
                        organisation="2021004748", department=department, email=address,
                        display_name=username.capitalize(), now=dt.datetime.now(dt.UTC))  # fmt: skip
        session.commit()
    mail_port, sink_port = free_loopback_ports(2)
    sink = Sink()
    sink_controller = Controller(sink, hostname="127.0.0.1", port=sink_port)
    sink_controller.start()
    settings = Settings(
        home=home,
        mail_in_port=mail_port,
        mail_in_tls_cert_file=home / "mail-in.pem",
        mail_in_tls_key_file=home / "mail-in.pem",
        mail_in_relay_hosts=[RELAY],
        mail_in_max_bytes=200 * 1024,
        mail_out_url=f"smtp://127.0.0.1:{sink_port}",
    )
    server = SubmissionServer(settings, session_factory(engine))
    server.start()
    yield {"engine": engine, "settings": settings, "port": mail_port, "sink": sink,
           "ca": home / "ca.pem", "sink_port": sink_port}  # fmt: skip
    server.stop()
    sink_controller.stop()
    engine.dispose()


@pytest.fixture
def sink(world):
    world["sink"].clear()
    return world["sink"]


def tls_for(world):
    return ssl.create_default_context(cafile=str(world["ca"]))


def logged_in(world, username="handlaggare", password=PASSWORD):
    client = smtplib.SMTP("localhost", world["port"], timeout=30)
    client.starttls(context=tls_for(world))
    client.login(username, password)
    return client


def from_relay(world):
    return smtplib.SMTP("127.0.0.1", world["port"], timeout=30, source_address=(RELAY, 0))


def hans_mail(to=f"19121212-1212@{DOMAIN}", **changes):
    fields = {
        "sender": HANS,
        "to": to,
        "subject": "Beslut om färdtjänst",
        "text": BODY,
        "attachments": ((SECRET_NAME, PDF, "application/pdf"),),
    }
    fields.update(changes)
    return outlook_mail(**fields)


def counts(world):
    with Session(world["engine"]) as session:
        return (
            session.scalar(select(func.count()).select_from(Letter)),
            session.scalar(select(func.count()).select_from(MailSubmission)),
            session.scalar(select(func.count()).select_from(Job).where(Job.kind == MAIL_REPLY)),
        )


def send(client, raw, to=f"19121212-1212@{DOMAIN}", sender=HANS):
    recipients = [to] if isinstance(to, str) else to
    try:
        return client.sendmail(sender, recipients, raw)
    finally:
        client.quit()


def refusal_text(sink):
    reply = sink.last()
    return str(reply["subject"]), reply.get_content()


# --- accepted ------------------------------------------------------------------------------


def test_an_outlook_mail_from_a_logged_in_officer_becomes_a_letter_with_a_reply_owed(world, sink):
    message_id = new_message_id()
    before = counts(world)
    client = logged_in(world)
    assert send(client, hans_mail(message_id=message_id)) == {}
    assert counts(world) == tuple(n + 1 for n in before)
    with Session(world["engine"]) as session:
        submission = session.scalar(
            select(MailSubmission).where(MailSubmission.mail_message_id == message_id)
        )
        letter = session.get(Letter, submission.letter_id)
        system = session.get(SendingSystem, letter.sending_system_id)
        actors = session.scalars(
            select(LetterEvent.actor).where(LetterEvent.letter_id == letter.id)
        )
        job = session.scalar(select(Job).where(Job.kind == MAIL_REPLY, Job.letter_id == letter.id))
        assert (letter.recipient_id, letter.subject, letter.body) == (
            "191212121212",
            "Beslut om färdtjänst",
            BODY,
        )
        assert [a.filename for a in letter.attachments] == [SECRET_NAME]
        assert (letter.sender_number, letter.department) == ("2021004748", "Socialtjänsten")
        assert letter.protection_class == 2
        assert system.name == "Handläggarwebben Exempelkommun"
        assert list(actors) == ["mail:handlaggare"]
        assert (submission.state, submission.reply_to) == ("waiting", HANS)
        assert job.payload == {"submission_id": submission.id}
    assert sink.messages == []  # the reply waits for the outcome


def test_the_same_message_id_sent_twice_gives_one_letter_and_one_reply_job(world, sink):
    message_id = new_message_id()
    raw = hans_mail(message_id=message_id)
    before = counts(world)
    answers = []
    for _ in range(2):  # the first answer lost on the way: the client sends again
        client = logged_in(world)
        client.mail(HANS)
        client.rcpt(f"19121212-1212@{DOMAIN}")
        answers.append(client.data(raw))
        client.quit()
    assert [code for code, _ in answers] == [250, 250]
    assert "redan mottaget" in answers[1][1].decode()
    assert counts(world) == tuple(n + 1 for n in before)


def test_a_relay_host_sends_as_the_officer_whose_address_it_is(world, sink):
    raw = thunderbird_mail(
        sender=BERIT, to=f"brev@{DOMAIN}", subject="19121212-1212 Beslut om bygglov",
        text="Hej!\n\nBeviljat.", attachments=(("bygglov.pdf", PDF, "application/pdf"),),
    )  # fmt: skip
    before = counts(world)
    assert send(from_relay(world), raw, to=f"brev@{DOMAIN}", sender=BERIT) == {}
    assert counts(world) == tuple(n + 1 for n in before)
    with Session(world["engine"]) as session:
        letter = session.scalars(select(Letter).order_by(Letter.created_at.desc())).first()
        assert (letter.subject, letter.department) == ("Beslut om bygglov", "Samhällsbyggnad")
        assert (
            session.scalar(select(LetterEvent.actor).where(LetterEvent.letter_id == letter.id))
            == "mail:bygglov"
        )


# --- refused in the SMTP dialogue ----------------------------------------------------------


def test_an_unknown_sender_without_login_is_refused_at_mail_from(world):
    client = smtplib.SMTP("127.0.0.1", world["port"], timeout=30)
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        client.sendmail(HANS, [f"19121212-1212@{DOMAIN}"], hans_mail())
    assert caught.value.smtp_code == 530
    assert "logga in" in caught.value.smtp_error.decode()
    client.quit()


def test_a_relay_host_with_an_unregistered_address_is_refused(world):
    client = from_relay(world)
    with pytest.raises(smtplib.SMTPSenderRefused) as caught:
        client.sendmail("okand@exempelkommun.se", [f"19121212-1212@{DOMAIN}"], hans_mail())
    assert caught.value.smtp_code == 550
    assert "ingen handläggare" in caught.value.smtp_error.decode()
    client.quit()


def test_a_wrong_password_gets_535_and_three_close_the_connection(world):
    client = smtplib.SMTP("localhost", world["port"], timeout=30)
    client.starttls(context=tls_for(world))
    client.ehlo()
    client.user, client.password = "handlaggare", "fel-losenord-123"
    for _ in range(2):
        with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
            client.auth("PLAIN", client.auth_plain)
        assert caught.value.smtp_code == 535
        assert "fel användarnamn eller lösenord" in caught.value.smtp_error.decode()
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        client.auth("PLAIN", client.auth_plain)
    assert caught.value.smtp_code == 535
    code, answer = client.noop()  # what the server said after the third failure
    assert code == 421
    assert "för många misslyckade inloggningar" in answer.decode()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.noop()


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(world):
    client = smtplib.SMTP("localhost", world["port"], timeout=30)
    client.starttls(context=tls_for(world))
    client.ehlo()
    client.user, client.password = "ingen-sadan", PASSWORD
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        client.auth("LOGIN", client.auth_login)
    assert caught.value.smtp_code == 535
    assert "fel användarnamn eller lösenord" in caught.value.smtp_error.decode()
    client.close()


def test_a_records_user_may_not_send_letters_by_mail(world):
    client = smtplib.SMTP("localhost", world["port"], timeout=30)
    client.starttls(context=tls_for(world))
    with pytest.raises(smtplib.SMTPAuthenticationError) as caught:
        client.login("registrator", PASSWORD)
    assert "registrator skickar inga brev" in caught.value.smtp_error.decode()
    client.quit()


def test_auth_before_starttls_is_refused_and_not_even_offered(world):
    client = smtplib.SMTP("localhost", world["port"], timeout=30)
    client.ehlo()
    assert not client.has_extn("auth")
    assert client.has_extn("starttls")
    code, answer = client.docmd("AUTH", "PLAIN AGhhbmRsYWdnYXJlAHg=")
    assert code == 538
    assert "STARTTLS" in answer.decode()
    client.quit()


def test_the_login_may_be_the_registered_email_address_with_auth_login(world):
    client = smtplib.SMTP("localhost", world["port"], timeout=30)
    client.starttls(context=tls_for(world))
    client.ehlo()
    client.user, client.password = HANS.upper(), PASSWORD
    code, _ = client.auth("LOGIN", client.auth_login)
    assert code == 235
    client.quit()


def test_a_bad_check_digit_in_the_address_is_refused_at_rcpt(world):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        send(logged_in(world), hans_mail(), to=f"191212121213@{DOMAIN}")
    [(code, answer)] = caught.value.recipients.values()
    assert code == 550
    assert "kontrollsiffran stämmer inte" in answer.decode()


def test_another_domain_is_refused_at_rcpt(world):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        send(logged_in(world), hans_mail(), to="191212121212@exempelkommun.se")
    [(code, answer)] = caught.value.recipients.values()
    assert code == 550
    assert DOMAIN in answer.decode()


def test_a_second_recipient_gets_550_and_nothing_is_sent_to_the_first(world, sink):
    before = counts(world)
    refused = send(
        logged_in(world), hans_mail(), to=[f"191212121212@{DOMAIN}", f"197501012475@{DOMAIN}"]
    )
    [(code, answer)] = refused.values()
    assert code == 550
    assert "en enda mottagare" in answer.decode()
    assert counts(world) == before
    subject, text = refusal_text(sink)
    assert subject == "Ditt e-brev kunde inte skickas"
    assert "en enda mottagare" in text


def test_a_mail_over_the_size_limit_gets_552(world):
    big = hans_mail(attachments=(("stor.pdf", PDF + b"0" * 300_000, "application/pdf"),))
    client = logged_in(world)
    with pytest.raises(smtplib.SMTPException) as caught:
        client.sendmail(HANS, [f"191212121212@{DOMAIN}"], big)
    assert getattr(caught.value, "smtp_code", None) == 552
    client.close()


# --- refused after DATA: a reply, nothing stored ---------------------------------------------


@pytest.mark.parametrize(
    ("changes", "to", "found"),
    [
        ({"attachments": (("program.exe", EXE, "application/x-msdownload"),)}, None,
         "bilaga 1 (.exe-fil) är ingen PDF-fil"),
        ({"html": "<p>Hej</p><script>alert(1)</script>", "logo": False}, None, "<script>"),
        ({"subject": "Beslut om färdtjänst"}, f"brev@{DOMAIN}", "vem brevet ska till"),
        ({"subject": "19121212-1213 Beslut"}, f"brev@{DOMAIN}", "kontrollsiffran stämmer inte"),
    ],
    ids=["exe", "script", "no-identity", "bad-check-digit-in-subject"],
)  # fmt: skip
def test_a_mail_that_cannot_be_a_letter_gets_a_reply_and_leaves_nothing(
    world, sink, changes, to, found
):
    to = to or f"19121212-1212@{DOMAIN}"
    message_id = new_message_id()
    before = counts(world)
    assert send(logged_in(world), hans_mail(to=to, message_id=message_id, **changes), to=to) == {}
    assert counts(world) == before
    [(_, recipients)] = sink.envelopes
    assert recipients == [HANS]
    reply = sink.last()
    assert reply["In-Reply-To"] == message_id
    assert reply["Auto-Submitted"] == "auto-replied"
    text = reply.get_content()
    assert found.lower() in text.lower()  # the reason's first letter is a capital
    assert "inget av det har sparats" in text
    for secret in ("Hemlig uppgift", "4711", "program.exe", SECRET_NAME):
        assert secret not in text


def test_a_refusal_names_no_attachment_even_when_the_letter_service_refuses_it(world, sink):
    name = "Utredning om Tolvan Tolvansson.pdf"
    active = PDF.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S /JavaScript >>")
    send(logged_in(world), hans_mail(attachments=((name, active, "application/pdf"),)))
    _, text = refusal_text(sink)
    assert "bilaga 1" in text
    assert "Tolvansson" not in text


def test_a_relayed_mail_whose_from_is_not_the_officer_is_refused(world, sink):
    raw = hans_mail(sender="annan@exempelkommun.se")
    before = counts(world)
    send(from_relay(world), raw, sender=BERIT)
    assert counts(world) == before
    _, text = refusal_text(sink)
    assert "Avsändaren (From)" in text
    assert sink.envelopes[-1][1] == [BERIT]


def test_without_a_reply_server_a_refusal_is_554_with_the_reason(world):
    settings = world["settings"].model_copy(update={"mail_out_url": None})
    desk = MailDesk(session_factory(world["engine"]), settings)
    with Session(world["engine"]) as session:
        user_id = session.scalar(select(WebUser.id).where(WebUser.username == "handlaggare"))
    answer = desk.take(
        ReceivedMail(
            raw=hans_mail(attachments=(("x.exe", EXE, "application/octet-stream"),)),
            sender=MailSender(user_id, "handlaggare"),
            envelope_from=HANS,
            recipient=f"191212121212@{DOMAIN}",
        )
    )
    assert answer.startswith("554")
    assert "ingen PDF-fil" in answer


def test_an_automatic_mail_is_refused_without_a_reply(world, sink):
    raw = hans_mail(extra_headers="Auto-Submitted: auto-replied\r\n")
    with pytest.raises(smtplib.SMTPDataError) as caught:
        send(logged_in(world), raw)
    assert caught.value.smtp_code == 554
    assert sink.messages == []


# --- the reply about the outcome -------------------------------------------------------------


def claimed(world, letter_id):
    with Session(world["engine"]) as session:
        job = session.scalar(select(Job).where(Job.kind == MAIL_REPLY, Job.letter_id == letter_id))
        return ClaimedJob(job.id, job.kind, job.letter_id, job.payload, 1, job.created_at)


def accepted_letter(world, raw):
    send(logged_in(world), raw)
    with Session(world["engine"]) as session:
        return session.scalars(select(Letter).order_by(Letter.created_at.desc())).first().id


def reach(world, letter_id, state, operator=None, **facts):
    with Session(world["engine"]) as session:
        letter = session.get(Letter, letter_id)
        letter.operator_number = operator or letter.operator_number
        events.record(session, letter, state, actor="test", now=dt.datetime.now(dt.UTC), **facts)
        session.commit()


def run_reply(world, letter_id, *, settings=None, at=None):
    now = at or dt.datetime.now(dt.UTC)
    return mail_reply_job(
        claimed(world, letter_id),
        sessions=session_factory(world["engine"]),
        settings=settings or world["settings"],
        clock=lambda: now,
    )


def submission_of(world, letter_id):
    with Session(world["engine"]) as session:
        return session.scalar(select(MailSubmission).where(MailSubmission.letter_id == letter_id))


def test_the_reply_waits_for_the_outcome_then_tells_it_without_the_letters_content(world, sink):
    message_id = new_message_id()
    letter_id = accepted_letter(world, hans_mail(message_id=message_id))
    waiting = run_reply(world, letter_id)
    assert isinstance(waiting, Retry)
    assert (
        dt.timedelta(seconds=5) <= waiting.at - dt.datetime.now(dt.UTC) <= dt.timedelta(seconds=15)
    )
    assert sink.messages == []
    reach(world, letter_id, vocabulary.CLASSIFIED, channel="digital", reason=vocabulary.REACHABLE,
          operator="5569990012", data={"operator_name": "Brevlåda Syd AB"})  # fmt: skip
    reach(world, letter_id, vocabulary.DELIVERED)
    assert run_reply(world, letter_id) is None
    reply = sink.last()
    assert reply["Subject"] == "Ditt brev till 19121212-XXXX har levererats digitalt"
    assert reply["To"] == HANS
    assert (reply["In-Reply-To"], reply["References"]) == (message_id, message_id)
    text = reply.get_content()
    assert "levererats digitalt till mottagarens brevlåda hos Brevlåda Syd AB (556999-0012)" in text
    assert f"/brev/{letter_id}" in text
    for secret in ("Hemlig uppgift", "4711", "färdtjänst", SECRET_NAME, "1212121212"):
        assert secret not in text
        assert secret not in str(reply["Subject"])
    submission = submission_of(world, letter_id)
    assert (submission.state, submission.outcome) == ("replied", "delivered")
    assert run_reply(world, letter_id) is None  # replied once: nothing more
    assert len(sink.messages) == 1


def test_an_impossible_letter_is_told_with_its_reason(world, sink):
    letter_id = accepted_letter(world, hans_mail())
    reach(world, letter_id, vocabulary.PAPER, channel="paper", reason=vocabulary.NOT_REGISTERED)
    reach(world, letter_id, vocabulary.IMPOSSIBLE, reason=vocabulary.DECEASED)
    assert run_reply(world, letter_id) is None
    reply = sink.last()
    assert reply["Subject"] == "Ditt brev till 19121212-XXXX kan inte skickas"
    assert "avliden enligt folkbokföringen" in reply.get_content()


def test_a_letter_still_on_its_way_after_a_day_gets_a_reply_that_says_so(world, sink):
    letter_id = accepted_letter(world, hans_mail())
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1, minutes=1)
    assert run_reply(world, letter_id, at=later) is None
    assert sink.last()["Subject"] == "Ditt brev till 19121212-XXXX är ännu inte skickat"
    assert submission_of(world, letter_id).outcome == "under_way"


def test_a_mail_server_that_does_not_answer_is_tried_again_with_backoff(world, sink):
    letter_id = accepted_letter(world, hans_mail())
    reach(world, letter_id, vocabulary.CANCELLED, reason=vocabulary.CANCELLED)
    [closed_port] = free_loopback_ports(1)
    down = world["settings"].model_copy(update={"mail_out_url": f"smtp://127.0.0.1:{closed_port}"})
    retry = run_reply(world, letter_id, settings=down)
    assert isinstance(retry, Retry)
    assert "svarar inte" in retry.error
    submission = submission_of(world, letter_id)
    assert (submission.state, submission.attempts) == ("waiting", 1)
    assert run_reply(world, letter_id) is None
    assert sink.last()["Subject"] == "Ditt brev till 19121212-XXXX är makulerat"
