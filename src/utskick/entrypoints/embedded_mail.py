"""The embedded default's letters by e-mail: the SMTP submission service and its settings.

`utskick serve` starts the SMTP submission service whenever `mail_in_port` is set. With the
embedded reference on, what the user has not set is filled in: port 2587, a STARTTLS
certificate for localhost and 127.0.0.1 from the demo CA (`<home>/pki/mail-in.pem`, made when
missing, about to expire or not for the host listened on), and the replies sent to the
reference's mail sink, where the notices page shows them.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from sqlalchemy import Engine

from utskick.db.engine import session_factory
from utskick.desk.mailin.server import SubmissionServer
from utskick.mm.devca import DevCertificateAuthority, write_pem_bundle
from utskick.reference.context import ReferenceContext
from utskick.settings import Settings

# The embedded default's SMTP submission service: port, and its certificate in the demo PKI.
EMBEDDED_MAIL_IN_PORT = 2587
MAIL_IN_CERTIFICATE_FILE = "mail-in.pem"
MAIL_IN_HOSTS = ["localhost", "127.0.0.1"]
ANY_ADDRESS = ("0.0.0.0", "::")  # noqa: S104 (listening everywhere: no name of its own)
# A certificate this close to its end is made anew at the next start.
CERTIFICATE_MARGIN = dt.timedelta(days=30)


def mail_settings_for(settings: Settings, context: ReferenceContext) -> dict[str, object]:
    """The embedded default's e-mail in and out, for what the user has not set.

    E-mail in on port 2587 with a STARTTLS certificate from the demo CA; the replies to the
    reference's mail sink (the notices page shows them).
    """
    update: dict[str, object] = {}
    if "mail_in_port" not in settings.model_fields_set:
        update["mail_in_port"] = EMBEDDED_MAIL_IN_PORT
    if settings.mail_in_tls_cert_file is None:
        certificate = ensure_mail_in_certificate(context.pki.directory, settings.mail_in_host)
        update["mail_in_tls_cert_file"] = certificate
        update["mail_in_tls_key_file"] = certificate
    if settings.mail_out_url is None:
        reference = context.settings
        update["mail_out_url"] = f"smtp://{reference.smtp_host}:{reference.smtp_port}"
    return update


def ensure_mail_in_certificate(pki_directory: Path, host: str) -> Path:
    """The demo's STARTTLS certificate (key and chain in one PEM), made from the demo CA.

    Made when missing, about to expire, or not for the host e-mail in listens on; reused
    otherwise, so that a client that trusted it once keeps trusting it.
    """
    path = pki_directory / MAIL_IN_CERTIFICATE_FILE
    hosts = [*MAIL_IN_HOSTS, *([] if host in (*MAIL_IN_HOSTS, *ANY_ADDRESS) else [host])]
    if path.exists():
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        named = {str(name.value) for name in names.value}
        fresh = certificate.not_valid_after_utc - dt.datetime.now(dt.UTC) > CERTIFICATE_MARGIN
        if fresh and set(hosts) <= named:
            return path
    authority = DevCertificateAuthority.load_or_create(pki_directory)
    write_pem_bundle(path, authority.issue_tls_server(hosts))
    return path


def mail_in_server(settings: Settings, engine: Engine) -> SubmissionServer | None:
    """The SMTP submission service when `mail_in_port` is set (not started yet).

    Raises:
        RuntimeError: (Swedish) its TLS certificate or key cannot be read.
    """
    if settings.mail_in_port is None:
        return None
    try:
        return SubmissionServer(settings, session_factory(engine))
    except (OSError, ssl.SSLError) as error:
        raise RuntimeError(
            f"e-post in kan inte starta: TLS-certifikatet {settings.mail_in_tls_cert_file} "
            f"eller dess nyckel går inte att läsa ({error}); rätta UTSKICK_MAIL_IN_TLS_CERT_FILE "
            "och UTSKICK_MAIL_IN_TLS_KEY_FILE"
        ) from None
