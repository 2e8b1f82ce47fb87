"""Four processes starting together on an empty database all migrate it, and only once.

Each process runs `migrate.upgrade` as `utskick serve`, `utskick worker` and `utskick db
upgrade` do at start. They are released at the same moment (a file they wait for), so that
without the migration lock they would create the same tables at once and all but one fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from support.postgres import postgres_schema_url
from utskick.db.engine import create_database_engine
from utskick.migrations import migrate

PROCESSES = 4
_MIGRATE = """
import sys, time
from pathlib import Path
from utskick.db.engine import create_database_engine
from utskick.migrations import migrate
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
migrate.upgrade(create_database_engine(sys.argv[1]))
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'utskick.db'}"
        return
    with postgres_schema_url("utskick_migration_lock") as url:
        yield url


def test_four_processes_starting_together_migrate_once(empty_database, tmp_path):
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, empty_database, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for _ in range(PROCESSES)
    ]
    time.sleep(2.0)  # every process has imported Utskick and waits for the signal
    Path(go).touch()
    results = [(process.wait(120), process.stderr.read()) for process in processes]

    assert [code for code, _ in results] == [0] * PROCESSES, [err[-800:] for _, err in results]
    engine = create_database_engine(empty_database)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert {"letter", "intake_file", "mail_submission"} <= set(
            inspect(engine).get_table_names()
        )
    finally:
        engine.dispose()
