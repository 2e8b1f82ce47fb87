"""`utskick print batches|list|close|handover|download|mark-printed` on an installation.

The installation's home holds a SQLite database with Socialtjänsten's open exception list
(three letters, one to a person with protected identity) and Byggnadsnämnden's open vendor
batch (two letters); the vendor's drop is a folder in the home. Settings come from the
environment, as for a real operator (`UTSKICK_HOME`, `UTSKICK_PRINT_*`).
"""

import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from functional.print_letters import (
    BYGG,
    SECRET_STREET,
    SOCIAL,
    VENDOR,
    letter_states,
    new_database,
    seed_batches,
    seed_neighbour_batch,
)
from support.world import GRANNKOMMUN
from utskick.entrypoints.cli import app
from utskick.letters.models import LetterEvent
from utskick.printing.models import PrintBatch
from utskick.settings import Settings

UNKNOWN_BATCH = "00000000-0000-4000-8000-000000000000"


class Installation:
    """A home with seeded print batches, and the `utskick print` command run on it."""

    def __init__(self, home):
        self.home = home
        self.drop = home / "drop"
        self.env = {
            "UTSKICK_HOME": str(home),
            "UTSKICK_DATABASE_URL": None,  # the home's SQLite file, whatever the shell says
            "UTSKICK_PRINT_LOCAL_DEPARTMENTS": json.dumps([SOCIAL]),
            "UTSKICK_PRINT_VENDORS": json.dumps([{"name": VENDOR, "drop": str(self.drop)}]),
            "COLUMNS": "250",
        }
        self.engine = new_database(home / "utskick.db", "ett-lösenord-som-inte-används")
        settings = Settings(
            home=home,
            print_local_departments=[SOCIAL],
            print_vendors=[{"name": VENDOR, "drop": self.drop}],
        )
        self.settings = settings
        self.letters, self.batches = seed_batches(self.engine, settings)
        self.runner = CliRunner()

    def run(self, *args):
        return self.runner.invoke(app, ["print", *args], env=self.env)

    def state(self, department):
        with Session(self.engine) as session:
            return session.get(PrintBatch, self.batches[department]).state

    def events(self, state):
        with Session(self.engine) as session:
            return session.scalar(
                select(func.count()).select_from(LetterEvent).where(LetterEvent.state == state)
            )


@pytest.fixture
def installation(tmp_path):
    installation = Installation(tmp_path)
    yield installation
    installation.engine.dispose()


def ok(result):
    assert result.exit_code == 0, result.output
    return result.output


class TestBatches:
    def test_the_table_shows_each_batch_with_route_department_and_state(self, installation):
        output = ok(installation.run("batches"))
        for batch_id in installation.batches.values():
            assert batch_id in output
        assert SOCIAL in output
        assert BYGG in output
        assert "lokal" in output
        assert "öppen" in output

    def test_an_80_column_terminal_shows_each_batch_id_whole(self, installation):
        # The id is what `print close <batch-id>` takes, so a cut id would leave the reader
        # of the README's tour nothing to type.
        result = installation.runner.invoke(
            app, ["print", "batches"], env={**installation.env, "COLUMNS": "80"}
        )
        output = ok(result)
        for batch_id in installation.batches.values():
            assert batch_id in output

    def test_json_lists_the_batches_and_filters_narrow_them(self, installation):
        every = json.loads(ok(installation.run("batches", "--json")))
        assert {batch["department"] for batch in every} == {SOCIAL, BYGG}
        local = json.loads(ok(installation.run("batches", "--json", "--local")))
        assert [(batch["route"], batch["letters"]) for batch in local] == [("lokal", 3)]
        vendor = json.loads(ok(installation.run("batches", "--json", "--department", BYGG)))
        assert [batch["route"] for batch in vendor] == [VENDOR]

    def test_each_batch_names_its_organisation_and_org_narrows_to_one(self, installation):
        _letters, neighbour = seed_neighbour_batch(installation.engine, installation.settings)
        output = ok(installation.run("batches"))
        assert "202100-4748" in output
        assert "202100-9903" in output
        theirs = json.loads(ok(installation.run("batches", "--json", "--org", "202100-9903")))
        assert [(batch["id"], batch["sender"]) for batch in theirs] == [(neighbour, GRANNKOMMUN)]

    def test_an_org_that_is_no_organisation_number_is_refused(self, installation):
        result = installation.run("batches", "--org", "19121212-1212")
        assert result.exit_code == 2
        assert "--org ska vara ett organisationsnummer" in result.output

    def test_an_unknown_state_is_refused_in_swedish(self, installation):
        result = installation.run("batches", "--state", "klar")
        assert result.exit_code == 2
        assert "okänt läge 'klar'" in result.output


class TestList:
    def test_the_list_shows_each_letter_and_never_a_protected_address(self, installation):
        output = ok(installation.run("list", installation.batches[SOCIAL]))
        assert "Anna Andersson, 123 45 Exempelby" in output
        assert "Beslut om försörjningsstöd" in output
        assert "skyddad identitet" in output
        assert SECRET_STREET not in output
        assert "Petra" not in output


class TestClose:
    def test_closing_an_exception_list_leaves_it_ready_to_print(self, installation):
        output = ok(installation.run("close", installation.batches[SOCIAL]))
        assert "Undantagslistan" in output
        assert "stängd" in output
        assert installation.state(SOCIAL) == "closed"
        assert not installation.drop.exists()

    def test_closing_a_vendor_batch_hands_it_to_the_vendors_drop(self, installation):
        output = ok(installation.run("close", installation.batches[BYGG]))
        assert "lämnad till tryckeriet" in output
        assert installation.state(BYGG) == "handed_over"
        [manifest] = installation.drop.glob("*/manifest.json")
        rows = json.loads(manifest.read_text(encoding="utf-8"))["letters"]
        assert {row["letter_id"] for row in rows} == {
            installation.letters["cecilia"],
            installation.letters["anna_bygg"],
        }
        assert installation.events("handed_to_print") == 2

    def test_handing_over_again_says_so_and_changes_nothing(self, installation):
        ok(installation.run("close", installation.batches[BYGG]))
        before = sorted(path.name for path in installation.drop.iterdir())
        output = ok(installation.run("handover", installation.batches[BYGG]))
        assert "redan lämnad till tryckeriet" in output
        assert sorted(path.name for path in installation.drop.iterdir()) == before
        assert installation.events("handed_to_print") == 2

    def test_an_exception_list_is_not_handed_to_a_vendor(self, installation):
        ok(installation.run("close", installation.batches[SOCIAL]))
        result = installation.run("handover", installation.batches[SOCIAL])
        assert result.exit_code == 2
        assert "undantagslista" in result.output
        assert installation.state(SOCIAL) == "closed"


class TestDownload:
    def test_download_writes_one_pdf_with_a_page_per_letter(self, installation, tmp_path):
        out = tmp_path / "lista.pdf"
        output = ok(installation.run("download", installation.batches[SOCIAL], "--out", str(out)))
        assert "3 brev" in output
        pages = [page.extract_text() for page in PdfReader(io.BytesIO(out.read_bytes())).pages]
        assert len(pages) == 3
        for subject in ("Beslut om försörjningsstöd", "Kallelse till möte"):
            assert sum(subject in page for page in pages) == 1
        assert all(SECRET_STREET not in page for page in pages)

    def test_download_to_a_folder_that_does_not_exist_fails_in_swedish(
        self, installation, tmp_path
    ):
        out = tmp_path / "saknas" / "lista.pdf"
        result = installation.run("download", installation.batches[SOCIAL], "--out", str(out))
        assert result.exit_code == 2
        assert "kan inte skriva" in result.output
        assert not out.exists()


class TestMarkPrinted:
    def test_an_open_list_cannot_be_marked(self, installation):
        result = installation.run("mark-printed", installation.batches[SOCIAL])
        assert result.exit_code == 2
        assert "fortfarande öppen" in result.output
        assert installation.events("printed") == 0

    def test_marking_a_closed_list_prints_every_letter_once(self, installation):
        batch = installation.batches[SOCIAL]
        ok(installation.run("close", batch))
        assert "3 brev markerade som utskrivna" in ok(installation.run("mark-printed", batch))
        assert "0 brev markerade som utskrivna" in ok(installation.run("mark-printed", batch))
        assert installation.state(SOCIAL) == "printed"
        assert installation.events("printed") == 3
        ours = [installation.letters[name] for name in ("anna", "bertil", "skyddad")]
        assert set(letter_states(installation.engine, ours).values()) == {"printed"}

    def test_marking_named_letters_marks_only_those(self, installation):
        batch, anna = installation.batches[SOCIAL], installation.letters["anna"]
        ok(installation.run("close", batch))
        assert "1 brev markerade" in ok(installation.run("mark-printed", batch, anna))
        assert letter_states(installation.engine, [anna, installation.letters["bertil"]]) == {
            anna: "printed",
            installation.letters["bertil"]: "batched",
        }
        assert installation.state(SOCIAL) == "closed"

    def test_a_letter_not_in_the_list_fails_and_marks_nothing(self, installation):
        batch = installation.batches[SOCIAL]
        ok(installation.run("close", batch))
        result = installation.run(
            "mark-printed", batch, installation.letters["anna"], installation.letters["cecilia"]
        )
        assert result.exit_code == 2
        assert "finns inte i batchen" in result.output
        assert installation.events("printed") == 0


@pytest.mark.parametrize("command", ["close", "handover", "list", "mark-printed", "download"])
def test_an_unknown_batch_fails_with_exit_2_in_swedish(installation, command, tmp_path):
    out = tmp_path / "lista.pdf"
    options = ["--out", str(out)] if command == "download" else []
    result = installation.run(command, UNKNOWN_BATCH, *options)
    assert result.exit_code == 2
    assert f"det finns ingen utskriftsbatch {UNKNOWN_BATCH}" in result.output
    assert installation.state(SOCIAL) == "open"
    assert installation.state(BYGG) == "open"
    assert not out.exists()
