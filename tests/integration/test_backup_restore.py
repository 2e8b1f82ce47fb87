"""Backup of a running system mid-batch, restored elsewhere: every letter is there.

A `utskick worker` process works through a batch of 300 letters handed in with
`utskick batch submit`, against the reference infrastructure; `utskick db backup` is taken
while letters are still on their way, and `utskick db restore` puts it into a fresh database
(another home on SQLite, another database on PostgreSQL). Every letter accepted before the
backup started must be there, with every event it had by then, and nothing the source never
had; the restored database passes its integrity checks and is at the newest migration.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from support.connector_world import connector_environment, connector_settings, prepare_connector
from support.postgres import POSTGRES_URL, postgres_schema_url
from support.world import (
    BERTIL,
    CECILIA,
    DAVID,
    EVA,
    EXEMPELBOLAGET,
    EXEMPELKOMMUN,
    FILIP,
    GUSTAV,
    IDA,
    KARIN,
    TOLVAN,
    start_reference,
)
from utskick.db.engine import create_database_engine, normalise_url
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.migrations import migrate

UTSKICK = str(Path(sys.executable).with_name("utskick"))
LETTERS = 300
# Three in ten go digitally, the rest on paper or nowhere (docs/test-identities.md).
MIX = [
    (KARIN, "digital-or-paper"),
    (GUSTAV, "digital-only"),
    (EXEMPELBOLAGET, "digital-or-paper"),
    (BERTIL, "digital-or-paper"),
    (CECILIA, "digital-or-paper"),
    (DAVID, "digital-only"),
    (EVA, "digital-or-paper"),
    (FILIP, "digital-or-paper"),
    (IDA, "paper-only"),
    (TOLVAN, "paper-only"),
]
# The worker takes one delivery at a time, so that the batch lasts longer than a command
# takes to start: the backup lands while letters are on their way.
SLOW_WORKER = {
    "UTSKICK_WORKER_THREADS": "1",
    "UTSKICK_DELIVERIES_PER_CLAIM": "1",
    "UTSKICK_DELIVERIES_IN_FLIGHT": "1",
}
# The operators fail a share of deliveries on purpose (late answers, HTTP 500, lost answers),
# as real ones do on a bad night; the worker retries them, which stretches the batch too.
SLOW_OPERATORS = {"failure_rate": 0.3, "failure_delay_seconds": 2.0}
RETRIES = {
    "operator_read_timeout_seconds": 1.0,
    "retry_base_seconds": 0.2,
    "retry_max_seconds": 1.0,
    "worker_poll_seconds": 0.2,
}
STEP_SECONDS = 60


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request, tmp_path):
    """(source URL, target URL): None for SQLite in the home folder; on PostgreSQL a schema
    of the test's own, and a new database to restore into with a schema of the same name."""
    if request.param == "sqlite":
        yield None, None
        return
    with postgres_schema_url("utskick_backup") as source, fresh_database() as target_database:
        yield (
            source,
            make_url(source).set(database=target_database).render_as_string(hide_password=False),
        )


@contextmanager
def fresh_database():
    """The name of a new, empty PostgreSQL database (dropped afterwards)."""
    name = f"utskick_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(normalise_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def utskick(*arguments, env, check=True):
    """Run a `utskick` command as an operator would; its completed process."""
    completed = subprocess.run(
        [UTSKICK, *arguments],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=STEP_SECONDS,
        check=False,
    )
    if check:
        assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def write_batch(path):
    lines = []
    for index in range(LETTERS):
        recipient, policy = MIX[index % len(MIX)]
        letter = {
            "sender": EXEMPELKOMMUN,
            "recipient": recipient,
            "subject": f"Beslut nummer {index}",
            "body": f"Hej! Det här är brev {index} i utskicket.",
            "protection_class": 2,
            "policy": policy,
            "idempotency_key": f"backup-{index}",
        }
        lines.append(json.dumps(letter, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_worker(env, log_path):
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [UTSKICK, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + STEP_SECONDS
    while "Worker igång" not in log_path.read_text(errors="replace"):
        assert worker.poll() is None, log_path.read_text(errors="replace")
        assert time.monotonic() < deadline, "the worker never said it was running"
        time.sleep(0.1)
    return worker


def letters_and_events(engine):
    """{letter id: (state, [(event id, state, reason), …])} as the database holds them now."""
    with Session(engine) as session:
        states = dict(session.execute(select(Letter.id, Letter.state)).all())
        events = {letter_id: [] for letter_id in states}
        rows = session.execute(
            select(
                LetterEvent.letter_id, LetterEvent.event_id, LetterEvent.state, LetterEvent.reason
            ).order_by(LetterEvent.id)
        )
        for letter_id, event_id, state, reason in rows:
            events[letter_id].append((event_id, state, reason))
    return {letter_id: (state, events[letter_id]) for letter_id, state in states.items()}


def outcome_known(engine):
    with Session(engine) as session:
        return session.scalar(
            select(func.count())
            .select_from(Letter)
            .where(Letter.state.in_(list(vocabulary.OUTCOME_KNOWN_STATES)))
        )


def wait_until_under_way(engine, at_least):
    """Wait until the worker has given `at_least` letters their outcome."""
    deadline = time.monotonic() + STEP_SECONDS
    while outcome_known(engine) < at_least:
        assert time.monotonic() < deadline, "the worker gave no letter its outcome"
        time.sleep(0.05)


def test_a_backup_taken_mid_batch_restores_elsewhere_with_every_letter(tmp_path, databases):
    source_url, target_url = databases
    context, infrastructure = start_reference(
        tmp_path / "reference", run_smtp_sink=False, **SLOW_OPERATORS
    )
    engine = None
    try:
        overrides = RETRIES | ({"database_url": source_url} if source_url else {})
        settings = connector_settings(tmp_path / "home", context, **overrides)
        engine, _ = prepare_connector(settings, context)
        env = {**os.environ, **connector_environment(settings), **SLOW_WORKER}
        backup = tmp_path / "säkerhetskopior" / "utskick.backup"
        before_backup, after_backup = back_up_mid_batch(engine, env, backup, tmp_path)
        restored = restore_elsewhere(backup, tmp_path / "restored", target_url)
        try:
            snapshot = letters_and_events(restored)
            assert_sound(restored, engine)
        finally:
            restored.dispose()
    finally:
        if engine is not None:
            engine.dispose()
        infrastructure.stop()

    assert len(before_backup) == LETTERS
    # Mid-batch: in the snapshot some letters have their outcome and some are still on the way.
    open_in_snapshot = [
        letter_id
        for letter_id, (state, _) in snapshot.items()
        if state not in vocabulary.OUTCOME_KNOWN_STATES
    ]
    assert open_in_snapshot, "the batch had ended before the backup: nothing was mid-way"
    assert len(open_in_snapshot) < LETTERS - 10
    assert set(snapshot) == set(before_backup)
    for letter_id, (state, events) in snapshot.items():
        had_before = before_backup[letter_id][1]
        had_after = after_backup[letter_id][1]
        # Every event the letter had when the backup started, and only events it really had.
        assert events[: len(had_before)] == had_before, letter_id
        assert events == had_after[: len(events)], letter_id
        assert state in {event_state for _, event_state, _ in events}, letter_id


def back_up_mid_batch(engine, env, backup, tmp_path):
    """Hand a batch to a running worker, back up once it is under way, stop the worker.

    Returns:
        The letters and their events just before the backup started, and just after it ended.
    """
    worker = start_worker(env, tmp_path / "worker.log")
    try:
        write_batch(tmp_path / "brev.ndjson")
        submitted = utskick("batch", "submit", str(tmp_path / "brev.ndjson"), env=env)
        assert f"{LETTERS} " in submitted.stdout, submitted.stdout
        wait_until_under_way(engine, at_least=10)
        before_backup = letters_and_events(engine)
        backup.parent.mkdir()
        taken = json.loads(utskick("db", "backup", "--out", str(backup), "--json", env=env).stdout)
        after_backup = letters_and_events(engine)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=STEP_SECONDS) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert taken["check"] == "ok"
    assert taken["revision"] == migrate.head_revision()
    assert taken["bytes"] == backup.stat().st_size
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    return before_backup, after_backup


def restore_elsewhere(backup, home, target_url):
    """`utskick db restore` on the other machine: another home, the target database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("UTSKICK_")}
    env["UTSKICK_HOME"] = str(home)
    if target_url:
        env["UTSKICK_DATABASE_URL"] = target_url
    report = json.loads(utskick("db", "restore", str(backup), "--json", env=env).stdout)
    assert report["check"] == "ok"
    assert report["replaced"] is False
    assert (report["standing"], report["next_step"]) == ("head", None)
    return create_database_engine(target_url or f"sqlite:///{home / 'utskick.db'}")


def assert_sound(restored, source):
    """The restored database is at the newest migration and whole: pages, keys, constraints."""
    assert migrate.current_revision(restored) == migrate.head_revision()
    if restored.dialect.name == "sqlite":
        database = make_url(str(restored.url)).database
        with sqlite3.connect(database) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        return
    assert constraints_and_indexes(restored) == constraints_and_indexes(source)


def constraints_and_indexes(engine):
    """Every constraint (validated or not) and index of the installation's schema, by name."""
    with engine.connect() as connection:
        constraints = connection.execute(
            text(
                "SELECT conname, contype, convalidated FROM pg_constraint "
                "WHERE connamespace = current_schema()::regnamespace ORDER BY conname"
            )
        ).all()
        indexes = connection.execute(
            text("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() ORDER BY 1")
        ).all()
    assert constraints
    assert indexes
    return constraints, indexes


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_restore_refuses_a_database_with_tables_and_says_to_upgrade_an_older_backup(tmp_path, kind):
    with database_pair(kind, tmp_path) as (source_url, target_url):
        source = create_database_engine(source_url)
        migrate.upgrade(source, "2026_12_07_0014")
        source.dispose()
        source_env = {**os.environ, "UTSKICK_HOME": str(tmp_path / "a")}
        source_env["UTSKICK_DATABASE_URL"] = source_url
        backup = tmp_path / "gammal.backup"
        utskick("db", "backup", "--out", str(backup), env=source_env)
        again = utskick("db", "backup", "--out", str(backup), env=source_env, check=False)
        assert again.returncode == 2
        assert "skrivs aldrig över" in again.stderr

        target_env = {**source_env, "UTSKICK_DATABASE_URL": target_url}
        restored = utskick("db", "restore", str(backup), env=target_env)
        assert "kör utskick db upgrade" in " ".join(restored.stdout.split())
        refused = utskick("db", "restore", str(backup), env=target_env, check=False)
        assert refused.returncode == 2
        assert "innehåller redan" in refused.stderr
        assert "--yes" in refused.stderr
        replaced = utskick("db", "restore", str(backup), "--yes", "--json", env=target_env)
        report = json.loads(replaced.stdout)
        assert (report["replaced"], report["standing"]) == (True, "older")
        assert (report["revision"], report["next_step"]) == (
            "2026_12_07_0014",
            "utskick db upgrade",
        )

        utskick("db", "upgrade", env=target_env)
        target = create_database_engine(target_url)
        assert migrate.current_revision(target) == migrate.head_revision()
        target.dispose()


@contextmanager
def database_pair(kind, tmp_path):
    """(source URL, empty target URL) of the kind."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b' / 'b.db'}"
        return
    with postgres_schema_url("utskick_backup") as source, fresh_database() as target_database:
        yield (
            source,
            make_url(source).set(database=target_database).render_as_string(hide_password=False),
        )
