"""The notice sinks: a local SMTP server that keeps every e-mail, and a page that shows them.

The mailbox operators send e-mail notices over real SMTP to a configurable server; in the
embedded default that server is this sink, so a developer sees on one page (and a test reads
from `/api/mail`) what a citizen would have received. SMS notices are logged straight into
`sink_sms` by the operators; the page shows them too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import zoneinfo
from dataclasses import dataclass
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from utskick.reference.context import ReferenceContext
from utskick.reference.store import SinkMail, SinkSms

MAX_MAIL_BYTES = 1024 * 1024
PAGE_LIMIT = 200
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")


@dataclass(frozen=True)
class ReceivedMail:
    """An e-mail as the sink keeps it: decoded subject and text body."""

    mail_from: str
    recipients: tuple[str, ...]
    subject: str
    body: str


def read_mail(raw: bytes, mail_from: str, recipients: list[str]) -> ReceivedMail:
    """Decode a received message: RFC 2047 subject, the text part in its own charset.

    Args:
        raw: the message as the SMTP DATA command delivered it.
        mail_from: the envelope sender.
        recipients: the envelope recipients.

    Returns:
        The mail with its text body; an HTML-only mail gets its text with the tags removed.
    """
    message = email.message_from_bytes(raw, policy=email.policy.default)
    subject = str(message.get("subject", "")) if isinstance(message, EmailMessage) else ""
    body = ""
    if isinstance(message, EmailMessage):
        part = message.get_body(preferencelist=("plain", "html"))
        if isinstance(part, EmailMessage):
            body = _text_of(part)
            if part.get_content_subtype() == "html":
                body = _html_to_text(body)
    # SMTP carries CRLF line ends; the page and the API give plain newlines.
    body = body.replace("\r\n", "\n").strip()
    return ReceivedMail(mail_from, tuple(recipients), subject, body)


def _text_of(part: EmailMessage) -> str:
    try:
        return str(part.get_content())
    except (LookupError, UnicodeDecodeError):
        # An unknown or wrong charset: show what can be read rather than nothing.
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_to_text(html: str) -> str:
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return "".join(extractor.parts)


class _StoringHandler:
    """aiosmtpd handler: every accepted message becomes a `sink_mail` row."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    async def handle_DATA(  # noqa: N802 (the name aiosmtpd calls)
        self, _server: SMTP, _session: SmtpSession, envelope: Envelope
    ) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        mail = read_mail(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        # The database write blocks; keep it off the SMTP server's event loop.
        await asyncio.get_running_loop().run_in_executor(None, self._store, mail)
        return "250 Meddelandet mottaget"

    def _store(self, mail: ReceivedMail) -> None:
        with self._sessions.begin() as session:
            session.add(
                SinkMail(
                    mail_from=mail.mail_from,
                    recipients=", ".join(mail.recipients),
                    subject=mail.subject,
                    body=mail.body,
                )
            )


class SmtpSink:
    """The local SMTP server notices go to in the embedded default (its own thread)."""

    def __init__(self, context: ReferenceContext) -> None:
        settings = context.settings
        self.host = settings.host
        self.port = settings.smtp_port
        self._controller = Controller(
            _StoringHandler(context.sessions),
            hostname=settings.host,
            port=settings.smtp_port,
            data_size_limit=MAX_MAIL_BYTES,
            enable_SMTPUTF8=True,
        )
        self._running = False

    def start(self) -> None:
        """Listen; returns when the server accepts connections."""
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        """Stop listening (does nothing if not started)."""
        if self._running:
            self._controller.stop()
            self._running = False


# --- the page -------------------------------------------------------------------------------

_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="sv">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Aviseringar – referensmiljön</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 0 auto;
           padding: 0 1rem 2rem; line-height: 1.5; color: #1b1b1b; }
    .test-banner { background: #ffd84d; margin: 0 -1rem; padding: .5rem 1rem; text-align: center; }
    table { border-collapse: collapse; width: 100%; }
    caption { text-align: left; color: #444; }
    th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #ddd;
             vertical-align: top; }
    pre { white-space: pre-wrap; margin: 0; font-family: inherit; }
  </style>
</head>
<body>
  <p class="test-banner" role="note"><strong>TESTLÄGE</strong> – inga riktiga uppgifter</p>
  <h1>Aviseringar som skickats</h1>
  <p>E-post som brevlådeoperatörerna skickat till den lokala SMTP-servern ({{ smtp }}) och sms
  som loggats i stället för att skickas. Det senaste först. Maskinläsbart:
  <a href="/api/mail">/api/mail</a> och <a href="/api/sms">/api/sms</a>.</p>

  <h2>E-post ({{ mails|length }})</h2>
  {% if mails %}
  <table>
    <caption>Mottagen e-post</caption>
    <thead><tr><th scope="col">Tid</th><th scope="col">Till</th><th scope="col">Ämne</th>
      <th scope="col">Text</th></tr></thead>
    <tbody>
    {% for mail in mails %}
      <tr><td>{{ local(mail.received_at) }}</td><td>{{ mail.recipients }}</td>
        <td>{{ mail.subject }}</td><td><pre>{{ mail.body }}</pre></td></tr>
    {% endfor %}
    </tbody>
  </table>
  {% else %}<p>Ingen e-post ännu.</p>{% endif %}

  <h2>Sms ({{ messages|length }})</h2>
  {% if messages %}
  <table>
    <caption>Loggade sms</caption>
    <thead><tr><th scope="col">Tid</th><th scope="col">Till</th><th scope="col">Avsändare</th>
      <th scope="col">Text</th></tr></thead>
    <tbody>
    {% for sms in messages %}
      <tr><td>{{ local(sms.sent_at) }}</td><td>{{ sms.phone }}</td><td>{{ sms.sender }}</td>
        <td><pre>{{ sms.text }}</pre></td></tr>
    {% endfor %}
    </tbody>
  </table>
  {% else %}<p>Inga sms ännu.</p>{% endif %}
</body>
</html>
"""
)


def create_sink_page_app(context: ReferenceContext) -> FastAPI:
    """The page that lists the sinks' e-mail and SMS, newest first (HTTP).

    Routes: `/` (HTML), `/api/mail` and `/api/sms` (JSON; `?till=` keeps only messages to
    a recipient address or phone number).
    """
    app = FastAPI(title="Aviseringar", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = context.sessions
    smtp = f"{context.settings.host}:{context.settings.smtp_port}"

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        del request
        with sessions() as session:
            mails = _newest(session, SinkMail)
            messages = _newest(session, SinkSms)
        return HTMLResponse(
            _PAGE.render(smtp=smtp, mails=mails, messages=messages, local=_local_time),
            headers={"Cache-Control": "no-store"},
        )

    @app.get("/api/mail")
    def mail(till: str | None = None) -> JSONResponse:
        with sessions() as session:
            rows = _newest(session, SinkMail)
        return JSONResponse([_mail_json(row) for row in rows if _sent_to(row.recipients, till)])

    @app.get("/api/sms")
    def sms(till: str | None = None) -> JSONResponse:
        with sessions() as session:
            rows = _newest(session, SinkSms)
        return JSONResponse([_sms_json(row) for row in rows if _sent_to(row.phone, till)])

    return app


def _newest(session: Session, table: type[SinkMail | SinkSms]) -> list[Any]:
    return list(session.scalars(select(table).order_by(table.id.desc()).limit(PAGE_LIMIT)))


def _local_time(moment: dt.datetime) -> str:
    # SQLite hands timestamps back without a zone; they are stored in UTC.
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")


def _sent_to(recipients: str, wanted: str | None) -> bool:
    if not wanted:
        return True
    return wanted.strip().lower() in (r.strip().lower() for r in recipients.split(","))


def _mail_json(row: SinkMail) -> dict[str, Any]:
    return {
        "id": row.id,
        "received_at": row.received_at.isoformat(),
        "from": row.mail_from,
        "to": [r.strip() for r in row.recipients.split(",") if r.strip()],
        "subject": row.subject,
        "body": row.body,
    }


def _sms_json(row: SinkSms) -> dict[str, Any]:
    return {
        "id": row.id,
        "sent_at": row.sent_at.isoformat(),
        "sender": row.sender,
        "phone": row.phone,
        "text": row.text,
    }
