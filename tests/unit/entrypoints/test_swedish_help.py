"""`--help` speaks Swedish, also in the words Typer itself adds."""

import pytest
from typer.testing import CliRunner

from utskick.entrypoints.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    "command", [[], ["users", "add"], ["bench", "massutskick"], ["send"], ["batch", "submit"]]
)
def test_help_has_no_english_words_of_typer(command):
    shown = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "Visa den här hjälpen och avsluta." in shown.output
    for english in ("Show this message", "Options", "Commands", "[default:", "[required]"):
        assert english not in shown.output
