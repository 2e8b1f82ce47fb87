import socket
import ssl
import threading

from cryptography import x509

from utskick.mm.devca import DevCertificateAuthority, write_certificate, write_pem_bundle
from utskick.mm.keys import organisation_number_of


def test_organisation_certificates_follow_the_swedish_convention(authority):
    issued = authority.issue_organisation("2021004748", "Exempelkommun")
    certificate = issued.certificate
    assert organisation_number_of(certificate) == "2021004748"
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    certificate.verify_directly_issued_by(authority.certificate)


def test_the_ca_is_kept_and_reused_from_its_folder(tmp_path):
    first = DevCertificateAuthority.load_or_create(tmp_path)
    again = DevCertificateAuthority.load_or_create(tmp_path)
    assert first.certificate == again.certificate
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0


def test_a_loopback_server_certificate_completes_a_mutual_tls_handshake(authority, tmp_path):
    write_pem_bundle(
        tmp_path / "server.pem", authority.issue_tls_server(["localhost", "127.0.0.1"])
    )
    write_pem_bundle(
        tmp_path / "client.pem", authority.issue_organisation("2021004748", "Exempelkommun")
    )
    write_certificate(tmp_path / "ca.pem", authority.certificate)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "server.pem")
    server_context.load_verify_locations(tmp_path / "ca.pem")
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    client_context.load_cert_chain(tmp_path / "client.pem")

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen = {}

    def serve_one():
        connection, _ = listener.accept()
        with server_context.wrap_socket(connection, server_side=True) as tls:
            seen["client"] = tls.getpeercert()
            tls.sendall(b"ok")

    thread = threading.Thread(target=serve_one)
    thread.start()
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.recv(2) == b"ok"
    thread.join(timeout=5)
    listener.close()
    subject = dict(pair[0] for pair in seen["client"]["subject"])
    assert subject["serialNumber"] == "162021004748"
