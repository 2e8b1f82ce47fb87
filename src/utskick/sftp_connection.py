"""Connecting to an SFTP server the one way Utskick does: host key checked, key file, timeouts.

The print vendor's drop (`printing.sftp`), the registration file export (`records.export_sftp`)
and the sources' pickup (`intake.pickup.sftp`) all log in like this. The server's host key
must be in the known_hosts file (the one configured, else `~/.ssh/known_hosts`): an unknown or
changed key is refused, never accepted and remembered. Utskick logs in with the key file (OpenSSH
or PEM, no passphrase), or without one with the user's own SSH keys and agent, as ssh would.

What goes wrong is raised as a typed `SftpError` that carries the facts and no text for people:
each caller says it in its own words, with its own setting names and its own advice.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult

import paramiko

DEFAULT_PORT = 22
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class SftpError(Exception):
    """The connection or a request failed; `detail` is what paramiko or the server said."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail)
        self.detail = detail


class KnownHostsMissingError(SftpError):
    """The known_hosts file that was configured does not exist."""

    def __init__(self, known_hosts: Path) -> None:
        super().__init__(str(known_hosts))
        self.known_hosts = known_hosts


class KeyFileError(SftpError):
    """The private key file could not be read (missing, not a key, or with a passphrase)."""

    def __init__(self, key_file: Path, detail: str) -> None:
        super().__init__(detail)
        self.key_file = key_file


class UnknownHostKeyError(SftpError):
    """The server showed a host key the known_hosts file does not hold."""

    def __init__(self, hostname: str, key_name: str, fingerprint: str) -> None:
        super().__init__(f"{hostname} {key_name} {fingerprint}")
        self.hostname = hostname
        self.key_name = key_name
        self.fingerprint = fingerprint


class HostKeyMismatchError(SftpError):
    """The server showed another host key than the one known_hosts holds for it."""

    def __init__(self, key_name: str, fingerprint: str) -> None:
        super().__init__(f"{key_name} {fingerprint}")
        self.key_name = key_name
        self.fingerprint = fingerprint


class LoginRefusedError(SftpError):
    """The server did not accept the login."""


class ServerUnreachableError(SftpError):
    """The server could not be reached or did not answer (the cause is chained)."""


class ConnectionBrokenError(SftpError):
    """The connection broke or timed out during a request (the cause is chained)."""


class RequestRefusedError(SftpError):
    """The server (or the local file system) refused a request (the cause is chained)."""


@dataclass(frozen=True)
class SftpEndpoint:
    """Where and how to log in: the server, the folder, the key file and known_hosts."""

    host: str
    port: int
    user: str | None
    path: str
    key_file: Path | None
    known_hosts: Path | None
    timeout: float

    @classmethod
    def from_address(
        cls,
        address: SplitResult,
        *,
        key_file: Path | None,
        known_hosts: Path | None,
        timeout: float,
    ) -> SftpEndpoint:
        """The endpoint of a checked `sftp://user@host:port/path` address (`sftp_address`)."""
        return cls(
            host=address.hostname or "",
            port=address.port or DEFAULT_PORT,
            user=address.username,
            path=posixpath.normpath(address.path),
            key_file=key_file,
            known_hosts=known_hosts,
            timeout=timeout,
        )

    @property
    def server(self) -> str:
        """`host:port`, as messages name the server."""
        return f"{self.host}:{self.port}"

    @property
    def known_hosts_file(self) -> Path:
        """The known_hosts file read: the one configured, else the user's own."""
        return self.known_hosts or Path(DEFAULT_KNOWN_HOSTS).expanduser()

    def url(self, path: str) -> str:
        """The sftp:// address of a path on the server."""
        user = f"{self.user}@" if self.user else ""
        return f"sftp://{user}{self.server}{path}"


def open_sftp(client: paramiko.SSHClient, endpoint: SftpEndpoint) -> paramiko.SFTPClient:
    """Check the host key, log in with `client` and open SFTP; the caller closes `client`.

    Raises:
        KnownHostsMissingError: the configured known_hosts file does not exist.
        KeyFileError: the key file could not be read.
        UnknownHostKeyError: the server's host key is not in known_hosts.
        HostKeyMismatchError: known_hosts holds another key for the server.
        LoginRefusedError: the server did not accept the login.
        ServerUnreachableError: the server cannot be reached or does not answer.
    """
    known_hosts = endpoint.known_hosts_file
    try:
        client.get_host_keys().load(str(known_hosts))
    except FileNotFoundError:
        # The user's own file may be missing: then every host key is unknown, and refused.
        if endpoint.known_hosts is not None:
            raise KnownHostsMissingError(known_hosts) from None
    client.set_missing_host_key_policy(_RefuseUnknownHostKey())
    key = _private_key(endpoint.key_file)
    try:
        client.connect(
            endpoint.host,
            port=endpoint.port,
            username=endpoint.user,
            pkey=key,
            # Without a key file: the user's own keys and agent, as ssh would use.
            look_for_keys=key is None,
            allow_agent=key is None,
            timeout=endpoint.timeout,
            banner_timeout=endpoint.timeout,
            auth_timeout=endpoint.timeout,
            channel_timeout=endpoint.timeout,
        )
        sftp = client.open_sftp()
    except SftpError:
        raise
    except paramiko.BadHostKeyException as error:
        raise HostKeyMismatchError(error.key.get_name(), error.key.fingerprint) from None
    except paramiko.AuthenticationException as error:
        raise LoginRefusedError(str(error)) from None
    except (OSError, EOFError, paramiko.SSHException) as error:
        raise ServerUnreachableError(str(error)) from error
    channel = sftp.get_channel()
    if channel is not None:
        channel.settimeout(endpoint.timeout)
    return sftp


@contextlib.contextmanager
def session_errors() -> Iterator[None]:
    """Raise a broken connection as `ConnectionBrokenError`, a refusal as `RequestRefusedError`."""
    try:
        yield
    except (EOFError, TimeoutError, ConnectionError, paramiko.SSHException) as error:
        raise ConnectionBrokenError(str(error)) from error
    except OSError as error:
        raise RequestRefusedError(str(error)) from error


@contextlib.contextmanager
def connected(endpoint: SftpEndpoint) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session (see `open_sftp`), closed afterwards; failures in it as `session_errors`.

    Raises:
        SftpError: as `open_sftp`, and `ConnectionBrokenError` or `RequestRefusedError` for a
            request in the session that failed.
    """
    client = paramiko.SSHClient()
    try:
        sftp = open_sftp(client, endpoint)
        with session_errors():
            yield sftp
    finally:
        client.close()


def _private_key(key_file: Path | None) -> paramiko.PKey | None:
    if key_file is None:
        return None
    try:
        return paramiko.PKey.from_path(key_file)
    except (OSError, ValueError, paramiko.SSHException) as error:
        raise KeyFileError(key_file, str(error)) from None


class _RefuseUnknownHostKey(paramiko.MissingHostKeyPolicy):
    """Refuse a server whose host key is not in known_hosts: never accept it unseen."""

    def missing_host_key(
        self, _client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UnknownHostKeyError(hostname, key.get_name(), key.fingerprint)
