"""The SMTP sink keeps what the operators mail; its page and API show mail and SMS, newest first."""

import dataclasses
import smtplib
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient

from support.world import reference_settings
from utskick.reference.context import build_context
from utskick.reference.runner import free_loopback_ports as free_ports
from utskick.reference.sink import SmtpSink, create_sink_page_app, read_mail
from utskick.reference.store import SinkSms


@pytest.fixture(scope="module")
def sink_context(tmp_path_factory):
    return build_context(reference_settings(tmp_path_factory.mktemp("sink")))


@pytest.fixture(scope="module")
def smtp_sink(sink_context):
    sink = SmtpSink(sink_context)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def page(sink_context):
    with TestClient(create_sink_page_app(sink_context)) as client:
        yield client


def send(sink, *, to, subject, text=None, html=None):
    message = EmailMessage()
    message["From"] = "no-reply@brevlada.test"
    message["To"] = to
    message["Subject"] = subject
    if text is not None:
        message.set_content(text)
    if html is not None:
        if text is None:
            message.set_content(html, subtype="html")
        else:
            message.add_alternative(html, subtype="html")
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
        smtp.send_message(message)


class TestSmtpSink:
    def test_a_mail_with_swedish_subject_and_body_is_kept_decoded(self, smtp_sink, page):
        send(
            smtp_sink,
            to="tolvan@exempel.test",
            subject="Nytt brev från Exempelkommun – läs nu",
            text="Hej Tolvan!\nDu har fått ett brev i din brevlåda hos Brevlåda Syd AB.\n" * 3,
        )
        [mail] = page.get("/api/mail", params={"till": "tolvan@exempel.test"}).json()
        assert mail["subject"] == "Nytt brev från Exempelkommun – läs nu"
        assert mail["to"] == ["tolvan@exempel.test"]
        assert mail["from"] == "no-reply@brevlada.test"
        assert mail["body"].startswith("Hej Tolvan!\nDu har fått ett brev i din brevlåda")

    def test_the_text_part_is_preferred_and_an_html_only_mail_loses_its_tags(self, smtp_sink, page):
        send(smtp_sink, to="both@exempel.test", subject="Båda", text="Texten", html="<p>Html</p>")
        send(smtp_sink, to="html@exempel.test", subject="Html", html="<p>Hej <b>Anna</b></p>")
        [both] = page.get("/api/mail", params={"till": "both@exempel.test"}).json()
        [html] = page.get("/api/mail", params={"till": "html@exempel.test"}).json()
        assert both["body"] == "Texten"
        assert html["body"] == "Hej Anna"

    def test_the_page_lists_mail_and_sms_newest_first_and_escaped(
        self, sink_context, smtp_sink, page
    ):
        send(smtp_sink, to="first@exempel.test", subject="Först", text="ett")
        send(smtp_sink, to="second@exempel.test", subject="<b>Sedan</b>", text="två")
        with sink_context.sessions.begin() as session:
            session.add(SinkSms(sender="BrevladaSyd", phone="0701234512", text="Nytt brev"))
        html = page.get("/").text
        assert "<h1>Aviseringar som skickats</h1>" in html
        assert html.index("&lt;b&gt;Sedan&lt;/b&gt;") < html.index("Först")
        assert "<b>Sedan</b>" not in html
        assert "0701234512" in html
        assert "Nytt brev" in html
        [sms] = page.get("/api/sms", params={"till": "0701234512"}).json()
        assert (sms["sender"], sms["text"]) == ("BrevladaSyd", "Nytt brev")
        subjects = [mail["subject"] for mail in page.get("/api/mail").json()]
        assert subjects.index("<b>Sedan</b>") < subjects.index("Först")

    def test_a_stopped_sink_no_longer_listens_and_stopping_again_is_harmless(self, sink_context):
        [port] = free_ports(1)
        settings = sink_context.settings.model_copy(update={"smtp_port": port})
        sink = SmtpSink(dataclasses.replace(sink_context, settings=settings))
        sink.stop()  # never started
        sink.start()
        with smtplib.SMTP(sink.host, port, timeout=10) as smtp:
            assert smtp.noop()[0] == 250
        sink.stop()
        sink.stop()
        with pytest.raises(ConnectionRefusedError):
            smtplib.SMTP(sink.host, port, timeout=10)


class TestReadMail:
    def test_an_encoded_word_subject_and_quoted_printable_body_are_decoded(self):
        raw = (
            b"From: a@b.test\r\nTo: c@d.test\r\n"
            b"Subject: =?utf-8?q?Ditt_beslut_=C3=A4r_klart?=\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            b"L=C3=A4s det i brevl=C3=A5dan.\r\n"
        )
        mail = read_mail(raw, "a@b.test", ["c@d.test"])
        assert mail.subject == "Ditt beslut är klart"
        assert mail.body == "Läs det i brevlådan."

    def test_a_latin1_body_is_read_in_its_own_charset(self):
        raw = (
            b"Subject: x\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nH\xe4lsningar\r\n"
        )
        assert read_mail(raw, "", []).body == "Hälsningar"
