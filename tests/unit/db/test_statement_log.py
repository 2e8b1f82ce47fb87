"""The statement counter for benchmarks: off unless asked for, then one count per driver call,
written by the process to `<file>.<pid>` while it runs and once more at exit."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import create_engine, text

from support.postgres import postgres_schema_url
from utskick.db.engine import (
    STATEMENT_LOG_VARIABLE,
    StatementLog,
    create_database_engine,
    statement_shape,
)


def test_without_the_variable_an_engine_gets_no_counter(monkeypatch, tmp_path):
    monkeypatch.delenv(STATEMENT_LOG_VARIABLE, raising=False)
    engine = create_database_engine(f"sqlite:///{tmp_path / 'utskick.db'}")
    assert len(engine.dispatch.before_cursor_execute) == 0
    assert list(tmp_path.iterdir()) == [tmp_path / "utskick.db"]
    engine.dispose()


def test_each_execute_and_each_executemany_counts_once(tmp_path):
    log = StatementLog(tmp_path / "statements")
    engine = create_engine("sqlite://")
    log.attach(engine)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (n INTEGER)"))
        connection.execute(text("INSERT INTO t (n) VALUES (:n)"), [{"n": 1}, {"n": 2}, {"n": 3}])
        rows = connection.execute(text("SELECT count(*) FROM t")).scalar_one()
    assert rows == 3
    assert log.statements == 3
    log.write()
    written = json.loads((tmp_path / f"statements.{os.getpid()}").read_text())
    assert written["statements"] == 3
    assert written["final"] is False
    assert written["cpu_seconds"] > 0


def test_the_final_count_is_not_replaced_by_a_later_snapshot(tmp_path):
    log = StatementLog(tmp_path / "statements")
    engine = create_engine("sqlite://")
    log.attach(engine)
    log.write(final=True)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    assert log.write() is False
    written = json.loads((tmp_path / f"statements.{os.getpid()}").read_text())
    assert written == {**written, "statements": 0, "final": True}


def test_a_pooled_connection_s_pre_ping_on_postgresql_is_a_call_too(tmp_path):
    with postgres_schema_url("utskick_statements") as url:
        log = StatementLog(tmp_path / "statements")
        engine = create_database_engine(url)
        log.attach(engine)
        for _ in range(2):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        engine.dispose()
    # Two SELECTs; the second checkout of the pooled connection is pinged first (the first
    # connection is new and is not).
    assert log.statements == 3


def test_a_process_with_the_variable_writes_its_count_at_exit(tmp_path):
    program = textwrap.dedent(
        f"""
        from sqlalchemy import text
        from utskick.db.engine import create_database_engine

        engine = create_database_engine({f"sqlite:///{tmp_path / 'utskick.db'}"!r})
        with engine.begin() as connection:
            for _ in range(5):
                connection.execute(text("SELECT 1"))
        """
    )
    child = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, STATEMENT_LOG_VARIABLE: str(tmp_path / "statements")},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    [written] = tmp_path.glob("statements.*")
    snapshot = json.loads(written.read_text())
    assert written.name == f"statements.{snapshot['pid']}"
    assert snapshot["statements"] == 5, child.stderr
    assert snapshot["final"] is True


@pytest.mark.parametrize(
    ("statement", "shape"),
    [
        ("SELECT letter.id, letter.state FROM letter WHERE letter.id IN (?)", "SELECT letter"),
        ('INSERT INTO "letter_event" (event_id) VALUES (?)', "INSERT letter_event"),
        ("UPDATE job SET run_at=? WHERE job.id = ?", "UPDATE job"),
        ("delete from job where id = 1", "DELETE job"),
        ("SELECT 1", "SELECT"),
    ],
)
def test_statements_are_tallied_by_what_they_do_to_which_table(statement, shape):
    assert statement_shape(statement) == shape
