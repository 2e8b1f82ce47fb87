"""Sending the replies to officers: one e-mail at a time through the mail server in settings.

`UTSKICK_MAIL_OUT_URL` names the server: `smtp://[user@]host:port` (STARTTLS whenever the
server offers it; port 25 if none is given) or `smtps://[user@]host:port` (TLS from the first
byte; port 465). With a user, Utskick logs in with `UTSKICK_MAIL_OUT_PASSWORD`. The server's
certificate is checked against the system's trust store and `UTSKICK_TLS_CA_FILE` (the demo
CA in the embedded default). No retries here: the caller decides (the reply job retries with
backoff; a refusal during SMTP answers 554 instead).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlsplit

from utskick.settings import Settings

SMTP_PORT = 25
SMTPS_PORT = 465
TIMEOUT_SECONDS = 30.0
FIRST_PERMANENT_CODE = 500


class MailOutError(RuntimeError):
    """The reply could not be handed to the mail server; `permanent`: trying again won't help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


@dataclass(frozen=True)
class MailOut:
    """The mail server replies go through, as `mail_out_url` names it."""

    host: str
    port: int
    implicit_tls: bool
    user: str | None
    password: str | None
    sender: str
    ca_file: Path | None = None
    timeout: float = TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> MailOut | None:
        """The server of `settings.mail_out_url`; None when no replies are to be sent.

        Raises:
            ValueError: (Swedish) the URL is not of the form smtp(s)://[user@]host[:port].
        """
        url = settings.mail_out_url
        if not url:
            return None
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname or port == -1:
            raise ValueError(
                f"UTSKICK_MAIL_OUT_URL ska se ut som smtp://[användare@]värd:port eller "
                f"smtps://…, fick {url!r}"
            )
        secret = settings.mail_out_password
        return cls(
            host=parts.hostname,
            port=port or (SMTPS_PORT if parts.scheme == "smtps" else SMTP_PORT),
            implicit_tls=parts.scheme == "smtps",
            user=unquote(parts.username) if parts.username else None,
            password=secret.get_secret_value() if secret is not None else None,
            sender=settings.mail_out_from,
            ca_file=settings.tls_ca_file,
        )

    def _tls(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.ca_file is not None:
            context.load_verify_locations(cafile=str(self.ca_file))
        return context

    def send(self, message: EmailMessage, recipient: str) -> None:
        """Hand one e-mail to the server for `recipient` (envelope sender `mail_out_from`).

        Raises:
            MailOutError: (Swedish) the server could not be reached, refused the login, or
                refused the e-mail; `permanent` when it refused with a 5xx answer.
        """
        where = f"{self.host}:{self.port}"
        try:
            client = self._connect()
            try:
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(message, from_addr=self.sender, to_addrs=[recipient])
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except smtplib.SMTPNotSupportedError as error:
            raise MailOutError(
                f"e-postservern {where} erbjuder ingen inloggning (AUTH) för användaren i "
                "UTSKICK_MAIL_OUT_URL; ta bort användaren ur adressen eller använd en server "
                "som tar emot inloggning"
            ) from error
        except smtplib.SMTPRecipientsRefused as error:
            raise MailOutError(
                f"e-postservern {where} tar inte emot e-post till {recipient}", permanent=True
            ) from error
        except smtplib.SMTPResponseException as error:
            raise MailOutError(
                f"e-postservern {where} svarade {error.smtp_code}",
                permanent=error.smtp_code >= FIRST_PERMANENT_CODE
                and not isinstance(error, smtplib.SMTPAuthenticationError),
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            raise MailOutError(
                f"e-postservern {where} svarar inte ({type(error).__name__})"
            ) from error

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls())
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            client.ehlo()
            if client.has_extn("starttls"):
                client.starttls(context=self._tls())
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client
