"""The embedded default's e-mail in: port, certificate from the demo CA, replies to the sink."""

import datetime as dt
from types import SimpleNamespace

from cryptography import x509

from utskick.entrypoints.embedded_mail import (
    EMBEDDED_MAIL_IN_PORT,
    ensure_mail_in_certificate,
    mail_settings_for,
)
from utskick.mm.devca import DevCertificateAuthority, write_pem_bundle
from utskick.settings import Settings


def context(pki, smtp_port=2626):
    return SimpleNamespace(
        pki=SimpleNamespace(directory=pki),
        settings=SimpleNamespace(smtp_host="127.0.0.1", smtp_port=smtp_port),
    )


def names(path):
    certificate = x509.load_pem_x509_certificate(path.read_bytes())
    extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return {str(name.value) for name in extension.value}


def test_the_embedded_default_listens_on_2587_with_a_demo_certificate_and_replies_to_the_sink(
    tmp_path,
):
    update = mail_settings_for(Settings(home=tmp_path), context(tmp_path / "pki"))
    assert update["mail_in_port"] == EMBEDDED_MAIL_IN_PORT
    assert update["mail_out_url"] == "smtp://127.0.0.1:2626"
    certificate = update["mail_in_tls_cert_file"]
    assert certificate == update["mail_in_tls_key_file"] == tmp_path / "pki" / "mail-in.pem"
    assert names(certificate) == {"localhost", "127.0.0.1"}
    assert b"PRIVATE KEY" in certificate.read_bytes()
    assert (certificate.stat().st_mode & 0o777) == 0o600


def test_what_the_user_set_is_kept(tmp_path):
    own = Settings(
        home=tmp_path,
        mail_in_port=2600,
        mail_in_tls_cert_file=tmp_path / "own.pem",
        mail_out_url="smtp://mail.exempelkommun.se:25",
    )
    assert mail_settings_for(own, context(tmp_path / "pki")) == {}


def test_the_certificate_is_reused_until_it_nears_its_end_or_misses_the_host(tmp_path):
    pki = tmp_path / "pki"
    first = ensure_mail_in_certificate(pki, "127.0.0.1")
    made = first.read_bytes()
    assert ensure_mail_in_certificate(pki, "127.0.0.1").read_bytes() == made
    assert ensure_mail_in_certificate(pki, "0.0.0.0").read_bytes() == made
    widened = ensure_mail_in_certificate(pki, "192.0.2.10")
    assert "192.0.2.10" in names(widened)
    authority = DevCertificateAuthority.load_or_create(pki)
    old = authority.issue_tls_server(["localhost", "127.0.0.1"], days=10)
    write_pem_bundle(first, old)
    renewed = x509.load_pem_x509_certificate(
        ensure_mail_in_certificate(pki, "127.0.0.1").read_bytes()
    )
    assert renewed.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=300)
