"""`utskick records archive export` on an installation: packages, the access log, refusals.

The command group (`archive_app`) is run as the lead mounts it; the installation's home holds
a SQLite database with ended letters of Exempelkommun in March 2026.
"""

import getpass
import json

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from functional.records.ended_letters import at, ended_letter, make_records, prepare_world
from support.world import EXEMPELKOMMUN
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli.records_archive import archive_app
from utskick.migrations import migrate
from utskick.records.models import LetterRecord
from utskick.web.access_log import EXPORT, AccessLogEntry


@pytest.fixture
def home(tmp_path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'utskick.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        systems = prepare_world(session)
        letters = [
            ended_letter(session, systems.desk, message_type="beslut", ended_at=at(day))
            for day in ("2026-03-02", "2026-03-03", "2026-03-04")
        ]
        make_records(session, letters)
    yield tmp_path, engine
    engine.dispose()


# As the lead mounts it: `utskick records archive` (a group of one command stays a group).
records = typer.Typer()
records.add_typer(archive_app, name="archive")


def run(home, *args):
    folder, _engine = home
    # No population register to ask: the letters' own events decide who is masked.
    env = {
        "UTSKICK_HOME": str(folder),
        "UTSKICK_DATABASE_URL": None,
        "UTSKICK_EMBEDDED_REFERENCE": "false",
        "COLUMNS": "200",
    }
    arguments = ["archive", "export", "--home", str(folder), *args]
    return CliRunner().invoke(records, arguments, env=env)


def test_export_writes_the_packages_and_says_where(home):
    folder, engine = home
    target = folder / "arkiv"
    result = run(home, "--org", "202100-4748", "--fran", "2026-03-01", "--till", "2026-03-31",
                 "--mal", str(target), "--brev-per-paket", "2", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["letters"] == 3
    assert [package["letters"] for package in answer["packages"]] == [2, 1]
    for package in answer["packages"]:
        assert (target / package["name"] / "METS.xml").is_file()
    with Session(engine) as session:
        archived = session.scalars(
            select(LetterRecord.archive_package).where(LetterRecord.archived_at.is_not(None))
        ).all()
        entry = session.scalars(select(AccessLogEntry).where(AccessLogEntry.action == EXPORT)).one()
    assert len(archived) == 3
    assert entry.username == getpass.getuser()
    assert entry.organisation_number == EXEMPELKOMMUN


def test_a_period_with_nothing_to_archive_says_so(home):
    result = run(home, "--org", "2021004748", "--fran", "2026-05-01", "--till", "2026-05-31",
                 "--mal", str(home[0] / "arkiv"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Inga brev att arkivera 2026-05-01 – 2026-05-31" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--fran", "2026-13-01", "--till", "2026-03-31"], "--fran ska vara ett datum"),
        (["--fran", "2026-03-31", "--till", "2026-03-01"], "slutar (2026-03-01) före"),
    ],
)
def test_a_wrong_period_is_refused_in_swedish(home, arguments, message):
    target = home[0] / "arkiv"
    result = run(home, "--org", "2021004748", *arguments, "--mal", str(target))
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())
    assert not any(target.glob("utskick-*"))
