"""The daily registration file: CSV and XML to a folder or an SFTP server, safe under a crash.

Letters end and become records as the `record` job makes them (`ended_letters`), with no
registration URL set, so they wait for the file. Run on SQLite and PostgreSQL; the SFTP
server is asyncssh's, chrooted to a temporary folder, on loopback.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import threading
from pathlib import Path

import asyncssh
import pytest
from lxml import etree
from sqlalchemy import select

import utskick.records
from functional.records.ended_letters import (
    ended_letter,
    make_records,
    prepare_world,
    savepoint_sessions,
)
from support.world import GRANNKOMMUN
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.records import export_file
from utskick.records.export_file import write_registration_file
from utskick.records.export_rows import CSV_COLUMNS, NAMESPACE, RowWriters
from utskick.records.export_sftp import ExportUnavailableError, UnknownHostKeyError
from utskick.records.models import (
    REGISTRATION_EXPORTED,
    REGISTRATION_NONE,
    REGISTRATION_PENDING,
    LetterRecord,
)
from utskick.settings import Settings

pytestmark = pytest.mark.storage

SCHEMA = Path(utskick.records.__file__).parent / "schema" / "registrering.xsd"
DAY = dt.date(2026, 12, 7)
RUN = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)  # 02:00 in Stockholm
BASE = "registrering-2021004748-2026-12-07"
ACTOR = "worker:daily"
REMOTE = "/import"


@pytest.fixture(scope="module")
def schema():
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


@pytest.fixture
def world(migrated_engine, tmp_path):
    with savepoint_sessions(migrated_engine) as (sessions, _connection):
        with sessions() as session, session.begin():
            systems = prepare_world(session)
        settings = Settings(
            home=tmp_path / "home",
            embedded_reference=False,
            records_export_folder=tmp_path / "export",
        )
        yield World(sessions, systems, settings, tmp_path / "export")


class World:
    def __init__(self, sessions, systems, settings, folder):
        self.sessions = sessions
        self.systems = systems
        self.settings = settings
        self.folder = folder

    def sent(self, count=1, *, message_type="beslut", **options):
        with self.sessions() as session, session.begin():
            letters = [
                ended_letter(session, self.systems.archiving, message_type=message_type, **options)
                for _ in range(count)
            ]
            for letter in letters:
                letter.delivered_digest = "ab" * 32
            make_records(session, letters, settings=self.settings)
            return sorted(letter.id for letter in letters)

    def export(self, *, day=DAY, at=RUN, settings=None):
        return write_registration_file(
            self.sessions, settings or self.settings, day=day, clock=lambda: at, actor=ACTOR
        )

    def records(self, letter_ids):
        with self.sessions() as session:
            rows = session.scalars(
                select(LetterRecord).where(LetterRecord.letter_id.in_(letter_ids))
            ).all()
            session.expunge_all()
        return {row.letter_id: row for row in rows}

    def file_events(self, letter_id):
        with self.sessions() as session:
            return [
                (event.state, event.detail, event.data, event.actor)
                for event in session.scalars(
                    select(LetterEvent).where(LetterEvent.letter_id == letter_id)
                )
                if event.data and "registration_file" in event.data
            ]


def csv_rows(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with a byte order mark, for Excel"
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows[0] == list(CSV_COLUMNS)
    return rows[1:]


def xml_letters(path, schema):
    document = etree.parse(str(path))
    schema.assertValid(document)
    return document.getroot(), document.getroot().findall(f"{{{NAMESPACE}}}letter")


def value(element, tag):
    found = element.find(f"{{{NAMESPACE}}}{tag}")
    return None if found is None else found.text


class TestTheFiles:
    def test_the_csv_is_as_excel_in_sweden_opens_it(self, world):
        [letter_id] = world.sent(attachments=2, case_number="BN 2026/7")

        world.export()

        raw = (world.folder / f"{BASE}.csv").read_bytes()
        assert b"\r\n" in raw
        [row] = csv_rows(world.folder / f"{BASE}.csv")
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert cells["Brev-id"] == letter_id
        assert cells["Organisationsnummer"] == "202100-4748"
        assert cells["Förvaltning"] == "Byggnadsnämnden"
        assert cells["Arkivregel"] == "diarieförs"
        assert cells["Meddelandetyp"] == "beslut"
        assert cells["Ärendenummer"] == "BN 2026/7"
        assert cells["Mottagare"] == "19121212-1212"
        assert cells["Kanal"] == "digitalt"
        assert cells["Status"] == "levererat digitalt"
        assert cells["Skickat"] == "2026-11-27 10:00:00"  # NOW in Stockholm time
        assert cells["Kontrollsumma (SHA-256)"] == "ab" * 32
        assert cells["Bilagor"] == "bilaga-1.pdf\nbilaga-2.pdf"
        assert cells["Bilagornas SHA-256"] == "0" * 64 + "\n" + "0" * 64

    def test_the_xml_holds_the_same_letters_and_is_valid_against_its_schema(self, world, schema):
        journal = world.sent(message_type="kallelse", paper=True)
        register = world.sent(message_type="beslut")

        world.export()

        root, letters = xml_letters(world.folder / f"{BASE}.xml", schema)
        assert root.get("organisationNumber") == "2021004748"
        assert root.get("day") == "2026-12-07"
        assert root.get("writtenAt") == "2026-12-07T01:00:00Z"
        by_id = {value(element, "letterId"): element for element in letters}
        assert sorted(by_id) == sorted(journal + register)
        [paper] = [by_id[i] for i in journal]
        assert value(paper, "rule") == "journal"
        assert value(paper, "channel") == "paper"
        assert value(paper, "state") == "handed_to_print"
        assert value(paper, "recipientId") == "191212121212"
        assert value(paper, "sentAt") == "2026-11-27T09:00:00Z"
        assert value(paper, "caseNumber") is None  # absent, not empty
        names = paper.findall(f".//{{{NAMESPACE}}}name")
        assert [name.text for name in names] == ["bilaga-1.pdf"]
        csv_ids = [row[0] for row in csv_rows(world.folder / f"{BASE}.csv")]
        assert csv_ids == [value(element, "letterId") for element in letters]

    def test_a_subject_that_would_start_a_formula_is_defused_in_the_csv_only(self, world, schema):
        [letter_id] = world.sent()
        with world.sessions() as session, session.begin():
            session.get(Letter, letter_id).subject = '=HYPERLINK("http://x.test","Öppna")'

        world.export()

        [row] = csv_rows(world.folder / f"{BASE}.csv")
        assert row[CSV_COLUMNS.index("Rubrik")] == '\'=HYPERLINK("http://x.test","Öppna")'
        _, [letter] = xml_letters(world.folder / f"{BASE}.xml", schema)
        assert value(letter, "subject") == '=HYPERLINK("http://x.test","Öppna")'

    def test_each_organisation_with_letters_waiting_gets_a_file_pair_of_its_own(self, world):
        ours = world.sent(2)
        theirs = world.sent(sender=GRANNKOMMUN)
        unregistered = world.sent(message_type="faktura")
        failed = world.sent(state=vocabulary.FAILED)

        result = world.export()

        assert sorted(p.name for p in world.folder.iterdir()) == sorted(
            f"registrering-{number}-2026-12-07.{ext}"
            for number in ("2021004748", GRANNKOMMUN)
            for ext in ("csv", "xml")
        )
        assert [(f.organisation_number, f.rows, f.newly_exported) for f in result.files] == [
            ("2021004748", 2, 2),
            (GRANNKOMMUN, 1, 1),
        ]
        assert result.letters == 3
        assert result.files[0].csv_location == str(world.folder / f"{BASE}.csv")
        assert [r[0] for r in csv_rows(world.folder / f"{BASE}.csv")] == ours
        assert {r.registration for r in world.records(unregistered + failed).values()} == {
            REGISTRATION_NONE
        }
        assert world.records(theirs)[theirs[0]].registration == REGISTRATION_EXPORTED

    def test_the_files_are_the_owners_alone(self, world):
        world.sent()
        world.export()
        for path in world.folder.iterdir():
            assert oct(path.stat().st_mode & 0o777) == "0o600"


class TestMarking:
    def test_the_letters_are_marked_exported_each_with_an_event(self, world):
        letter_ids = world.sent(2)

        world.export()

        for letter_id, record in world.records(letter_ids).items():
            assert record.registration == REGISTRATION_EXPORTED
            assert record.registered_at.replace(tzinfo=dt.UTC) == RUN
            [(state, detail, data, actor)] = world.file_events(letter_id)
            assert state == vocabulary.DELIVERED
            assert detail.startswith(f"Med i dagens registreringsfil {BASE}")
            assert data == {"registration_file": BASE}
            assert actor == ACTOR

    def test_with_nothing_waiting_nothing_is_written(self, world):
        world.sent(message_type="faktura")
        assert world.export() is None
        assert not world.folder.exists()

    def test_with_a_registration_url_the_file_is_not_used(self, world):
        [letter_id] = world.sent()
        calls = world.settings.model_copy(
            update={"records_registration_url": "http://127.0.0.1:9/v1/registrations"}
        )
        assert world.export(settings=calls) is None
        assert world.records([letter_id])[letter_id].registration == REGISTRATION_PENDING

    def test_a_later_run_the_same_day_writes_the_days_file_again_whole(self, world):
        first = world.sent()
        world.export()
        second = world.sent()

        [file] = world.export(at=RUN + dt.timedelta(hours=12)).files

        assert (file.rows, file.newly_exported) == (2, 1)
        assert [r[0] for r in csv_rows(world.folder / f"{BASE}.csv")] == sorted(first + second)
        assert len(world.file_events(first[0])) == 1

    def test_the_next_days_file_holds_only_what_waited_since(self, world):
        first = world.sent()
        world.export()
        second = world.sent()
        tomorrow = DAY + dt.timedelta(days=1)

        world.export(day=tomorrow, at=RUN + dt.timedelta(days=1))

        assert [r[0] for r in csv_rows(world.folder / f"{BASE}.csv")] == first
        next_day = world.folder / "registrering-2021004748-2026-12-08.csv"
        assert [r[0] for r in csv_rows(next_day)] == second

    def test_many_letters_are_read_and_marked_in_chunks(self, world, monkeypatch, schema):
        monkeypatch.setattr(export_file, "CHUNK", 2)
        letter_ids = world.sent(5)

        [file] = world.export().files

        assert (file.rows, file.newly_exported) == (5, 5)
        assert [r[0] for r in csv_rows(world.folder / f"{BASE}.csv")] == letter_ids
        _, letters = xml_letters(world.folder / f"{BASE}.xml", schema)
        assert len(letters) == 5
        assert {r.registration for r in world.records(letter_ids).values()} == {
            REGISTRATION_EXPORTED
        }


class TestCrashes:
    def test_a_crash_after_writing_before_marking_loses_no_letter(self, world, monkeypatch):
        letter_ids = world.sent(2)

        def power_cut(*_args, **_kwargs):
            raise RuntimeError("strömavbrott")

        monkeypatch.setattr(export_file, "_mark_exported", power_cut)
        with pytest.raises(RuntimeError, match="strömavbrott"):
            world.export()
        assert [r[0] for r in csv_rows(world.folder / f"{BASE}.csv")] == letter_ids
        assert {r.registration for r in world.records(letter_ids).values()} == {
            REGISTRATION_PENDING
        }
        assert world.file_events(letter_ids[0]) == []
        monkeypatch.undo()

        [file] = world.export(at=RUN + dt.timedelta(minutes=5)).files

        assert file.newly_exported == 2
        assert [r[0] for r in csv_rows(world.folder / f"{BASE}.csv")] == letter_ids
        assert {r.registration for r in world.records(letter_ids).values()} == {
            REGISTRATION_EXPORTED
        }

    def test_a_crash_while_writing_leaves_the_earlier_file_whole_and_no_litter(
        self, world, monkeypatch
    ):
        first = world.sent()
        world.export()
        before = {path.name: path.read_bytes() for path in world.folder.iterdir()}
        later = world.sent(3)
        written = []
        original = RowWriters.write

        def write_then_fail(self, row):
            if written:
                raise OSError(28, "No space left on device")
            written.append(row)
            original(self, row)

        monkeypatch.setattr(RowWriters, "write", write_then_fail)
        with pytest.raises(export_file.ExportError, match="inget är markerat"):
            world.export(at=RUN + dt.timedelta(hours=1))

        assert {path.name: path.read_bytes() for path in world.folder.iterdir()} == before
        assert [r[0] for r in csv_rows(world.folder / f"{BASE}.csv")] == first
        assert {r.registration for r in world.records(later).values()} == {REGISTRATION_PENDING}


# --- SFTP -----------------------------------------------------------------------------------


class RecordingSftpServer(asyncssh.SFTPServer):
    """SFTP chrooted to a folder, remembering the renames it was asked for."""

    def __init__(self, chan, *, root, renames):
        super().__init__(chan, chroot=os.fsencode(root))
        self.renames = renames

    def posix_rename(self, oldpath, newpath):
        self.renames.append((oldpath.decode(), newpath.decode()))
        return super().posix_rename(oldpath, newpath)


class LoopbackSftp:
    """An asyncssh SFTP server on 127.0.0.1, its event loop on a thread of its own."""

    def __init__(self, root, client_public_key):
        self.root = root
        self.client_public_key = client_public_key
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.renames = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._acceptor = None

    def start(self):
        self._thread.start()

        def factory(chan):
            return RecordingSftpServer(chan, root=self.root, renames=self.renames)

        async def listen():
            return await asyncssh.listen(
                "127.0.0.1",
                0,
                server_host_keys=[self.host_key],
                authorized_client_keys=asyncssh.import_authorized_keys(self.client_public_key),
                sftp_factory=factory,
                allow_scp=False,
            )

        self._acceptor = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)
        self.port = self._acceptor.get_port()

    def stop(self):
        if self._acceptor is not None:
            acceptor = self._acceptor

            # Closed on the server's own loop: asyncio's server is not safe to close from
            # another thread while a refused client's connection is still being let go.
            async def closing():
                acceptor.close()
                await acceptor.wait_closed()

            asyncio.run_coroutine_threadsafe(closing(), self._loop).result(10)
            self._acceptor = None

    def close(self):
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def known_hosts_line(self, key=None):
        public = (key or self.host_key).export_public_key().decode().strip()
        return f"[127.0.0.1]:{self.port} {public}\n"


@pytest.fixture
def sftp(tmp_path):
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    client_key.write_private_key(key_file)
    root = tmp_path / "sftp-root"
    (root / REMOTE.lstrip("/")).mkdir(parents=True)
    server = LoopbackSftp(root, client_key.export_public_key().decode())
    server.start()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(server.known_hosts_line())
    server.key_file = key_file
    server.known_hosts = known_hosts
    server.remote = root / REMOTE.lstrip("/")
    yield server
    server.close()


def over_sftp(world, sftp, **overrides):
    return world.settings.model_copy(
        update={
            "records_export_sftp_url": f"sftp://diarium@127.0.0.1:{sftp.port}{REMOTE}",
            "records_export_sftp_key_file": sftp.key_file,
            "records_export_sftp_known_hosts": sftp.known_hosts,
        }
        | overrides
    )


class TestSftp:
    def test_the_files_are_uploaded_under_a_hidden_name_and_renamed_into_place(
        self, world, sftp, schema
    ):
        letter_ids = world.sent(2)

        [file] = world.export(settings=over_sftp(world, sftp)).files

        assert sorted(p.name for p in sftp.remote.iterdir()) == [f"{BASE}.csv", f"{BASE}.xml"]
        assert [r[0] for r in csv_rows(sftp.remote / f"{BASE}.csv")] == letter_ids
        xml_letters(sftp.remote / f"{BASE}.xml", schema)
        assert [new for _, new in sftp.renames] == [f"{REMOTE}/{BASE}.csv", f"{REMOTE}/{BASE}.xml"]
        assert all(Path(old).name.startswith(f".{BASE}.") for old, _ in sftp.renames)
        assert file.csv_location == f"sftp://diarium@127.0.0.1:{sftp.port}{REMOTE}/{BASE}.csv"
        # The local folder only staged them.
        assert list(world.folder.iterdir()) == []
        assert {r.registration for r in world.records(letter_ids).values()} == {
            REGISTRATION_EXPORTED
        }

    def test_a_days_file_on_the_server_is_replaced_whole(self, world, sftp):
        settings = over_sftp(world, sftp)
        first = world.sent()
        world.export(settings=settings)
        second = world.sent()

        world.export(settings=settings, at=RUN + dt.timedelta(hours=3))

        rows = [r[0] for r in csv_rows(sftp.remote / f"{BASE}.csv")]
        assert rows == sorted(first + second)
        assert sorted(p.name for p in sftp.remote.iterdir()) == [f"{BASE}.csv", f"{BASE}.xml"]

    @pytest.mark.parametrize(
        ("known", "says"),
        [
            ("another_host", "Okända nycklar godtas aldrig"),
            ("another_key", "visade en annan värdnyckel"),
        ],
    )
    def test_a_server_whose_host_key_is_not_known_is_refused(self, world, sftp, known, says):
        stranger = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
        if known == "another_host":
            sftp.known_hosts.write_text(f"diarium.kommun.example {stranger}")
        else:
            sftp.known_hosts.write_text(f"[127.0.0.1]:{sftp.port} {stranger}")
        letter_ids = world.sent()

        with pytest.raises(UnknownHostKeyError, match=says):
            world.export(settings=over_sftp(world, sftp))

        assert list(sftp.remote.iterdir()) == []
        assert world.records(letter_ids)[letter_ids[0]].registration == REGISTRATION_PENDING

    def test_a_server_that_is_down_leaves_the_letters_waiting(self, world, sftp):
        letter_ids = world.sent()
        sftp.stop()

        with pytest.raises(ExportUnavailableError, match="svarar inte"):
            world.export(settings=over_sftp(world, sftp))

        assert world.records(letter_ids)[letter_ids[0]].registration == REGISTRATION_PENDING
        assert list(world.folder.iterdir()) == []
