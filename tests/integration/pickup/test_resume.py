"""Utskick killed mid-file: the next poll finishes what lies in `pågående/`, and every letter of
the file is stored exactly once, on SQLite and PostgreSQL.

The kill is real: a poll runs in a subprocess that is SIGKILLed while it stores a large NDJSON
batch, once its file's row exists and some of its letters are stored. The cuts at other
points (after the row is done, between the moves) are made in process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from utskick.intake.models import IntakeFile
from utskick.intake.pickup import taking
from utskick.intake.pickup.context import DUPLICATE, TAKEN
from utskick.letters.models import Batch, Letter

pytestmark = pytest.mark.storage

LINES = 6000
KILL_DEADLINE_SECONDS = 60

POLL_SCRIPT = """
import datetime as dt, sys
from pathlib import Path
from utskick.db.engine import create_database_engine, session_factory
from utskick.intake.pickup.poll import poll_source
from utskick.intake.sources import RecipientRule, Source
from utskick.settings import Settings

url, home, inbox = sys.argv[1:4]
engine = create_database_engine(url)
source = Source(name="ekonomi", system="Ekonomisystemet", folder=Path(inbox),
                stable_seconds=0, recipient=RecipientRule(rule="anchor"))
settings = Settings(home=Path(home), embedded_reference=False, database_url=url)
poll_source(source, sessions=session_factory(engine), settings=settings,
            clock=lambda: dt.datetime.now(dt.UTC))
"""


def _progress(engine):
    """The file's row state and how many letters are stored."""
    with Session(engine) as session:
        state = session.scalar(select(IntakeFile.state))
        letters = session.scalar(select(func.count()).select_from(Letter)) or 0
    return state, letters


def _kill_while_storing(world):
    """Start a poll in a subprocess and SIGKILL it once some of the letters are stored."""
    process = subprocess.Popen(
        [sys.executable, "-c", POLL_SCRIPT, world.url, str(world.home), str(world.inbox)],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + KILL_DEADLINE_SECONDS
    try:
        while time.monotonic() < deadline:
            state, letters = _progress(world.engine)
            if state == "taking" and letters > 0:
                os.kill(process.pid, signal.SIGKILL)
                break
            if process.poll() is not None:
                pytest.fail(f"the poll ended before it was killed: {process.stderr.read()!r}")
            time.sleep(0.005)
        else:
            pytest.fail("the poll stored no letter in time")
    finally:
        process.kill()
        process.wait()
    return _progress(world.engine)


class TestKilledMidFile:
    def test_every_letter_is_stored_exactly_once_after_the_next_poll(self, world):
        world.drop("stor.ndjson", world.ndjson(LINES))
        world.home.mkdir(exist_ok=True)

        state, stored = _kill_while_storing(world)

        assert state == "taking"
        assert 0 < stored < LINES
        assert world.files("pågående") == ["stor.ndjson"]

        [outcome] = world.poll().files

        assert (outcome.result, outcome.accepted, outcome.rejected) == (TAKEN, LINES, 0)
        letters = world.letters()
        assert len(letters) == LINES
        assert len({letter.idempotency_key for letter in letters}) == LINES
        assert {letter.batch_id for letter in letters} == {outcome.batch_id}
        assert world.files("behandlade") == ["stor.ndjson", "stor.ndjson.kvitto.json"]
        assert world.files("pågående") == []
        receipt = world.receipt("stor.ndjson")
        assert receipt["accepted"] == LINES
        assert len({line["letter_id"] for line in receipt["letters"]}) == LINES
        [row] = world.rows()
        assert (row.state, row.accepted, row.batch_id) == ("done", LINES, outcome.batch_id)
        with Session(world.engine) as session:
            batch = session.get(Batch, outcome.batch_id)
            assert (batch.accepted, batch.rejected) == (LINES, 0)
            assert batch.completed_at is not None


def _die(*_args, **_kwargs):
    raise _KilledError


class _KilledError(Exception):
    """Stands for Utskick stopping at that point."""


class TestCutShort:
    def test_a_file_moved_into_pagaende_before_its_row_was_made_is_taken(self, world):
        (world.inbox / "pågående").mkdir()
        world.drop("pågående/brev.ndjson", world.ndjson(2))

        [outcome] = world.poll().files

        assert (outcome.result, outcome.accepted) == (TAKEN, 2)
        assert world.files("behandlade") == ["brev.ndjson", "brev.ndjson.kvitto.json"]

    def test_a_done_file_whose_moves_were_cut_short_is_only_moved(self, world, monkeypatch):
        world.drop("brev.ndjson", world.ndjson(3))
        with monkeypatch.context() as patch:
            patch.setattr(taking, "finish_done", _die)
            with pytest.raises(_KilledError):
                world.poll()
        assert world.files("pågående") == ["brev.ndjson", "brev.ndjson.kvitto.json"]
        [row] = world.rows()
        assert row.state == "done"
        before = {letter.id for letter in world.letters()}

        [outcome] = world.poll().files

        assert (outcome.result, outcome.accepted) == (TAKEN, 3)
        assert world.files("behandlade") == ["brev.ndjson", "brev.ndjson.kvitto.json"]
        assert world.files("pågående") == []
        assert {letter.id for letter in world.letters()} == before

    def test_a_done_file_whose_receipt_had_moved_is_moved_after_it(self, world):
        world.drop("brev.ndjson", world.ndjson(3))
        world.poll()
        # Cut after the receipt's move, before the file's.
        (world.inbox / "behandlade" / "brev.ndjson").rename(world.inbox / "pågående/brev.ndjson")

        [outcome] = world.poll().files

        assert outcome.result == TAKEN
        assert world.files("behandlade") == ["brev.ndjson", "brev.ndjson.kvitto.json"]
        assert world.files("fel") == []
        assert world.letter_count() == 3

    def test_a_copy_of_a_done_file_cut_short_in_pagaende_is_a_duplicate(self, world):
        world.drop("brev.ndjson", world.ndjson(3))
        world.poll()
        world.drop("pågående/kopia.ndjson", world.ndjson(3))

        [outcome] = world.poll().files

        assert outcome.result == DUPLICATE
        assert world.files("fel") == ["kopia.ndjson", "kopia.ndjson.fel.txt"]
        assert world.letter_count() == 3

    def test_a_refused_file_whose_move_was_cut_short_goes_to_fel(self, world, monkeypatch):
        world.drop("trasig.ndjson", "inte json\n")
        with monkeypatch.context() as patch:
            patch.setattr(taking, "refuse_from", _die)
            with pytest.raises(_KilledError):
                world.poll()
        assert world.files("pågående") == ["trasig.ndjson"]

        world.poll()

        assert world.files("fel") == ["trasig.ndjson", "trasig.ndjson.fel.txt"]
        assert "är ingen NDJSON-fil" in world.reason("trasig.ndjson")
        [row] = world.rows()
        assert row.state == "refused"

    def test_a_half_written_receipt_of_ours_is_removed(self, world):
        (world.inbox / "pågående").mkdir()
        world.drop("pågående/brev.ndjson.kvitto.json.tmp", "{")

        world.poll()

        assert world.files("pågående") == []
