"""`utskick worker` refuses a database that is not at this version's migration."""

import logging

import pytest
from typer.testing import CliRunner

from utskick.entrypoints.cli import app as cli


@pytest.fixture(autouse=True)
def root_logging_put_back():
    """The command sets up logging on the root logger: take its handler away afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_a_worker_on_an_unmigrated_database_says_to_upgrade_and_stops(tmp_path):
    result = CliRunner().invoke(cli, ["worker", "--home", str(tmp_path)])

    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert "databasen är på version ingen" in said
    assert "kör utskick db upgrade först" in said
