import pytest
from cryptography.hazmat.primitives import serialization

from utskick.mm.devca import write_pem_bundle, write_pkcs12
from utskick.mm.keys import KeyLoadError, load_certificates, load_signing_identity


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
