"""Crash tests for handing a print batch to the vendor's drop.

`utskick print handover` is killed (SIGKILL) while it writes a closed batch of 400 letters,
one PDF per letter: the vendor must see nothing of it, and the database must not think it
handed over. Run again, it hands the batch over exactly once: one folder, every letter in it
once with the right checksum, one `handed_to_print` event per letter; a third run changes
nothing. A death after the folder is in place but before the database knew is simulated in
the process: the next hand-over records the folder as it is, without writing it again.
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
from dataclasses import dataclass
from pathlib import Path

import pytest

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
from utskick.db.engine import session_factory
from utskick.printing import handover
from utskick.printing.models import CLOSED, HANDED_OVER
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
