"""E-mails built to hurt and addresses written oddly: MIME nested thousands deep or split into
ten thousand parts is refused at once with the reason, not crashed on nor chewed for minutes;
an IDN domain, however the client writes it, is our domain; what held is kept as it is."""

import time

import pytest
from aiosmtpd.smtp import Envelope

from support.own_loop import run_in_own_loop
from utskick.desk.mailin.intake import MailDesk
from utskick.desk.mailin.parsing import (
    MailRefusedError,
    identity_in_address,
    letter_from_mail,
    read_message,
)
from utskick.desk.mailin.server import SubmissionHandler
from utskick.settings import Settings

DOMAIN = "brev.exempelkommun.se"
TO = f"191212121212@{DOMAIN}"
HEAD = f"From: hans@exempelkommun.se\r\nTo: {TO}\r\nSubject: Beslut\r\nMIME-Version: 1.0\r\n"
# Far more than a part of this size needs: a test that waits this long has found the bomb.
SECONDS = 2.0


def nested(depth):
    """An e-mail whose text lies `depth` multiparts deep."""
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{level}"\r\n\r\n--b{level}\r\n'
        for level in range(depth)
    )
    closing = "".join(f"--b{level}--\r\n" for level in reversed(range(depth)))
    return (HEAD + opening + "Content-Type: text/plain\r\n\r\nHej\r\n" + closing).encode()


def many_parts(count):
    part = "--X\r\nContent-Type: text/plain\r\n\r\nHej\r\n"
    return (
        HEAD + 'Content-Type: multipart/mixed; boundary="X"\r\n\r\n' + part * count + "--X--\r\n"
    ).encode()


def refusal(raw):
    started = time.monotonic()
    with pytest.raises(MailRefusedError) as refused:
        letter_from_mail(read_message(raw), TO)
    return refused.value.reason, time.monotonic() - started


class TestMimeBombs:
    def test_mime_nested_thousands_deep_is_refused_not_crashed_on(self):
        reason, _ = refusal(nested(3000))

        assert "för många delar" in reason or "för djupt" in reason

    def test_ten_thousand_parts_are_refused_at_once(self):
        reason, seconds = refusal(many_parts(10_000))

        assert "för många delar" in reason
        assert seconds < SECONDS

    def test_nesting_deeper_than_any_mail_program_writes_is_refused(self):
        reason, _ = refusal(nested(40))

        assert "för djupt" in reason

    def test_ordinary_nesting_and_a_few_dozen_parts_are_read(self):
        assert letter_from_mail(read_message(nested(6)), TO).body == "Hej"
        assert letter_from_mail(read_message(many_parts(40)), TO).body.count("Hej") == 40


class TestLocalParts:
    @pytest.mark.parametrize(
        ("local_part", "typed"),
        [
            ("191212121212+beslut", "191212121212"),
            ("19121212-1212+Socialtjansten", "19121212-1212"),
            ("121212+1212", "121212+1212"),  # a person of a hundred: the sign, not a tag
            ("121212+1212+kopia", "121212+1212"),
        ],
    )
    def test_a_tag_after_the_number_is_left_out(self, local_part, typed):
        assert identity_in_address(f"{local_part}@{DOMAIN}") == typed

    def test_a_word_with_a_tag_means_the_number_is_in_the_subject(self):
        assert identity_in_address(f"brev+beslut@{DOMAIN}") is None


def _handler(domain):
    settings = Settings(embedded_reference=False, mail_in_domain=domain)
    return SubmissionHandler(MailDesk(sessions=None, settings=settings), settings)


def _rcpt(handler, address):
    return run_in_own_loop(handler.handle_RCPT(None, None, Envelope(), address, []))


class TestRecipientDomain:
    @pytest.mark.parametrize(
        ("configured", "written"),
        [
            ("brev.håbo.se", "191212121212@brev.xn--hbo-ula.se"),
            ("brev.xn--hbo-ula.se", "191212121212@brev.håbo.se"),
            ("brev.håbo.se", "191212121212@BREV.HÅBO.SE"),
            ("brev.exempelkommun.se", "191212121212@Brev.ExempelKommun.SE"),
        ],
    )
    def test_the_domain_is_ours_in_any_case_and_either_form_of_an_idn(self, configured, written):
        assert _rcpt(_handler(configured), written).startswith("250")

    def test_another_domain_is_still_refused(self):
        answer = _rcpt(_handler("brev.håbo.se"), "191212121212@brev.xn--hbo-rla.se")

        assert answer.startswith("550")
