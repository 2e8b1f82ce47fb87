"""A letter by e-mail, end to end: Outlook's e-mail over SMTP to `utskick serve`, into Tolvan's
mailbox, and the outcome back to the officer by e-mail.

`utskick serve` runs as `make run` starts it (the embedded reference, free ports, e-mail in on a
free port too). Hans logs in over STARTTLS with the demo CA and his demo password and e-mails a
decision to 191212121212@brev.exempelkommun.se. The workers classify and deliver it to Brevlåda
Syd, whose notice to Tolvan lands in the reference's mail sink; the `mail_reply` job then sends
Hans the outcome, to the same sink. Neither mail carries the letter's text.
"""

import smtplib
import ssl
import time

import httpx2
import pytest

from functional.browser.embedded_server import start_embedded_server, stop_embedded_server
from support.officer_mail import PDF, new_message_id, outlook_mail
from utskick.reference.runner import free_loopback_ports

DELIVERY_SECONDS = 90
HANS = "handlaggare@exempelkommun.se"
TOLVAN_NOTICES = "tolvan@exempel.test"
SECRET = "Beviljad kod 90210 för färdtjänst"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    [mail_port] = free_loopback_ports(1)
    home = tmp_path_factory.mktemp("mail-e2e")
    process, server = start_embedded_server(home, {"UTSKICK_MAIL_IN_PORT": str(mail_port)})
    yield server, mail_port
    stop_embedded_server(process)


def mails_to(server, address):
    sink = f"http://127.0.0.1:{server.ports['sink_page_port']}/api/mail"
    return httpx2.get(sink, params={"till": address}, timeout=10).json()


def wait_for_mail(server, address, subject_start):
    deadline = time.monotonic() + DELIVERY_SECONDS
    while time.monotonic() < deadline:
        found = [m for m in mails_to(server, address) if m["subject"].startswith(subject_start)]
        if found:
            return found[0]
        time.sleep(0.5)
    pytest.fail(f"no mail to {address} starting {subject_start!r}: {mails_to(server, address)}")


def test_serve_lists_where_email_in_listens(served):
    server, mail_port = served
    output = " ".join("".join(server.output).split())
    assert f"smtp://127.0.0.1:{mail_port}" in output
    assert "brev.exempelkommun.se" in output


def test_an_emailed_letter_reaches_tolvan_and_hans_gets_the_outcome(served):
    server, mail_port = served
    notices_before = len(mails_to(server, TOLVAN_NOTICES))
    raw = outlook_mail(
        sender=HANS,
        to="191212121212@brev.exempelkommun.se",
        subject="Beslut om färdtjänst",
        text=f"Hej Tolvan!\n\n{SECRET}.\n\nHans Handläggare",
        attachments=(("Beslut färdtjänst.pdf", PDF, "application/pdf"),),
        message_id=new_message_id(),
    )
    client = smtplib.SMTP("localhost", mail_port, timeout=30)
    client.starttls(context=ssl.create_default_context(cafile=str(server.home / "pki/ca.pem")))
    client.login("handlaggare", server.passwords["handlaggare"])
    assert client.sendmail(HANS, ["191212121212@brev.exempelkommun.se"], raw) == {}
    client.quit()

    reply = wait_for_mail(server, HANS, "Ditt brev till 19121212-XXXX")
    assert reply["subject"] == "Ditt brev till 19121212-XXXX har levererats digitalt"
    assert "Brevlåda Syd AB" in reply["body"]
    assert SECRET not in reply["body"]
    assert "färdtjänst" not in reply["body"] + reply["subject"]
    # The operator stored it and told Tolvan, as it does only for a verified delivery.
    assert len(mails_to(server, TOLVAN_NOTICES)) > notices_before
