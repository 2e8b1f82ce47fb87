"""`utskick sources list|poll|check` on an installation whose sources file names a watched
folder, as an operator runs them (settings from the environment)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from utskick.entrypoints.cli.sources import sources_app

pytestmark = pytest.mark.storage

SOURCES = """
[[source]]
name = "ekonomi"
system = "Ekonomisystemet"
folder = "{inbox}"
stable_seconds = 0
message_type = "faktura"

[source.recipient]
rule = "anchor"

[[source]]
name = "socialtjanst"
system = "Ekonomisystemet"
sftp_url = "sftp://utskick@sftp.exempelkommun.se/ut"

[source.recipient]
rule = "control-file"
"""


def _cells(line):
    """A table row's cells (rich draws the columns apart with │)."""
    return [cell.strip() for cell in line.split("│")[1:-1]]


@pytest.fixture
def cli(world):
    world.home.mkdir(parents=True, exist_ok=True)
    (world.home / "sources.toml").write_text(SOURCES.format(inbox=world.inbox), "utf-8")
    env = {
        "UTSKICK_HOME": str(world.home),
        "UTSKICK_DATABASE_URL": world.url,
        "UTSKICK_EMBEDDED_REFERENCE": "false",
        "COLUMNS": "250",
    }
    runner = CliRunner()

    def run(*args):
        return runner.invoke(sources_app, list(args), env=env)

    return run


class TestPollAndList:
    def test_poll_takes_the_files_and_says_what_became_of_each(self, cli, world):
        world.drop("fakturor.ndjson", world.ndjson(2))
        world.drop("brev.docx", b"PK")

        result = cli("poll", "ekonomi")

        assert result.exit_code == 0, result.output
        assert "fakturor.ndjson: mottagen, 2 brev mottagna, 0 avvisade" in result.output
        assert "brev.docx: avvisad (filtypen .docx tas inte emot" in result.output
        assert world.letter_count() == 2

    def test_poll_with_nothing_new_says_so(self, cli):
        result = cli("poll", "ekonomi")

        assert result.exit_code == 0, result.output
        assert "Inga nya filer hos källan ekonomi." in result.output

    def test_list_shows_each_source_where_it_picks_up_and_its_files(self, cli, world):
        world.drop("fakturor.ndjson", world.ndjson(2))
        world.drop("trasig.ndjson", "inte json\n")
        cli("poll", "ekonomi")

        result = cli("list")

        assert result.exit_code == 0, result.output
        rows = {cells[0]: cells for cells in map(_cells, result.output.splitlines()) if cells}
        assert rows["ekonomi"] == [
            "ekonomi", "Ekonomisystemet", str(world.inbox), "anchor", "1", "1"
        ]  # fmt: skip
        assert rows["socialtjanst"][2:] == [
            "sftp://utskick@sftp.exempelkommun.se/ut", "control-file", "0", "0"
        ]  # fmt: skip

    def test_poll_of_an_unknown_source_says_which_there_are(self, cli):
        result = cli("poll", "okand")

        assert result.exit_code == 2
        assert "det finns ingen källa som heter 'okand'" in result.output


class TestCheck:
    def test_a_good_sources_file_has_no_problems(self, cli, world):
        (world.home / "sources.toml").write_text(
            SOURCES.format(inbox=world.inbox).split('[[source]]\nname = "socialtjanst"')[0],
            "utf-8",
        )

        result = cli("check")

        assert result.exit_code == 0, result.output
        assert "1 källa, inga fel." in result.output

    def test_each_problem_is_said_with_what_to_do(self, cli, world):
        text = SOURCES.format(inbox=world.inbox / "saknas").replace(
            'message_type = "faktura"', 'message_type = "okänd"'
        )
        (world.home / "sources.toml").write_text(
            text.replace('system = "Ekonomisystemet"\nsftp_url', 'system = "Annat"\nsftp_url'),
            "utf-8",
        )

        result = cli("check")

        assert result.exit_code == 1
        output = " ".join(result.output.split())
        assert "källan ekonomi: meddelandetypen 'okänd' finns inte" in output
        assert "källan ekonomi: mappen" in output
        assert "saknas finns inte; skapa den" in output
        assert "källan socialtjanst: systemet 'Annat' finns inte" in output

    def test_a_sources_file_that_cannot_be_read_says_where(self, cli, world):
        (world.home / "sources.toml").write_text("[[source]]\nname = \n", "utf-8")

        result = cli("check")

        assert result.exit_code == 2
        assert "går inte att läsa som TOML" in " ".join(result.output.split())
