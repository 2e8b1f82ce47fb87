"""Picking up from an SFTP server: a real asyncssh server on loopback, chrooted to a temporary
folder, with host and client keys made by the test. SQLite only: the database side of taking
a file is the same as for a local folder, tested on both backends there."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from utskick.intake.pickup import taking
from utskick.intake.pickup.context import REFUSED, TAKEN
from utskick.intake.pickup.folders import PickupFolderError, PickupUnavailableError

STARTUP_SECONDS = 10
REMOTE = "/utskick/in"


class LoopbackServer:
    """An SFTP server on 127.0.0.1 in a thread of its own, serving `root` as `/`."""

    def __init__(self, root: Path, client_key: asyncssh.SSHKey) -> None:
        self.root = root
        self.client_key = client_key
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.acceptor = None
        self.port = 0

    def start(self) -> None:
        self.thread.start()
        root = os.fsencode(self.root)

        async def listen():
            return await asyncssh.listen(
                "127.0.0.1",
                0,
                server_host_keys=[self.host_key],
                authorized_client_keys=asyncssh.import_authorized_keys(
                    self.client_key.export_public_key().decode()
                ),
                sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=root),
                allow_scp=False,
            )

        future = asyncio.run_coroutine_threadsafe(listen(), self.loop)
        self.acceptor = future.result(STARTUP_SECONDS)
        self.port = self.acceptor.get_port()

    def close(self) -> None:
        acceptor, self.acceptor = self.acceptor, None
        if acceptor is not None:

            async def stop():
                acceptor.close()
                await acceptor.wait_closed()

            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(STARTUP_SECONDS)

    def shut_down(self) -> None:
        """Stop the server and its loop, ending the sessions still open."""
        self.close()

        async def end_sessions():
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(end_sessions(), self.loop).result(STARTUP_SECONDS)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(STARTUP_SECONDS)
        self.loop.close()

    def known_hosts_line(self, key: asyncssh.SSHKey | None = None) -> str:
        public = (key or self.host_key).export_public_key().decode().strip()
        return f"[127.0.0.1]:{self.port} {public}\n"


@pytest.fixture
def server(tmp_path) -> Iterator[tuple[LoopbackServer, Path, Path]]:
    """The server, the client's key file and the known_hosts file naming the server."""
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    client_key.write_private_key(key_file)
    (tmp_path / "sftp-root" / REMOTE.lstrip("/")).mkdir(parents=True)
    loopback = LoopbackServer(tmp_path / "sftp-root", client_key)
    loopback.start()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(loopback.known_hosts_line())
    try:
        yield loopback, key_file, known_hosts
    finally:
        loopback.shut_down()


@pytest.fixture
def remote(sqlite_world, server):
    """The world with its inbox on the server (the world's `inbox` is the server's folder)."""
    loopback, key_file, known_hosts = server
    sqlite_world.inbox = loopback.root / REMOTE.lstrip("/")
    sqlite_world.sftp = {
        "folder": None,
        "sftp_url": f"sftp://utskick@127.0.0.1:{loopback.port}{REMOTE}",
        "sftp_key_file": key_file,
        "sftp_known_hosts": known_hosts,
    }
    return sqlite_world


def _source(world, **fields):
    return world.source(**(world.sftp | fields))


class TestTakenFromTheServer:
    def test_the_file_is_taken_and_moved_on_the_server_with_its_receipt(self, remote):
        remote.drop("fakturor.ndjson", remote.ndjson(3))

        [outcome] = remote.poll(_source(remote)).files

        assert (outcome.result, outcome.accepted) == (TAKEN, 3)
        assert remote.letter_count() == 3
        assert remote.files() == []
        assert remote.files("behandlade") == ["fakturor.ndjson", "fakturor.ndjson.kvitto.json"]
        assert remote.receipt("fakturor.ndjson")["accepted"] == 3
        assert sorted(p.name for p in remote.inbox.iterdir() if p.is_dir()) == [
            "behandlade",
            "fel",
            "pågående",
        ]

    def test_a_file_still_being_uploaded_is_left_alone(self, remote):
        remote.drop("fakturor.ndjson.filepart", remote.ndjson(3))

        report = remote.poll(_source(remote))

        assert report.files == []
        assert remote.files() == ["fakturor.ndjson.filepart"]

    def test_a_broken_file_goes_to_fel_on_the_server_with_the_reason(self, remote):
        remote.drop("trasig.ndjson", "inte json\n")

        [outcome] = remote.poll(_source(remote)).files

        assert outcome.result == REFUSED
        assert remote.files("fel") == ["trasig.ndjson", "trasig.ndjson.fel.txt"]
        assert "är ingen NDJSON-fil" in remote.reason("trasig.ndjson")

    def test_a_taking_cut_short_is_finished_on_the_server(self, remote, monkeypatch):
        remote.drop("fakturor.ndjson", remote.ndjson(2))

        def die(*_args, **_kwargs):
            raise RuntimeError

        with monkeypatch.context() as patch:
            patch.setattr(taking, "finish_done", die)
            with pytest.raises(RuntimeError):
                remote.poll(_source(remote))
        assert remote.files("pågående") == ["fakturor.ndjson", "fakturor.ndjson.kvitto.json"]

        [outcome] = remote.poll(_source(remote)).files

        assert outcome.result == TAKEN
        assert remote.files("behandlade") == ["fakturor.ndjson", "fakturor.ndjson.kvitto.json"]
        assert remote.letter_count() == 2


class TestRefusedServers:
    def test_an_unknown_host_key_is_refused_and_nothing_is_touched(self, remote, server):
        _loopback, _key_file, known_hosts = server
        known_hosts.write_text("")
        remote.drop("fakturor.ndjson", remote.ndjson(1))

        with pytest.raises(PickupFolderError, match="okänd värdnyckel"):
            remote.poll(_source(remote))

        assert remote.files() == ["fakturor.ndjson"]
        assert known_hosts.read_text() == ""

    def test_another_host_key_than_the_known_one_is_refused(self, remote, server):
        loopback, _key_file, known_hosts = server
        known_hosts.write_text(
            loopback.known_hosts_line(asyncssh.generate_private_key("ssh-ed25519"))
        )

        with pytest.raises(PickupFolderError, match="annan värdnyckel"):
            remote.poll(_source(remote))

    def test_a_key_the_server_does_not_take_says_so(self, remote, tmp_path):
        stranger = tmp_path / "id_stranger"
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(stranger)

        with pytest.raises(PickupFolderError, match="godtog inte inloggningen som utskick"):
            remote.poll(_source(remote, sftp_key_file=stranger))

    def test_a_server_that_does_not_answer_is_tried_later(self, remote, server):
        loopback, _key_file, _known_hosts = server
        source = _source(remote)
        loopback.close()

        with pytest.raises(PickupUnavailableError, match="svarar inte"):
            remote.poll(source)

    def test_a_folder_missing_on_the_server_says_so(self, remote):
        source = _source(remote, sftp_url=remote.sftp["sftp_url"] + "/saknas")

        with pytest.raises(PickupFolderError, match="finns inte på servern"):
            remote.poll(source)
