"""Key files an operator got wrong: each one is refused with KeyLoadError and a Swedish reason.

Whatever the file holds, loading it must raise KeyLoadError (which /health, /metrics, the
daily certificate check and `senders key` catch) and nothing else, and the reason must not
quote the file's content.
"""

import base64
import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from utskick.mm.devca import write_pem_bundle, write_pkcs12
from utskick.mm.keys import KeyLoadError, load_certificates, load_signing_identity

NOT_A_CERTIFICATE = base64.b64encode(b"not a cert").decode()  # "bm90IGEgY2VydA=="


@pytest.fixture(scope="module")
def issued(authority):
    return authority.issue_organisation("2021004748", "Exempelkommun")


def pem_key(private_key, passphrase=None):
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def pem_certificate(certificate):
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_block(body):
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()


def self_signed(private_key, signing_hash):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fel nyckeltyp")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(private_key, signing_hash)
    )


def damaged_files(issued, passphrase_pkcs12):
    """(name, file content, passphrase, what the reason says) for each way to get it wrong."""
    key, certificate = issued.private_key, issued.certificate
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    good_pkcs12 = passphrase_pkcs12.read_bytes()
    return [
        ("damaged certificate block", certificate_block(NOT_A_CERTIFICATE + "\n"), None, "skadat"),
        ("empty certificate block", certificate_block(""), None, "skadat"),
        ("certificate block not base64", certificate_block("!!!?\n"), None, "skadat"),
        (
            "good key, damaged certificate",
            pem_key(key) + certificate_block(NOT_A_CERTIFICATE + "\n"),
            None,
            "skadat",
        ),
        (
            "good key, certificate cut short",
            pem_key(key) + pem_certificate(certificate)[:-120] + b"\n-----END CERTIFICATE-----\n",
            None,
            "certifikat",
        ),
        ("passphrase for an open key", pem_key(key) + pem_certificate(certificate), b"x", "lösen"),
        ("locked key, no passphrase", pem_key(key, b"hemlig") + pem_certificate(certificate), None, "lösen"),
        ("elliptic-curve key", pem_key(ec_key) + pem_certificate(self_signed(ec_key, hashes.SHA256())), None, "RSA"),
        ("certificate of an Ed25519 key", pem_key(key) + pem_certificate(self_signed(ed_key, None)), None, "hör inte till"),
        ("PKCS#12 cut in half", good_pkcs12[: len(good_pkcs12) // 2], b"hemlig", "PKCS#12"),
        ("PKCS#12 with a wrong passphrase", good_pkcs12, b"fel", "PKCS#12"),
        ("a DER certificate alone", certificate.public_bytes(serialization.Encoding.DER), None, "PKCS#12"),
        ("an empty file", b"", None, "PKCS#12"),
        ("text", b"ingen nyckel alls \x00\x01\x02", None, "PKCS#12"),
    ]  # fmt: skip


def test_every_damaged_key_file_is_refused_with_a_reason_that_quotes_nothing_of_it(
    tmp_path, issued
):
    pkcs12_file = tmp_path / "original.p12"
    write_pkcs12(pkcs12_file, issued, b"hemlig", "Exempelkommun")
    cases = damaged_files(issued, pkcs12_file)

    for number, (name, content, passphrase, says) in enumerate(cases):
        path = tmp_path / f"nyckel-{number}.pem"
        path.write_bytes(content)
        with pytest.raises(KeyLoadError) as refused:
            load_signing_identity(path, passphrase)
        reason = str(refused.value)
        assert says in reason, (name, reason)
        assert str(path) in reason, (name, reason)
        assert NOT_A_CERTIFICATE not in reason, (name, reason)
        assert "ParseError" not in reason, (name, reason)


def test_a_good_pem_and_pkcs12_still_load(tmp_path, issued):
    pem = tmp_path / "nyckel.pem"
    write_pem_bundle(pem, issued)
    p12 = tmp_path / "nyckel.p12"
    write_pkcs12(p12, issued, b"hemlig", "Exempelkommun")

    assert load_signing_identity(pem).certificate == issued.certificate
    assert load_signing_identity(p12, b"hemlig").certificate == issued.certificate


@pytest.mark.parametrize(
    "content",
    [
        certificate_block(NOT_A_CERTIFICATE + "\n"),
        certificate_block(""),
        b"\x30\x82\x01\x00 a DER certificate cut short",
        b"",
    ],
    ids=["damaged PEM", "empty PEM", "cut DER", "empty file"],
)
def test_a_damaged_certificate_file_is_refused_with_key_load_error(tmp_path, content):
    path = tmp_path / "ca.pem"
    path.write_bytes(content)

    with pytest.raises(KeyLoadError, match="inget läsbart certifikat"):
        load_certificates(path)
