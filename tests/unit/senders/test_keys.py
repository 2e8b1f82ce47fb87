"""The organisations' keys: a signing identity from the sender's key file, loaded once, and
the mutual-TLS context of the intermediary. Every way a key cannot be used says in Swedish
what to fix."""

import ssl

import pytest

from support.tls_handshake import presented_certificate
from support.world import EXEMPELKOMMUN, NOW
from utskick.mm.devca import write_certificate, write_pem_bundle, write_pkcs12
from utskick.mm.keys import organisation_number_of
from utskick.senders.keys import SenderKeyError, client_tls_context, signing_identity
from utskick.senders.models import SenderOrganisation

PASSPHRASE_ENV = "UTSKICK_TEST_EXEMPELKOMMUN_KEY"


@pytest.fixture(scope="module")
def issued(authority):
    return authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")


def sender(key_path=None, passphrase_env=None):
    return SenderOrganisation(
        organisation_number=EXEMPELKOMMUN,
        name="Exempelkommun",
        key_path=str(key_path) if key_path else None,
        passphrase_env=passphrase_env,
        created_at=NOW,
    )


def test_a_pem_key_file_is_the_organisations_signing_identity(issued, tmp_path):
    path = tmp_path / "ek.pem"
    write_pem_bundle(path, issued)

    identity = signing_identity(sender(path))

    assert organisation_number_of(identity.certificate) == EXEMPELKOMMUN


def test_a_key_is_loaded_once_and_kept_while_its_file_is_unchanged(issued, tmp_path):
    path = tmp_path / "ek.pem"
    write_pem_bundle(path, issued)
    first = signing_identity(sender(path))

    assert signing_identity(sender(path)) is first


def test_a_replaced_key_file_is_read_again_without_a_restart(issued, authority, tmp_path):
    path = tmp_path / "ek.pem"
    write_pem_bundle(path, issued)
    first = signing_identity(sender(path))
    renewed = authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")

    write_pem_bundle(path, renewed)

    assert signing_identity(sender(path)).certificate == renewed.certificate
    assert first.certificate == issued.certificate


def test_a_key_file_replaced_by_one_that_cannot_be_used_is_refused(issued, tmp_path):
    path = tmp_path / "ek.pem"
    write_pem_bundle(path, issued)
    signing_identity(sender(path))

    path.write_text("ersatt efter start")

    with pytest.raises(SenderKeyError, match=r"nyckeln för Exempelkommun \(2021004748\) kan inte"):
        signing_identity(sender(path))


def test_a_protected_key_file_opens_with_the_passphrase_in_the_named_variable(
    issued, tmp_path, monkeypatch
):
    path = tmp_path / "ek.p12"
    write_pkcs12(path, issued, b"hemlig", "Exempelkommun")
    monkeypatch.setenv(PASSPHRASE_ENV, "hemlig")

    identity = signing_identity(sender(path, PASSPHRASE_ENV))

    assert organisation_number_of(identity.certificate) == EXEMPELKOMMUN


def test_a_sender_without_a_key_file_is_told_to_give_one():
    with pytest.raises(SenderKeyError) as refused:
        signing_identity(sender())

    assert str(refused.value).startswith(
        "avsändaren Exempelkommun (2021004748) har ingen nyckelfil; ange organisationens nyckel"
    )


def test_a_key_file_that_is_not_there_is_named(tmp_path):
    missing = tmp_path / "borta.pem"

    with pytest.raises(SenderKeyError, match=f"nyckelfilen {missing} för Exempelkommun"):
        signing_identity(sender(missing))


def test_a_passphrase_variable_that_is_not_set_is_named(issued, tmp_path, monkeypatch):
    path = tmp_path / "ek.p12"
    write_pkcs12(path, issued, b"hemlig", "Exempelkommun")
    monkeypatch.delenv(PASSPHRASE_ENV, raising=False)

    with pytest.raises(SenderKeyError, match=f"miljövariabeln {PASSPHRASE_ENV} med lösenfrasen"):
        signing_identity(sender(path, PASSPHRASE_ENV))


def test_a_wrong_passphrase_says_the_key_cannot_be_used(issued, tmp_path, monkeypatch):
    path = tmp_path / "ek.p12"
    write_pkcs12(path, issued, b"hemlig", "Exempelkommun")
    monkeypatch.setenv(PASSPHRASE_ENV, "fel")

    with pytest.raises(SenderKeyError, match=r"nyckeln för Exempelkommun \(2021004748\) kan inte"):
        signing_identity(sender(path, PASSPHRASE_ENV))


class TestClientTls:
    def test_one_context_per_key_and_trust_file_presenting_the_certificate(
        self, issued, authority, tmp_path
    ):
        path = tmp_path / "ek.pem"
        write_pem_bundle(path, issued)
        ca_file = tmp_path / "ca.pem"
        write_certificate(ca_file, authority.certificate)

        context = client_tls_context(sender(path), ca_file)

        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert client_tls_context(sender(path), ca_file) is context
        assert client_tls_context(sender(path), None) is not context

    def test_a_replaced_key_gives_a_new_context_presenting_the_new_certificate(
        self, issued, authority, tmp_path
    ):
        path = tmp_path / "ek.pem"
        write_pem_bundle(path, issued)
        ca_file = tmp_path / "ca.pem"
        write_certificate(ca_file, authority.certificate)
        before = client_tls_context(sender(path), ca_file)
        assert presented_certificate(before, authority) == issued.certificate
        renewed = authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")

        write_pem_bundle(path, renewed)
        after = client_tls_context(sender(path), ca_file)

        assert after is not before
        assert client_tls_context(sender(path), ca_file) is after
        assert presented_certificate(after, authority) == renewed.certificate

    def test_a_trust_file_that_cannot_be_read_is_named(self, issued, tmp_path):
        path = tmp_path / "ek.pem"
        write_pem_bundle(path, issued)
        ca_file = tmp_path / "inte-en-ca.pem"
        ca_file.write_text("inget certifikat")

        with pytest.raises(SenderKeyError, match=f"CA-filen {ca_file} .* kan inte läsas"):
            client_tls_context(sender(path), ca_file)
