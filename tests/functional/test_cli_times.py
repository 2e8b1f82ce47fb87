"""Times the command line shows people: local time in `print_timezone`, with the zone named.

`shown_time` is the one helper every command uses; `utskick print batches` and `utskick users
list` run here on an installation with seeded print batches and demo users. JSON output keeps
ISO 8601 in UTC.
"""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from functional.print_letters import SOCIAL, VENDOR, seed_batches
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli import app
from utskick.entrypoints.cli.common import shown_time
from utskick.migrations import migrate
from utskick.printing.models import PrintBatch
from utskick.settings import Settings
from utskick.web.users import UserRepository

WINTER = dt.datetime(2026, 12, 6, 13, 3, 9, tzinfo=dt.UTC)
SUMMER = dt.datetime(2026, 6, 6, 12, 3, 9, tzinfo=dt.UTC)
PASSWORD = "ett långt lösenord för testet\n"


@pytest.mark.parametrize(
    ("moment", "zone", "seconds", "expected"),
    [
        (WINTER, "Europe/Stockholm", False, "2026-12-06 14:03 CET"),
        (SUMMER, "Europe/Stockholm", False, "2026-06-06 14:03 CEST"),
        (WINTER, "Europe/Stockholm", True, "2026-12-06 14:03:09 CET"),
        # SQLite gives naive times back; they are UTC.
        (WINTER.replace(tzinfo=None), "Europe/Stockholm", False, "2026-12-06 14:03 CET"),
        (WINTER, "Europe/Helsinki", False, "2026-12-06 15:03 EET"),
        (None, "Europe/Stockholm", False, "–"),
    ],
)
def test_a_time_is_shown_local_with_its_zone_named(moment, zone, seconds, expected):
    assert shown_time(moment, zone, seconds=seconds) == expected


def test_an_unknown_zone_says_which_setting_to_fix(capsys):
    with pytest.raises(typer.Exit):
        shown_time(WINTER, "Europe/Atlantis")
    assert (
        "UTSKICK_PRINT_TIMEZONE='Europe/Atlantis' är ingen känd tidszon" in capsys.readouterr().err
    )


@pytest.fixture
def installation(tmp_path):
    """A home with Socialtjänsten's exception list, a vendor batch and one user."""
    drop = tmp_path / "drop"
    engine = create_database_engine(f"sqlite:///{tmp_path / 'utskick.db'}")
    migrate.upgrade(engine)
    settings = Settings(
        home=tmp_path,
        print_local_departments=[SOCIAL],
        print_vendors=[{"name": VENDOR, "drop": drop}],
    )
    seed_batches(engine, settings)
    env = {
        "UTSKICK_HOME": str(tmp_path),
        "UTSKICK_DATABASE_URL": None,
        "UTSKICK_PRINT_LOCAL_DEPARTMENTS": json.dumps([SOCIAL]),
        "UTSKICK_PRINT_VENDORS": json.dumps([{"name": VENDOR, "drop": str(drop)}]),
        "UTSKICK_PRINT_TIMEZONE": None,
        "COLUMNS": "250",
    }
    _run(env, "users", "add", "ada", "--role", "admin", "--password-stdin", input=PASSWORD)
    yield engine, env
    engine.dispose()


def _run(env, *args, input=None):  # noqa: A002 (CliRunner's name for standard input)
    result = CliRunner().invoke(app, list(args), env=env, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _local(moment, zone):
    """What a person should read, worked out here without the command's helper."""
    return moment.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


@pytest.mark.parametrize("zone", ["Europe/Stockholm", "Europe/Helsinki"])
def test_print_batches_shows_when_each_batch_closes_in_the_print_zone(installation, zone):
    engine, env = installation
    with Session(engine) as session:
        closes = list(session.scalars(select(PrintBatch.closes_at)))
    output = _run({**env, "UTSKICK_PRINT_TIMEZONE": zone}, "print", "batches")
    assert closes
    for moment in closes:
        assert _local(moment, zone) in output, output
    assert "UTC" not in output


def test_print_batches_json_keeps_iso_8601_in_utc(installation):
    _, env = installation
    batches = json.loads(_run(env, "print", "batches", "--json"))
    for batch in batches:
        created = dt.datetime.fromisoformat(batch["created_at"])
        assert "T" in batch["created_at"]
        assert created.utcoffset() == dt.timedelta(0)
        assert dt.datetime.fromisoformat(batch["closes_at"]).utcoffset() == dt.timedelta(0)


def test_users_list_shows_when_each_person_was_added_in_local_time(installation):
    engine, env = installation
    with Session(engine) as session:
        created = [user.created_at for user in UserRepository(session).all()]
    output = _run(env, "users", "list")
    assert created
    for moment in created:
        assert _local(moment, "Europe/Stockholm") in output, output
