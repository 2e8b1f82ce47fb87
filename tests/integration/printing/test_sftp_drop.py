"""Handing print batches to a vendor's SFTP server, against a real SFTP server on loopback.

asyncssh serves SFTP from a temporary folder (chrooted) in a thread with its own event loop;
its host key and the client's key are made by the test. The server remembers every file it
was asked to write and every rename, so that the tests can tell how the batch got there.
SQLite only: the database side of a hand-over is the folder drop's, tested on both backends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest
from pydantic import ValidationError

from support.print_drop import (
    batch_row,
    connector_database,
    folder_snapshot,
    handed_to_print_counts,
    letter_ids,
    seed_closed_batch,
    visible_entries,
)
from utskick.db.engine import session_factory
from utskick.entrypoints.worker import Worker
from utskick.jobs.queue import PRINT_HANDOVER, ClaimedJob, Retry
from utskick.printing import drops, handover
from utskick.printing.drops import MANIFEST_JSON, WORK_FOLDER, DropUnavailableError, HandoverError
from utskick.printing.handover import LETTER_FOLDER, MANIFEST_CSV, HandoverOutcome, folder_name
from utskick.printing.models import CLOSED, HANDED_OVER
from utskick.printing.sftp import UnknownHostKeyError
from utskick.settings import PrintVendor, Settings

LETTERS = 12
REMOTE = "/inkommande"
USER = "print"
STARTUP_SECONDS = 10


@dataclass
class ServerLog:
    """What the SFTP server was asked to do."""

    writes: list[str] = field(default_factory=list)
    renames: list[tuple[str, str]] = field(default_factory=list)
    fail_after_writes: int | None = None


class RecordingSFTPServer(asyncssh.SFTPServer):
    """An SFTP server chrooted to a folder that remembers writes and renames."""

    def __init__(self, chan, *, root: Path, log: ServerLog):
        super().__init__(chan, chroot=os.fsencode(root))
        self.log = log

    def open(self, path, pflags, attrs):
        if pflags & asyncssh.FXF_WRITE:
            if (
                self.log.fail_after_writes is not None
                and len(self.log.writes) >= self.log.fail_after_writes
            ):
                raise asyncssh.SFTPFailure("Disken är full")
            self.log.writes.append(path.decode())
        return super().open(path, pflags, attrs)

    def posix_rename(self, oldpath, newpath):
        self.log.renames.append((oldpath.decode(), newpath.decode()))
        return super().posix_rename(oldpath, newpath)


class LoopbackSftpServer:
    """An asyncssh SFTP server on 127.0.0.1 in a background thread."""

    def __init__(self, root: Path, client_public_key: str) -> None:
        self.root = root
        self.client_public_key = client_public_key
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.log = ServerLog()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._acceptor = None

    def start(self, port: int = 0) -> None:
        if not self._thread.is_alive():
            self._thread.start()

        def factory(chan):
            return RecordingSFTPServer(chan, root=self.root, log=self.log)

        async def listen():
            return await asyncssh.listen(
                "127.0.0.1",
                port,
                server_host_keys=[self.host_key],
                authorized_client_keys=asyncssh.import_authorized_keys(self.client_public_key),
                sftp_factory=factory,
                allow_scp=False,
            )

        self._acceptor = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(
            STARTUP_SECONDS
        )
        self.port = self._acceptor.get_port()

    def stop(self) -> None:
        if self._acceptor is not None:
            acceptor = self._acceptor

            # Closed on the server's own loop: asyncio's server is not safe to close from
            # another thread while a refused client's connection is still being let go.
            async def closing() -> None:
                acceptor.close()
                await acceptor.wait_closed()

            asyncio.run_coroutine_threadsafe(closing(), self._loop).result(STARTUP_SECONDS)
            self._acceptor = None

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(STARTUP_SECONDS)
        self._loop.close()

    def known_hosts_line(self, key: asyncssh.SSHKey | None = None) -> str:
        public = (key or self.host_key).export_public_key().decode().strip()
        return f"[127.0.0.1]:{self.port} {public}\n"


@dataclass
class World:
    """A closed batch in SQLite, a local staging drop and an SFTP server for the vendor."""

    tmp: Path
    engine: object
    batch_id: str
    server: LoopbackSftpServer
    staging: Path
    key_file: Path
    known_hosts: Path

    @property
    def remote(self) -> Path:
        return self.server.root / REMOTE.lstrip("/")

    def settings(self, **vendor: object) -> Settings:
        options = {
            "name": "tryckeriet",
            "drop": self.staging,
            "sftp_url": f"sftp://{USER}@127.0.0.1:{self.server.port}{REMOTE}",
            "sftp_key_file": self.key_file,
            "sftp_known_hosts": self.known_hosts,
            "sftp_timeout_seconds": 5,
        } | vendor
        return Settings(
            home=self.tmp / "home",
            embedded_reference=False,
            print_vendors=[PrintVendor(**options)],
        )

    def hand_over(self, **vendor: object) -> HandoverOutcome:
        return handover.handover_batch(
            self.batch_id,
            sessions=session_factory(self.engine),
            settings=self.settings(**vendor),
            clock=lambda: dt.datetime.now(dt.UTC),
            actor="test",
        )

    def folder_name(self) -> str:
        return folder_name(batch_row(self.engine, self.batch_id), "Europe/Stockholm")

    def state(self) -> str:
        return batch_row(self.engine, self.batch_id).state


@pytest.fixture
def world(tmp_path) -> Iterator[World]:
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    client_key.write_private_key(key_file)
    (tmp_path / "sftp-root").mkdir()
    server = LoopbackSftpServer(tmp_path / "sftp-root", client_key.export_public_key().decode())
    server.start()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    try:
        with connector_database("sqlite", tmp_path / "home") as (_url, engine):
            batch_id = seed_closed_batch(engine, LETTERS, now=dt.datetime.now(dt.UTC))
            yield World(
                tmp_path, engine, batch_id, server, tmp_path / "staging", key_file, known_hosts
            )
    finally:
        server.close()


def hidden_work(folder: Path) -> list[Path]:
    work = folder / WORK_FOLDER
    return sorted(work.iterdir()) if work.exists() else []


def assert_whole(folder: Path, letters: set[str]) -> None:
    manifest = json.loads((folder / MANIFEST_JSON).read_text("utf-8"))
    assert sorted(row["letter_id"] for row in manifest["letters"]) == sorted(letters)
    for row in manifest["letters"]:
        content = (folder / row["file"]).read_bytes()
        assert hashlib.sha256(content).hexdigest() == row["sha256"], row["file"]
    assert (folder / MANIFEST_CSV).is_file()


class TestHandedOverBySftp:
    def test_the_batch_appears_whole_in_the_servers_folder(self, world):
        world.hand_over()

        [folder] = visible_entries(world.remote)
        assert folder.name == world.folder_name()
        assert_whole(folder, letter_ids(world.engine, world.batch_id))
        assert len(list((folder / LETTER_FOLDER).glob("*.pdf"))) == LETTERS

    def test_a_merged_batch_appears_whole_too(self, world):
        world.hand_over(merged=True)

        [folder] = visible_entries(world.remote)
        assert_whole(folder, letter_ids(world.engine, world.batch_id))
        assert sorted(path.name for path in folder.iterdir()) == [
            "brev.pdf",
            MANIFEST_CSV,
            MANIFEST_JSON,
        ]

    def test_every_file_is_written_hidden_and_the_batch_appears_by_one_rename(self, world):
        world.hand_over()

        name = world.folder_name()
        hidden = f"{REMOTE}/{WORK_FOLDER}/{name}."
        assert len(world.server.log.writes) == LETTERS + 2  # the PDFs and two manifests
        assert all(path.startswith(hidden) for path in world.server.log.writes)
        [(source, target)] = world.server.log.renames
        assert source.startswith(hidden)
        assert target == f"{REMOTE}/{name}"

    def test_no_work_is_left_on_the_server_or_in_the_staging_folder(self, world):
        world.hand_over()

        assert sorted(path.name for path in world.remote.iterdir()) == [
            WORK_FOLDER,
            world.folder_name(),
        ]
        assert hidden_work(world.remote) == []
        assert visible_entries(world.staging) == []
        assert hidden_work(world.staging) == []

    def test_the_batch_is_recorded_once_with_the_servers_address(self, world):
        outcome = world.hand_over()

        name = world.folder_name()
        assert not outcome.already_done
        assert outcome.location == f"sftp://{USER}@127.0.0.1:{world.server.port}{REMOTE}/{name}"
        batch = batch_row(world.engine, world.batch_id)
        assert (batch.state, batch.folder) == (HANDED_OVER, name)
        manifest = (world.remote / name / MANIFEST_JSON).read_bytes()
        assert batch.manifest_sha256 == hashlib.sha256(manifest).hexdigest()
        letters = letter_ids(world.engine, world.batch_id)
        assert handed_to_print_counts(world.engine) == dict.fromkeys(letters, 1)

    def test_handing_over_again_changes_nothing(self, world):
        world.hand_over()
        [folder] = visible_entries(world.remote)
        before = folder_snapshot(folder)
        writes = list(world.server.log.writes)

        outcome = world.hand_over()

        assert outcome.already_done
        assert folder_snapshot(folder) == before
        assert world.server.log.writes == writes
        letters = letter_ids(world.engine, world.batch_id)
        assert handed_to_print_counts(world.engine) == dict.fromkeys(letters, 1)

    def test_a_private_key_in_pem_format_logs_in_too(self, world):
        pem_key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
        pem_file = world.tmp / "id_rsa.pem"
        pem_file.write_bytes(pem_key.export_private_key("pkcs1-pem"))
        world.server.stop()
        world.server.client_public_key = pem_key.export_public_key().decode()
        world.server.start(world.server.port)

        world.hand_over(sftp_key_file=pem_file)

        assert [path.name for path in visible_entries(world.remote)] == [world.folder_name()]
        assert world.state() == HANDED_OVER


class TestRefusedServers:
    def test_a_server_whose_host_key_is_unknown_is_refused(self, world):
        world.known_hosts.write_text("")

        with pytest.raises(UnknownHostKeyError) as refused:
            world.hand_over()

        fingerprint = world.server.host_key.get_fingerprint("sha256")
        assert "okänd värdnyckel" in str(refused.value)
        assert fingerprint in str(refused.value)
        assert world.server.log.writes == []
        assert world.state() == CLOSED
        assert handed_to_print_counts(world.engine) == {}
        assert world.known_hosts.read_text() == ""  # never remembered

    def test_a_server_showing_another_host_key_than_the_known_one_is_refused(self, world):
        other = asyncssh.generate_private_key("ssh-ed25519")
        world.known_hosts.write_text(world.server.known_hosts_line(other))

        with pytest.raises(HandoverError, match="annan värdnyckel"):
            world.hand_over()

        assert world.server.log.writes == []
        assert world.state() == CLOSED
        assert handed_to_print_counts(world.engine) == {}

    def test_a_key_the_server_does_not_accept_is_refused_with_what_to_do(self, world):
        stranger = asyncssh.generate_private_key("ssh-ed25519")
        stranger_file = world.tmp / "id_stranger"
        stranger.write_private_key(stranger_file)

        with pytest.raises(HandoverError, match="godtog inte inloggningen som print"):
            world.hand_over(sftp_key_file=stranger_file)

        assert world.state() == CLOSED


class TestServerDown:
    def test_the_hand_over_says_the_server_does_not_answer_and_records_nothing(self, world):
        world.server.stop()

        with pytest.raises(DropUnavailableError, match="svarar inte") as down:
            world.hand_over()

        assert f"127.0.0.1:{world.server.port}" in str(down.value)
        assert world.state() == CLOSED
        assert handed_to_print_counts(world.engine) == {}

    def test_the_hand_over_job_is_tried_again_later(self, world):
        world.server.stop()
        now = dt.datetime.now(dt.UTC)
        worker = Worker(world.settings(), world.engine, clock=lambda: now)
        job = ClaimedJob(1, PRINT_HANDOVER, None, {"batch_id": world.batch_id}, 1, now)

        outcome = worker._run_one(job)

        assert isinstance(outcome, Retry)
        assert outcome.at > now
        assert "DropUnavailableError" in outcome.error
        assert world.state() == CLOSED

    def test_once_the_server_answers_again_the_batch_is_handed_over(self, world):
        world.server.stop()
        with pytest.raises(DropUnavailableError):
            world.hand_over()
        world.server.start(world.server.port)

        world.hand_over()

        [folder] = visible_entries(world.remote)
        assert_whole(folder, letter_ids(world.engine, world.batch_id))
        assert world.state() == HANDED_OVER


class _DiedAfterRenameError(Exception):
    """Stands for the process dying between the server's rename and the database commit."""


def _die_before_recording(*_args, **_kwargs):
    raise _DiedAfterRenameError


class TestCrashes:
    def test_a_folder_already_whole_on_the_server_is_only_recorded(self, world, monkeypatch):
        with monkeypatch.context() as patch:
            patch.setattr(handover, "_record_handover", _die_before_recording)
            with pytest.raises(_DiedAfterRenameError):
                world.hand_over()
        [folder] = visible_entries(world.remote)
        written = folder_snapshot(folder)
        writes = list(world.server.log.writes)
        assert world.state() == CLOSED

        outcome = world.hand_over()

        assert not outcome.already_done
        assert outcome.letters == LETTERS
        assert folder_snapshot(folder) == written
        assert world.server.log.writes == writes
        assert world.state() == HANDED_OVER
        letters = letter_ids(world.engine, world.batch_id)
        assert handed_to_print_counts(world.engine) == dict.fromkeys(letters, 1)

    def test_a_damaged_folder_on_the_server_is_not_recorded(self, world, monkeypatch):
        with monkeypatch.context() as patch:
            patch.setattr(handover, "_record_handover", _die_before_recording)
            with pytest.raises(_DiedAfterRenameError):
                world.hand_over()
        [pdf, *_] = sorted((world.remote / world.folder_name() / LETTER_FOLDER).iterdir())
        pdf.write_bytes(pdf.read_bytes()[:100])

        with pytest.raises(HandoverError, match="är skadad"):
            world.hand_over()

        assert world.state() == CLOSED
        assert handed_to_print_counts(world.engine) == {}

    def test_an_upload_that_broke_off_is_never_visible_and_the_next_one_starts_afresh(self, world):
        world.server.log.fail_after_writes = 5
        with pytest.raises(HandoverError, match="nekade en begäran"):
            world.hand_over()
        [stale] = hidden_work(world.remote)
        assert visible_entries(world.remote) == []
        assert world.state() == CLOSED
        world.server.log.fail_after_writes = None

        world.hand_over()

        assert not stale.exists()
        assert hidden_work(world.remote) == []
        [folder] = visible_entries(world.remote)
        assert_whole(folder, letter_ids(world.engine, world.batch_id))
        assert hidden_work(world.staging) == []

    def test_work_of_another_batch_on_the_server_is_left_alone(self, world):
        other = world.remote / WORK_FOLDER / "20260101-1600_tryckeriet_annat_0000aaaa.1234abcd"
        other.mkdir(parents=True)
        (other / MANIFEST_CSV).write_text("halv")

        world.hand_over()

        assert hidden_work(world.remote) == [other]


class TestSettings:
    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("https://tryckeriet.example/inkommande", "schemat måste vara sftp://"),
            ("sftp:///inkommande", "värdnamnet saknas"),
            ("sftp://print@tryckeriet.example", "sökvägen på servern måste vara absolut"),
            ("sftp://print:hemligt@tryckeriet.example/in", "lösenord i adressen stöds inte"),
            ("sftp://print@tryckeriet.example:70000/in", "porten måste vara ett tal 1–65535"),
        ],
    )
    def test_a_malformed_sftp_url_is_refused_with_the_reason(self, url, problem):
        with pytest.raises(ValidationError) as refused:
            PrintVendor(sftp_url=url)

        assert "sftp_url måste se ut som sftp://användare@värd:22/absolut/sökväg" in str(
            refused.value
        )
        assert problem in str(refused.value)

    def test_key_files_without_an_sftp_url_are_refused(self, tmp_path):
        with pytest.raises(ValidationError, match="ingen sftp_url"):
            PrintVendor(sftp_known_hosts=tmp_path / "known_hosts")

    def test_a_vendor_without_sftp_url_keeps_the_folder_drop(self, tmp_path):
        vendor = PrintVendor(drop=tmp_path / "drop")

        assert isinstance(handover.drop_for(vendor, tmp_path / "drop"), drops.FolderDrop)
