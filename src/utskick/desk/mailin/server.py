"""The SMTP submission service: officers send letters from Outlook or Thunderbird.

An aiosmtpd server on its own thread and event loop (`SubmissionServer.start`/`stop`).
Who may send:

- a person who logs in: STARTTLS first (`mail_in_tls_cert_file`/`_key_file`; without them
  no STARTTLS and no AUTH), then AUTH PLAIN or LOGIN with their Utskick username (or
  registered e-mail address) and password, an active officer or department administrator.
  A wrong login gets 535, three on one connection 421 and the connection closed; each
  failure waits a second, and the password check runs off the event loop;
- the municipality's own mail server, from an address in `mail_in_relay_hosts`, without
  AUTH: the sender is then the officer whose registered address is the envelope sender
  (checked at MAIL FROM, 550 if nobody's) and the e-mail's From (checked after DATA);
- anyone else: 530 at MAIL FROM.

Each e-mail goes to exactly one recipient at `mail_in_domain` (in any case; an IDN written as
it reads or in its ASCII form). A second RCPT, another domain
or a local part that is a wrong number gets 550 and marks the transaction, so that its DATA
is refused too (nothing is half-sent when a client goes on with the recipients it was
allowed). Over `mail_in_max_bytes` the client gets 552. After DATA, `intake.MailDesk`
decides in a worker thread. Answers are Swedish (UTF-8, as SMTPUTF8 allows).
"""

from __future__ import annotations

import asyncio
import binascii
import ipaddress
import logging
import ssl
from base64 import b64decode
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session, sessionmaker

from utskick.desk.mailin.intake import MailDesk, MailSender, ReceivedMail, smtp_reply
from utskick.desk.mailin.parsing import MailRefusedError, identity_in_address
from utskick.settings import Settings

logger = logging.getLogger(__name__)

FAILURE_DELAY_SECONDS = 1.0
MAX_LOGIN_FAILURES = 3
TEMPORARY_FAILURE = smtp_reply(
    451, "4.3.0", "tillfälligt fel i Utskick; e-brevet är inte mottaget, försök igen om en stund"
)
LOG_IN_FIRST = smtp_reply(
    530,
    "5.7.0",
    "logga in först: använd STARTTLS och sedan AUTH med ditt användarnamn och lösenord i Utskick",
)


class SubmissionEnvelope(Envelope):
    """An SMTP transaction, with who sends through a relay and why a recipient was refused."""

    def __init__(self) -> None:
        super().__init__()
        self.relayed_sender: MailSender | None = None
        self.refused_recipient: str | None = None


class SubmissionSmtp(SMTP):
    """aiosmtpd's SMTP with this service's login: after STARTTLS only, checked off the loop."""

    def __init__(self, handler: SubmissionHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.desk = handler.desk
        self._login_failures = 0

    def _create_envelope(self) -> SubmissionEnvelope:
        return SubmissionEnvelope()

    async def smtp_AUTH(self, arg: str) -> None:  # noqa: N802 (the name aiosmtpd calls)
        """AUTH PLAIN or LOGIN, only on an encrypted connection."""
        if await self.check_helo_needed("EHLO"):
            return
        session = cast("SmtpSession", self.session)
        refusal = self._auth_refusal(session, arg)
        if refusal is not None:
            await self.push(refusal)
            return
        words = arg.split()
        mechanism = words[0].upper()
        if mechanism == "PLAIN":
            credentials = await self._plain(words)
        else:
            credentials = await self._login(words)
        if credentials is None:
            return
        result = await self.loop.run_in_executor(None, self.desk.authenticate, *credentials)
        if isinstance(result, MailSender):
            session.authenticated = True
            # aiosmtpd types auth_data by its default (None); it holds whatever logs in.
            anything: Any = session
            anything.auth_data = result
            await self.push(smtp_reply(235, "2.7.0", f"inloggad som {result.username}"))
            return
        self._login_failures += 1
        await asyncio.sleep(FAILURE_DELAY_SECONDS)
        await self.push(smtp_reply(535, "5.7.8", result))
        if self._login_failures >= MAX_LOGIN_FAILURES:
            await self.push(
                smtp_reply(421, "4.7.0", "för många misslyckade inloggningar; försök igen senare")
            )
            if self.transport is not None:
                self.transport.close()

    def _auth_refusal(self, session: SmtpSession, arg: str) -> str | None:
        """Why AUTH cannot go on here, or None."""
        refusal = self._connection_refusal(session)
        if refusal is not None:
            return refusal
        words = arg.split()
        if not words or len(words) > 2:  # noqa: PLR2004 (mechanism and initial response)
            return smtp_reply(501, "5.5.4", "skriv AUTH PLAIN eller AUTH LOGIN")
        if words[0].upper() not in ("PLAIN", "LOGIN"):
            return smtp_reply(504, "5.5.4", "bara AUTH PLAIN och AUTH LOGIN finns")
        return None

    def _connection_refusal(self, session: SmtpSession) -> str | None:
        """Why this connection cannot log in now, or None."""
        if not session.extended_smtp:
            return smtp_reply(503, "5.5.1", "börja med EHLO")
        if self.tls_context is None:
            return smtp_reply(
                502, "5.7.0", "inloggning är avstängd: tjänsten har inget TLS-certifikat"
            )
        if session.ssl is None:
            return smtp_reply(
                538, "5.7.11", "logga in först efter STARTTLS, på en krypterad förbindelse"
            )
        if session.authenticated:
            return smtp_reply(503, "5.5.1", "du är redan inloggad")
        return None

    async def _plain(self, words: list[str]) -> tuple[str, str] | None:
        """`authzid NUL login NUL password`, given at once or after an empty challenge."""
        blob = await self._response(words[1] if len(words) > 1 else None, "")
        if blob is None:
            return None
        fields = blob.split("\0")
        if len(fields) != 3:  # noqa: PLR2004 (authorisation id, login, password)
            await self.push(smtp_reply(501, "5.5.2", "AUTH PLAIN har fel form"))
            return None
        return fields[1], fields[2]

    async def _login(self, words: list[str]) -> tuple[str, str] | None:
        """The login and the password, each after its challenge."""
        login = await self._response(words[1] if len(words) > 1 else None, "Username:")
        if login is None:
            return None
        password = await self._response(None, "Password:")
        if password is None:
            return None
        return login, password

    async def _response(self, initial: str | None, challenge: str) -> str | None:
        """The client's base64 answer decoded (None when refused; the answer is pushed)."""
        if initial is None:
            answer = await self.challenge_auth(challenge)
            if answer is MISSING:
                return None  # aiosmtpd answered: aborted, or not base64
            raw = answer
        else:
            try:
                raw = b64decode(initial.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                await self.push(smtp_reply(501, "5.5.2", "svaret är inte base64"))
                return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            await self.push(smtp_reply(501, "5.5.2", "användarnamn och lösenord ska vara UTF-8"))
            return None


class SubmissionHandler:
    """aiosmtpd's hooks: who sends (MAIL), to whom (RCPT), and what (DATA)."""

    def __init__(self, desk: MailDesk, settings: Settings) -> None:
        self.desk = desk
        self.domain = settings.mail_in_domain.strip().lower()
        self._domain_key = domain_key(self.domain)
        self.relay_networks = [
            ipaddress.ip_network(host.strip(), strict=False)
            for host in settings.mail_in_relay_hosts
        ]

    def is_relay(self, peer: object) -> bool:
        """Whether the connection comes from one of the trusted relay hosts."""
        if not isinstance(peer, tuple) or not peer:
            return False
        try:
            address = ipaddress.ip_address(str(peer[0]))
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.relay_networks)

    async def handle_MAIL(  # noqa: N802 (the name aiosmtpd calls)
        self,
        _server: SMTP,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        """Accept the sender: logged in, or an officer's address from a relay host."""
        if not session.authenticated:
            if not self.is_relay(session.peer):
                return LOG_IN_FIRST
            loop = asyncio.get_running_loop()
            sender = await loop.run_in_executor(None, self.desk.sender_by_address, address)
            if sender is None:
                return smtp_reply(
                    550,
                    "5.7.1",
                    f"avsändaren {address} är ingen handläggare med registrerad e-postadress i "
                    "Utskick; be en administratör registrera adressen (utskick users email)",
                )
            if isinstance(envelope, SubmissionEnvelope):
                envelope.relayed_sender = sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(  # noqa: N802 (the name aiosmtpd calls)
        self,
        _server: SMTP,
        _session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        """Accept one recipient at our domain whose number, if any, is valid."""
        refusal = self._recipient_refusal(envelope, address)
        if refusal is not None:
            code, reason = refusal
            if isinstance(envelope, SubmissionEnvelope) and envelope.refused_recipient is None:
                envelope.refused_recipient = reason
            return smtp_reply(550, code, reason)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def _recipient_refusal(self, envelope: Envelope, address: str) -> tuple[str, str] | None:
        if envelope.rcpt_tos:
            return (
                "5.5.3",
                (
                    "ett brev går till en enda mottagare; skicka ett e-brev per mottagare (det "
                    "här e-brevet skickas inte till någon)"
                ),
            )
        if domain_key(address.rpartition("@")[2]) != self._domain_key:
            return (
                "5.1.2",
                (
                    f"Utskick tar bara emot brev till adresser på {self.domain}, till exempel "
                    f"191212121212@{self.domain}; skicka kopior till andra separat"
                ),
            )
        try:
            identity_in_address(address)
        except MailRefusedError as error:
            return "5.1.1", error.reason
        return None

    async def handle_DATA(  # noqa: N802 (the name aiosmtpd calls)
        self, _server: SMTP, session: SmtpSession, envelope: Envelope
    ) -> str:
        """Take the e-mail in (a worker thread): the letter stored, or refused with a reply."""
        relayed = envelope.relayed_sender if isinstance(envelope, SubmissionEnvelope) else None
        sender = session.auth_data if session.authenticated else relayed
        if not isinstance(sender, MailSender) or not envelope.rcpt_tos:
            return LOG_IN_FIRST
        refused = envelope.refused_recipient if isinstance(envelope, SubmissionEnvelope) else None
        mail = ReceivedMail(
            raw=envelope.original_content or b"",
            sender=sender,
            envelope_from=envelope.mail_from or "",
            recipient=envelope.rcpt_tos[0],
            relayed=not session.authenticated,
            refused_recipient=refused,
        )
        try:
            return await asyncio.get_running_loop().run_in_executor(None, self.desk.take, mail)
        except Exception:
            logger.exception("an e-mail from %s could not be taken in", sender.username)
            return TEMPORARY_FAILURE

    async def handle_exception(self, error: Exception) -> str:
        """Any other error in a session: logged, and a temporary failure to the client."""
        logger.error("the SMTP submission service failed in a session", exc_info=error)
        return TEMPORARY_FAILURE


def domain_key(domain: str) -> str:
    """A domain as compared: lower case, an IDN in its ASCII form (`håbo.se`: `xn--hbo-ula.se`).

    A client writes an IDN either way (SMTPUTF8 as it reads, others in ASCII); both are the
    same domain. A name that is no valid IDN is compared as written.
    """
    lowered = domain.strip().rstrip(".").lower()
    try:
        return lowered.encode("idna").decode("ascii")
    except UnicodeError:
        return lowered


class _Controller(Controller):
    """aiosmtpd's threaded controller, making this service's SMTP protocol."""

    def factory(self) -> SMTP:
        return SubmissionSmtp(cast("SubmissionHandler", self.handler), **self.SMTP_kwargs)


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The STARTTLS context from the certificate and key in settings (None without one).

    Raises:
        OSError, ssl.SSLError: the files cannot be read or do not match.
    """
    if settings.mail_in_tls_cert_file is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    key_file = settings.mail_in_tls_key_file
    context.load_cert_chain(
        str(settings.mail_in_tls_cert_file), str(key_file) if key_file is not None else None
    )
    return context


class SubmissionServer:
    """The SMTP submission service on `mail_in_host:mail_in_port`, in a thread of its own."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        desk: MailDesk | None = None,
    ) -> None:
        if settings.mail_in_port is None:
            raise ValueError("UTSKICK_MAIL_IN_PORT är inte satt: e-post in är avstängd")
        self.host = settings.mail_in_host
        self.port = settings.mail_in_port
        self.domain = settings.mail_in_domain
        self.tls = settings.mail_in_tls_cert_file is not None
        handler = SubmissionHandler(desk or MailDesk(sessions, settings), settings)
        self._controller = _Controller(
            handler,
            hostname=self.host,
            port=self.port,
            server_hostname=settings.mail_in_domain,
            data_size_limit=settings.mail_in_max_bytes,
            tls_context=tls_context(settings),
            auth_require_tls=True,
            enable_SMTPUTF8=True,
        )
        self._running = False

    @property
    def url(self) -> str:
        """Where it listens, as `smtp://host:port`."""
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        """Listen; returns when the server accepts connections.

        Raises:
            OSError: the port is taken or the address cannot be used.
        """
        try:
            self._controller.start()
        except BaseException:
            # The controller keeps its finished thread; a new start needs it gone.
            self._controller._thread = None  # noqa: SLF001
            raise
        self._running = True
        logger.info("SMTP submission service listening on %s", self.url)

    def stop(self) -> None:
        """Stop listening (does nothing if not started)."""
        if self._running:
            self._controller.stop()
            self._running = False
