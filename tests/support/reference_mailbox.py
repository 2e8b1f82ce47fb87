"""Helpers for the citizen mailbox tests: letters over mTLS, UI sessions."""

import datetime as dt
import re
import uuid
from html import unescape

import httpx2

from support.world import EXEMPELKOMMUN
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.mm.delivery import Attachment, Delivery, SecureMessage, SupportInfo
from utskick.mm.keys import load_signing_identity
from utskick.mm.signing import sign_and_seal
from utskick.mm.soap import SOAP_HEADERS, deliver_secure_request, parse_deliver_secure_response

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def deliver_letter(
    context,
    client,
    recipient_id,
    *,
    subject,
    body="Hej!\n\nDitt beslut finns i bilagan.",
    content_type="text/plain",
    pdf_name=None,
    operator_key="syd",
):
    """Sign, seal and deliver one letter from Exempelkommun over mutual TLS; its message Id."""
    identity = load_signing_identity(context.pki.key_and_certificate(EXEMPELKOMMUN))
    attachments = (Attachment(pdf_name, minimal_pdf(2000)),) if pdf_name else ()
    message_id = uuid.uuid4().hex
    delivery = Delivery(
        sender_id="16" + EXEMPELKOMMUN,
        sender_name="Exempelkommun",
        recipient_id=recipient_id,
        messages=(
            SecureMessage(
                id=message_id,
                subject=subject,
                support_info=SupportInfo(
                    "Frågor om beslutet besvaras av kommunens kontaktcenter.",
                    url="https://exempelkommun.test/kontakt",
                    phone_number="0123-45 67 00",
                ),
                body=body.encode(),
                body_content_type=content_type,
                attachments=attachments,
            ),
        ),
    )
    sealed = sign_and_seal(delivery, identity, identity, received_on=dt.datetime.now(dt.UTC).date())
    response = client.post(
        context.endpoints.operators[operator_key].service_url,
        content=deliver_secure_request(sealed),
        headers=SOAP_HEADERS,
    )
    assert response.status_code == 200, response.text
    result = parse_deliver_secure_response(response.content)
    assert [s.delivered for s in result.statuses] == [True], result
    return message_id


def visible_text(html):
    """The page's text as a reader sees it: no tags, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", html)
    return " ".join(unescape(without_tags).split()).replace("( ", "(").replace(" )", ")")


def csrf_token(html):
    match = _CSRF.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


class MailboxVisitor:
    """A citizen using one operator's mailbox over HTTP, as a browser without scripts would."""

    def __init__(self, base_url):
        self.http = httpx2.Client(base_url=base_url, follow_redirects=True, timeout=30)
        self.token = None

    def close(self):
        self.http.close()

    def get(self, path):
        response = self.http.get(path)
        if "csrf_token" in response.text:
            self.token = csrf_token(response.text)
        return response

    def post(self, path, data=None, *, token=True, follow=True):
        form = dict(data or {})
        if token:
            if self.token is None:
                self.get("/logga-in")
            form["csrf_token"] = self.token
        response = self.http.post(path, data=form, follow_redirects=follow)
        if "csrf_token" in response.text:
            self.token = csrf_token(response.text)
        return response

    def log_in(self, person_id):
        self.get("/logga-in")
        response = self.post("/logga-in", {"personnummer": person_id})
        assert response.status_code == 200, response.text
        return response

    def register(self):
        response = self.post("/registrera", {"villkor": "ja"})
        assert response.status_code == 200, response.text
        assert str(response.url).endswith("/inkorg"), response.text
        return response
