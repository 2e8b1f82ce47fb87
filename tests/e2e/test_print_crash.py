"""Crash tests for handing a print batch to the vendor's drop, and for addressing letters.

`utskick print handover` is killed (SIGKILL) while it writes a closed batch of 400 letters,
one PDF per letter: the vendor must see nothing of it, and the database must not think it
handed over. Run again, it hands the batch over exactly once: one folder, every letter in it
once with the right checksum, one `handed_to_print` event per letter; a third run changes
nothing. A death after the folder is in place but before the database knew is simulated in
the process: the next hand-over records the folder as it is, without writing it again.

A worker addressing 600 paper letters in chunks (`address_jobs` with its owner, as the worker
runs `print` jobs) is killed between a chunk's writes and its commit, once 300 letters are
committed: every letter is either wholly recorded (batched, one BATCHED event, its job
gone) or wholly waiting. Another worker then batches each of them exactly once, and every
batch holds at most its size, numbered 1..n.
"""

import csv
import datetime as dt
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from support.print_drop import (
    batch_row,
    connector_database,
    folder_snapshot,
    handed_to_print_counts,
    letter_ids,
    seed_closed_batch,
    vendors_json,
    visible_entries,
    work_folders,
)
from support.world import DAVID, EXEMPELKOMMUN
from utskick.db.engine import session_factory
from utskick.jobs.models import Job
from utskick.letters.models import Letter, LetterEvent
from utskick.printing import handover
from utskick.printing.models import CLOSED, HANDED_OVER, PrintBatch, PrintItem
from utskick.printing.service import close_on_command
from utskick.senders.models import SendingSystem
from utskick.settings import PrintVendor, Settings

LETTERS = 400
PDFS_BEFORE_KILL = 5
UTSKICK = Path(sys.executable).parent / "utskick"
DEADLINE_SECONDS = 60


@dataclass
class Crash:
    """What was seen at each step of the kill-and-restart run."""

    drop: Path
    batch_id: str
    letters: set[str]
    pdfs_when_killed: int
    visible_after_kill: list[Path]
    work_after_kill: list[Path]
    state_after_kill: str
    handed_after_kill: dict[str, int]
    rerun: subprocess.CompletedProcess[str]
    visible_after_rerun: list[Path]
    work_after_rerun: list[Path]
    state_after_rerun: str
    folder_after_rerun: str | None
    handed_after_rerun: dict[str, int]
    third_run: subprocess.CompletedProcess[str]
    snapshot_before_third: dict[str, tuple[int, int, str]]
    snapshot_after_third: dict[str, tuple[int, int, str]]
    handed_after_third: dict[str, int]


def _environment(home, url, drop):
    env = {
        **os.environ,
        "UTSKICK_HOME": str(home),
        "UTSKICK_EMBEDDED_REFERENCE": "false",
        "UTSKICK_PRINT_VENDORS": vendors_json(drop),
    }
    if url:
        env["UTSKICK_DATABASE_URL"] = url
    else:
        env.pop("UTSKICK_DATABASE_URL", None)
    return env


def _handover(env, batch_id):
    return subprocess.run(
        [str(UTSKICK), "print", "handover", batch_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        check=False,
    )


def _written_pdfs(drop):
    return sum(len(list((work / "brev").glob("*.pdf"))) for work in work_folders(drop))


def _kill_while_writing(env, batch_id, drop):
    """Start a hand-over, kill it once a few PDFs are written; how many were written."""
    process = subprocess.Popen(
        [str(UTSKICK), "print", "handover", batch_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while _written_pdfs(drop) < PDFS_BEFORE_KILL:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"the hand-over ended before it could be killed: {output}")
            if time.monotonic() > deadline:
                pytest.fail("the hand-over wrote no PDF in time")
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
    return _written_pdfs(drop)


@pytest.fixture(scope="class", params=["sqlite", "postgresql"])
def crash(request, tmp_path_factory):
    """Kill a hand-over mid-write, run it again, then a third time; what was seen."""
    root = tmp_path_factory.mktemp(f"print-crash-{request.param}")
    home, drop = root / "home", root / "drop"
    with connector_database(request.param, home) as (url, engine):
        batch_id = seed_closed_batch(engine, LETTERS, now=dt.datetime.now(dt.UTC))
        env = _environment(home, url, drop)

        pdfs = _kill_while_writing(env, batch_id, drop)
        visible_after_kill, work_after_kill = visible_entries(drop), work_folders(drop)
        state_after_kill = batch_row(engine, batch_id).state
        handed_after_kill = handed_to_print_counts(engine)

        rerun = _handover(env, batch_id)
        visible_after_rerun = visible_entries(drop)
        batch = batch_row(engine, batch_id)
        handed_after_rerun = handed_to_print_counts(engine)

        before = folder_snapshot(visible_after_rerun[0]) if visible_after_rerun else {}
        third = _handover(env, batch_id)
        after = folder_snapshot(visible_after_rerun[0]) if visible_after_rerun else {}

        yield Crash(
            drop=drop,
            batch_id=batch_id,
            letters=letter_ids(engine, batch_id),
            pdfs_when_killed=pdfs,
            visible_after_kill=visible_after_kill,
            work_after_kill=work_after_kill,
            state_after_kill=state_after_kill,
            handed_after_kill=handed_after_kill,
            rerun=rerun,
            visible_after_rerun=visible_after_rerun,
            work_after_rerun=work_folders(drop),
            state_after_rerun=batch.state,
            folder_after_rerun=batch.folder,
            handed_after_rerun=handed_after_rerun,
            third_run=third,
            snapshot_before_third=before,
            snapshot_after_third=after,
            handed_after_third=handed_to_print_counts(engine),
        )


def _manifest(crash):
    return json.loads((crash.visible_after_rerun[0] / "manifest.json").read_text("utf-8"))


class TestKilledWhileWriting:
    def test_the_kill_came_in_the_middle_of_the_batch(self, crash):
        assert PDFS_BEFORE_KILL <= crash.pdfs_when_killed < LETTERS
        assert len(crash.work_after_kill) == 1
        assert not (crash.work_after_kill[0] / "manifest.json").exists()

    def test_the_vendor_sees_nothing_of_the_half_written_batch(self, crash):
        assert crash.visible_after_kill == []

    def test_the_batch_stays_closed_and_no_letter_counts_as_handed_over(self, crash):
        assert crash.state_after_kill == CLOSED
        assert crash.handed_after_kill == {}

    def test_the_rerun_shows_exactly_one_folder_and_leaves_no_work_behind(self, crash):
        assert crash.rerun.returncode == 0, crash.rerun.stderr
        assert "lämnad till tryckeriet" in crash.rerun.stdout
        assert len(crash.visible_after_rerun) == 1
        assert crash.visible_after_rerun[0].is_dir()
        assert crash.work_after_rerun == []

    def test_the_batch_is_recorded_as_handed_over_to_that_folder(self, crash):
        assert crash.state_after_rerun == HANDED_OVER
        assert crash.folder_after_rerun == crash.visible_after_rerun[0].name

    def test_the_manifest_lists_every_letter_once_with_its_files_checksum(self, crash):
        manifest = _manifest(crash)
        rows = manifest["letters"]
        assert manifest["batch_id"] == crash.batch_id
        assert sorted(row["letter_id"] for row in rows) == sorted(crash.letters)
        assert manifest["totals"]["letters"] == LETTERS
        folder = crash.visible_after_rerun[0]
        for row in rows:
            content = (folder / row["file"]).read_bytes()
            assert content.startswith(b"%PDF-")
            assert hashlib.sha256(content).hexdigest() == row["sha256"], row["file"]
        assert len(list((folder / "brev").glob("*.pdf"))) == LETTERS

    def test_the_csv_manifest_has_one_row_per_letter(self, crash):
        text = (crash.visible_after_rerun[0] / "manifest.csv").read_text("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
        assert sorted(row["letter_id"] for row in rows) == sorted(crash.letters)

    def test_every_letter_is_handed_to_print_exactly_once(self, crash):
        assert crash.handed_after_rerun == dict.fromkeys(crash.letters, 1)

    def test_a_third_run_says_nothing_changed_and_changes_nothing(self, crash):
        assert crash.third_run.returncode == 0, crash.third_run.stderr
        assert "inget ändrades" in crash.third_run.stdout
        assert crash.snapshot_after_third == crash.snapshot_before_third
        assert len(crash.snapshot_after_third) > LETTERS  # the folder was there to compare
        assert crash.handed_after_third == crash.handed_after_rerun
        assert visible_entries(crash.drop) == crash.visible_after_rerun


class _DiedAfterRenameError(Exception):
    """Stands for the process dying between the rename and the database commit."""


def _die_before_recording(*_args, **_kwargs):
    raise _DiedAfterRenameError


@pytest.fixture(params=["sqlite", "postgresql"])
def installation(request, tmp_path):
    home = tmp_path / "home"
    with connector_database(request.param, home) as (url, engine):
        yield home, url, engine


class TestDiedAfterTheRename:
    @pytest.mark.parametrize("merged", [False, True], ids=["per-letter", "merged"])
    def test_the_next_hand_over_records_the_folder_without_writing_it_again(
        self, installation, tmp_path, monkeypatch, merged
    ):
        home, url, engine = installation
        drop = tmp_path / "drop"
        settings = Settings(
            home=home,
            database_url=url,
            embedded_reference=False,
            print_vendors=[PrintVendor(name="tryckeriet", drop=drop, merged=merged)],
        )
        batch_id = seed_closed_batch(engine, 40, now=dt.datetime.now(dt.UTC))
        sessions = session_factory(engine)

        def hand_over():
            return handover.handover_batch(
                batch_id,
                sessions=sessions,
                settings=settings,
                clock=lambda: dt.datetime.now(dt.UTC),
                actor="test",
            )

        with monkeypatch.context() as patch:
            patch.setattr(handover, "_record_handover", _die_before_recording)
            with pytest.raises(_DiedAfterRenameError):
                hand_over()
        [folder] = visible_entries(drop)
        written = folder_snapshot(folder)
        assert batch_row(engine, batch_id).state == CLOSED
        assert handed_to_print_counts(engine) == {}

        outcome = hand_over()

        assert not outcome.already_done
        assert outcome.folder == folder
        assert outcome.letters == 40
        assert folder_snapshot(folder) == written
        assert visible_entries(drop) == [folder]
        assert batch_row(engine, batch_id).state == HANDED_OVER
        assert handed_to_print_counts(engine) == dict.fromkeys(letter_ids(engine, batch_id), 1)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_two_hand_overs_at_once_leave_one_complete_folder(tmp_path, database):
    """A worker's job and an operator's command hand over the same batch at the same time."""
    home, drop = tmp_path / "home", tmp_path / "drop"
    with connector_database(database, home) as (url, engine):
        batch_id = seed_closed_batch(engine, LETTERS, now=dt.datetime.now(dt.UTC))
        env = _environment(home, url, drop)

        def start():
            return subprocess.Popen(
                [str(UTSKICK), "print", "handover", batch_id],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        runs = [start()]
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not _written_pdfs(drop) and runs[0].poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        runs.append(start())  # the first is writing now
        results = [run.communicate(timeout=DEADLINE_SECONDS) for run in runs]

        assert [run.returncode for run in runs] == [0, 0], results
        assert "inget ändrades" in results[1][0]
        [folder] = visible_entries(drop)
        manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
        assert len(manifest["letters"]) == LETTERS
        for row in manifest["letters"]:
            content = (folder / row["file"]).read_bytes()
            assert hashlib.sha256(content).hexdigest() == row["sha256"]
        assert handed_to_print_counts(engine) == dict.fromkeys(letter_ids(engine, batch_id), 1)
        assert work_folders(drop) == []


# --- killed while addressing: the bulk path, chunk by chunk ---------------------------------

ADDRESSED_LETTERS = 600
BATCH_SIZE = 250
COMMITTED_BEFORE_KILL = 300  # a batch has closed by size by then
# A worker process as `utskick worker` runs print jobs: claim up to 1,000, address them with
# the jobs completed in the chunks' transactions. Before a chunk that wrote items commits it
# says so and waits: the test kills it there, between the writes and the commit.
_ADDRESSING_WORKER = """
import datetime as dt, sys, time
from sqlalchemy import event
from utskick.db.engine import create_database_engine, session_factory
from utskick.jobs.queue import PRINT, JobQueue
from utskick.printing.addresses import RegisterEntry
from utskick.printing.service import MAX_BATCH, address_jobs
from utskick.settings import PrintVendor, Settings

url, home, owner, pause, ahead = sys.argv[1:6]
engine = create_database_engine(url)
sessions = session_factory(engine)

@event.listens_for(engine, "before_cursor_execute")
def note_items(connection, cursor, statement, *args):
    if statement.startswith("INSERT INTO print_item"):
        connection.info["items"] = True

@event.listens_for(sessions, "before_commit")
def hold_a_written_chunk(session):
    if session.connection().info.pop("items", False):
        print("chunk written", flush=True)
        time.sleep(float(pause))

class Register:
    def lookup(self, ids):
        return {i: RegisterEntry(i, True, "Mottagare", ("Storgatan 1", "123 45 Exempelstad"))
                for i in ids}

settings = Settings(home=home, database_url=url, embedded_reference=False,
                    print_vendors=[PrintVendor(name="tryckeriet", drop=f"{home}/drop")],
                    print_batch_max_letters=int(sys.argv[6]))
queue = JobQueue(engine, 600)
clock = lambda: dt.datetime.now(dt.UTC)
while jobs := queue.claim(owner, now=clock() + dt.timedelta(seconds=float(ahead)),
                          limit=MAX_BATCH, kinds=[PRINT]):
    address_jobs(jobs, sessions=sessions, source=Register(), settings=settings, clock=clock,
                 actor=f"worker:{owner}", owner=owner)
print("done", flush=True)
"""


@dataclass
class AddressingCrash:
    """What was seen after a worker was killed mid-chunk, and after another finished."""

    letters: list[str]
    committed_when_killed: int
    after_kill: dict[str, tuple[str, bool, int, bool]]
    rerun: subprocess.CompletedProcess[str]
    after_rerun: dict[str, tuple[str, bool, int, bool]]
    batches: list[tuple[str, str | None, list[int]]]


def _addressing_worker(url, home, owner, *, pause=0.0, ahead=0.0):
    arguments = [url, str(home), owner, str(pause), str(ahead), str(BATCH_SIZE)]
    return [sys.executable, "-c", _ADDRESSING_WORKER, *arguments]


def _letter_outcomes(engine):
    """Per letter: its state, whether it has a print item, its BATCHED events, its job."""
    with Session(engine) as session:
        states = dict(session.execute(select(Letter.id, Letter.state)).all())
        items = set(session.scalars(select(PrintItem.letter_id)))
        batched = dict(
            session.execute(
                select(LetterEvent.letter_id, func.count())
                .where(LetterEvent.state == "batched")
                .group_by(LetterEvent.letter_id)
            ).all()
        )
        jobs = set(session.scalars(select(Job.letter_id).where(Job.kind == "print")))
    return {
        letter_id: (state, letter_id in items, batched.get(letter_id, 0), letter_id in jobs)
        for letter_id, state in states.items()
    }


def _items(engine):
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(PrintItem))


def _kill_mid_chunk(engine, command):
    """Run the worker; kill it in a written chunk once enough letters are committed."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in process.stdout:
            # The worker waits before committing this chunk: what is seen now was committed.
            if line.strip() == "chunk written" and _items(engine) >= COMMITTED_BEFORE_KILL:
                process.send_signal(signal.SIGKILL)
                break
        else:
            pytest.fail("the worker ended before it could be killed")
        process.wait(DEADLINE_SECONDS)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    return process.returncode


@pytest.fixture(scope="class", params=["sqlite", "postgresql"])
def addressing_crash(request, tmp_path_factory):
    home = tmp_path_factory.mktemp(f"print-addressing-{request.param}") / "home"
    with connector_database(request.param, home) as (given_url, engine):
        url = given_url or f"sqlite:///{home / 'utskick.db'}"
        letters = seed_paper_letters(engine, ADDRESSED_LETTERS, now=dt.datetime.now(dt.UTC))

        returncode = _kill_mid_chunk(engine, _addressing_worker(url, home, "first", pause=0.3))
        assert returncode == -signal.SIGKILL
        after_kill = _letter_outcomes(engine)

        # Another worker takes the jobs once their leases have run out (an hour ahead).
        rerun = subprocess.run(
            _addressing_worker(url, home, "second", ahead=3600),
            capture_output=True,
            text=True,
            timeout=DEADLINE_SECONDS,
            check=False,
        )
        after_rerun = _letter_outcomes(engine)
        yield AddressingCrash(
            letters=letters,
            committed_when_killed=sum(1 for o in after_kill.values() if o[1]),
            after_kill=after_kill,
            rerun=rerun,
            after_rerun=after_rerun,
            batches=closed_batches(engine),
        )


class TestKilledWhileAddressing:
    def test_the_kill_came_in_a_written_chunk_after_others_had_committed(self, addressing_crash):
        assert addressing_crash.committed_when_killed >= COMMITTED_BEFORE_KILL
        assert addressing_crash.committed_when_killed < ADDRESSED_LETTERS

    def test_no_letter_was_left_half_recorded(self, addressing_crash):
        for letter_id, outcome in addressing_crash.after_kill.items():
            assert outcome in {("batched", True, 1, False), ("paper", False, 0, True)}, letter_id

    def test_the_next_worker_batches_every_letter_exactly_once(self, addressing_crash):
        assert addressing_crash.rerun.returncode == 0, addressing_crash.rerun.stdout
        assert addressing_crash.after_rerun == dict.fromkeys(
            addressing_crash.letters, ("batched", True, 1, False)
        )

    def test_every_batch_holds_its_size_at_most_numbered_one_to_n(self, addressing_crash):
        batches = addressing_crash.batches
        assert sorted(reason for _, reason, _ in batches) == ["command", "size", "size"]
        for _batch_id, _reason, positions in batches:
            assert positions == list(range(1, len(positions) + 1))
            assert len(positions) <= BATCH_SIZE
        assert sum(len(positions) for _, _, positions in batches) == ADDRESSED_LETTERS


def seed_paper_letters(engine, count, *, now):
    """Letters in state `paper` with their print jobs, as the channel switch leaves them."""
    system_id, ids = str(uuid.uuid4()), [str(uuid.uuid4()) for _ in range(count)]
    with Session(engine) as session, session.begin():
        session.add(
            SendingSystem(id=system_id, name=f"Ekonomisystem {system_id[:8]}",
                          sender_numbers=[EXEMPELKOMMUN], created_at=now)
        )  # fmt: skip
        session.flush()
        session.execute(
            insert(Letter), [_paper_letter(system_id, i, n, now) for n, i in enumerate(ids)]
        )
        session.execute(
            insert(Job),
            [{"kind": "print", "letter_id": i, "run_at": now, "attempts": 0, "created_at": now}
             for i in ids],
        )  # fmt: skip
    return ids


def _paper_letter(system_id, letter_id, number, now):
    return {
        "id": letter_id, "sending_system_id": system_id, "idempotency_key": letter_id,
        "sender_number": EXEMPELKOMMUN, "department": "Ekonomi", "recipient_id": DAVID,
        "subject": f"Faktura nr {number}", "body_type": "text/plain", "body": "Hej!",
        "protection_class": 1, "policy": "paper-only", "message_id": uuid.uuid4().hex,
        "created_at": now, "state": "paper", "channel": "paper", "reason": "paper_only_policy",
        "updated_at": now,
    }  # fmt: skip


def closed_batches(engine):
    """Close the batches still open (by command); (id, close reason, positions) of each."""
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        for batch_id in session.scalars(select(PrintBatch.id).where(PrintBatch.state == "open")):
            close_on_command(session, batch_id, now=now)
    with Session(engine) as session:
        return [
            (batch.id, batch.close_reason, list(session.scalars(
                select(PrintItem.position).where(PrintItem.batch_id == batch.id)
                .order_by(PrintItem.position))))
            for batch in session.scalars(select(PrintBatch))
        ]  # fmt: skip
