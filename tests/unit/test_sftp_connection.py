"""The shared SFTP login: the endpoint taken from an address, and the typed errors it raises.

The host key checks against a real SSH server are exercised through the three users of the
module (tests/integration/printing/test_sftp_drop.py, tests/integration/pickup/, and
tests/functional/records/test_export_file.py).
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import paramiko
import pytest

from utskick.sftp_connection import (
    ConnectionBrokenError,
    KeyFileError,
    KnownHostsMissingError,
    RequestRefusedError,
    ServerUnreachableError,
    SftpEndpoint,
    open_sftp,
    session_errors,
)


def endpoint(
    url: str, *, key_file: Path | None = None, known_hosts: Path | None = None
) -> SftpEndpoint:
    return SftpEndpoint.from_address(
        urlsplit(url), key_file=key_file, known_hosts=known_hosts, timeout=2.0
    )


def test_the_endpoint_takes_the_address_apart() -> None:
    server = endpoint("sftp://tryck@print.example:2222/ut//batcher/./a/..")
    assert (server.host, server.port, server.user) == ("print.example", 2222, "tryck")
    assert server.path == "/ut/batcher"
    assert server.server == "print.example:2222"
    assert server.url("/ut/batcher/b1") == "sftp://tryck@print.example:2222/ut/batcher/b1"


def test_the_port_defaults_to_22_and_a_url_without_user_names_none() -> None:
    server = endpoint("sftp://print.example/ut")
    assert (server.port, server.user) == (22, None)
    assert server.url("/ut") == "sftp://print.example:22/ut"


def test_known_hosts_is_the_users_own_unless_one_is_configured(tmp_path: Path) -> None:
    assert endpoint("sftp://h/p").known_hosts_file == Path("~/.ssh/known_hosts").expanduser()
    configured = tmp_path / "known_hosts"
    assert endpoint("sftp://h/p", known_hosts=configured).known_hosts_file == configured


def test_a_configured_known_hosts_file_that_is_missing_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "known_hosts"
    with pytest.raises(KnownHostsMissingError) as refused:
        open_sftp(paramiko.SSHClient(), endpoint("sftp://h/p", known_hosts=missing))
    assert refused.value.known_hosts == missing


def test_a_key_file_that_is_no_key_is_refused_before_connecting(tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    key_file = tmp_path / "id_ed25519"
    key_file.write_text("ingen nyckel\n")
    server = endpoint("sftp://h/p", known_hosts=known_hosts, key_file=key_file)
    with pytest.raises(KeyFileError) as refused:
        open_sftp(paramiko.SSHClient(), server)
    assert refused.value.key_file == key_file
    assert refused.value.detail


def test_a_server_that_does_not_answer_is_unreachable(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("")
    client = paramiko.SSHClient()
    try:
        with pytest.raises(ServerUnreachableError) as unreachable:
            open_sftp(client, endpoint(f"sftp://u@127.0.0.1:{port}/p", known_hosts=known_hosts))
    finally:
        client.close()
    assert isinstance(unreachable.value.__cause__, OSError)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (EOFError("slut"), ConnectionBrokenError),
        (TimeoutError("tid"), ConnectionBrokenError),
        (paramiko.SSHException("kanal"), ConnectionBrokenError),
        (PermissionError("nekad"), RequestRefusedError),
        (FileNotFoundError("borta"), RequestRefusedError),
    ],
)
def test_a_failed_request_is_typed_with_its_cause(
    failure: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as said, session_errors():
        raise failure
    assert said.value.__cause__ is failure
    assert str(failure) in str(said.value)


def test_other_errors_pass_through_the_session_untouched() -> None:
    with pytest.raises(ValueError, match="annat"), session_errors():
        raise ValueError("annat")
