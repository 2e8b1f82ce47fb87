import pytest
from cryptography.hazmat.primitives import serialization

from utskick.mm.devca import write_pem_bundle, write_pkcs12
from utskick.mm.keys import (
    KeyLoadError,
    load_certificates,
    load_signing_identity,
    organisation_number_of,
)


@pytest.fixture(scope="module")
def issued(authority):
    return authority.issue_organisation("2021004748", "Exempelkommun")


def test_pkcs12_with_passphrase_loads(tmp_path, issued):
    path = tmp_path / "sender.p12"
    write_pkcs12(path, issued, b"hemlig", "Exempelkommun")
    identity = load_signing_identity(path, b"hemlig")
    assert identity.organisation_number == "2021004748"
    assert path.stat().st_mode & 0o077 == 0


def test_pkcs12_with_wrong_passphrase_says_so(tmp_path, issued):
    path = tmp_path / "sender.p12"
    write_pkcs12(path, issued, b"hemlig", "Exempelkommun")
    with pytest.raises(KeyLoadError, match="fel lösenfras"):
        load_signing_identity(path, b"fel")


def test_pem_with_key_and_certificate_loads(tmp_path, issued):
    path = tmp_path / "sender.pem"
    write_pem_bundle(path, issued)
    assert load_signing_identity(path).subject_name.startswith(
        "SERIALNUMBER=162021004748 + CN=Exempelkommun"
    )
    assert len(load_certificates(path)) == 1


def test_pem_without_certificate_says_what_to_do(tmp_path, issued):
    path = tmp_path / "key-only.pem"
    path.write_bytes(
        issued.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyLoadError, match="saknar certifikat"):
        load_signing_identity(path)


def test_missing_key_file_says_which(tmp_path):
    with pytest.raises(KeyLoadError, match="kan inte läsa nyckelfilen"):
        load_signing_identity(tmp_path / "saknas.p12")


def test_the_key_ring_loads_a_key_file_once(tmp_path, issued):
    from utskick.mm.keys import KeyRing

    path = tmp_path / "sender.pem"
    write_pem_bundle(path, issued)
    ring = KeyRing()
    first = ring.get(path)
    path.unlink()  # a second read would fail: the key must come from memory
    assert ring.get(path) is first


def _certificate_with_serial_number(serial_number):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.name import _ASN1Type
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Exempelkommun"),
            # UTF8String: a PrintableString (the usual type) cannot hold other scripts' digits.
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number, _ASN1Type.UTF8String),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("serial_number", "organisation"),
    [("162021004748", "2021004748"), ("2021004748", "2021004748"), ("SE2021004748", "2021004748")],
)
def test_the_organisation_number_is_read_from_the_serial_number(serial_number, organisation):
    certificate = _certificate_with_serial_number(serial_number)
    assert organisation_number_of(certificate) == organisation


def test_digits_of_another_script_are_not_an_organisation_number():
    # Arabic-Indic digits for 2021004748: str.isdigit() says yes, no register knows them.
    certificate = _certificate_with_serial_number("١٦٢٠٢١٠٠٤٧٤٨")
    assert organisation_number_of(certificate) is None
