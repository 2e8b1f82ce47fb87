"""Which client certificate a TLS client context presents: a real handshake, in memory.

`ssl` cannot say which certificate a context holds; a server that asks for one can. The
handshake runs over memory buffers (no socket, no thread), so a unit test can use it.
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from utskick.mm.devca import DevCertificateAuthority, write_pem_bundle

HANDSHAKE_ROUNDS = 20


def presented_certificate(
    client_context: ssl.SSLContext, authority: DevCertificateAuthority
) -> x509.Certificate:
    """The certificate `client_context` presents to a server of `authority` that asks for one.

    The client context must trust `authority` (its CA file) for the handshake to finish.
    """
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        server_file = Path(folder) / "server.pem"
        write_pem_bundle(server_file, authority.issue_tls_server(["localhost"]))
        server_context.load_cert_chain(server_file)
    server_context.verify_mode = ssl.CERT_REQUIRED
    server_context.load_verify_locations(
        cadata=authority.certificate.public_bytes(serialization.Encoding.PEM).decode()
    )
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_out, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(to_client, client_out, server_hostname="localhost")
    server = server_context.wrap_bio(to_server, server_out, server_side=True)
    done = {id(client): False, id(server): False}
    for _ in range(HANDSHAKE_ROUNDS):
        for side in (client, server):
            if not done[id(side)]:
                try:
                    side.do_handshake()
                    done[id(side)] = True
                except ssl.SSLWantReadError:
                    pass
        to_server.write(client_out.read())
        to_client.write(server_out.read())
        if all(done.values()):
            break
    der = server.getpeercert(binary_form=True)
    if der is None:
        raise AssertionError("the client presented no certificate")
    return x509.load_der_x509_certificate(der)
