"""`utskick records rules|rule|hold|release|holds|dispose|disposals` on an installation.

The installation's database (SQLite in its home, or a PostgreSQL schema of its own) holds the
demo's senders, message types and records rules, and letters that ended about three years ago
and were kept as records; the commands run as an operator runs them, with settings from the
environment.
"""

import datetime as dt
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from functional.records.ended_letters import ended_letter, make_records, prepare_world
from support.postgres import postgres_schema_url
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli import app
from utskick.letters.content import has_content
from utskick.letters.models import Letter
from utskick.migrations import migrate
from utskick.records.models import DisposalLogEntry, RecordHold, RecordsRule

pytestmark = pytest.mark.storage

# Long enough ago that every "information" letter's content and metadata are due today.
ENDED = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=3 * 366)
CONTENT_DAY = (ENDED + dt.timedelta(days=130)).date().isoformat()  # content due, metadata not


class Installation:
    """A home and database with ended letters, and `utskick records` run on them."""

    def __init__(self, home, url):
        self.engine = create_database_engine(url)
        migrate.upgrade(self.engine)
        self.env = {"UTSKICK_HOME": str(home), "UTSKICK_DATABASE_URL": url, "COLUMNS": "250"}
        with Session(self.engine) as session:
            systems = prepare_world(session)
            made = {
                "held": ended_letter(session, systems.desk, ended_at=ENDED),
                "case": ended_letter(session, systems.desk, ended_at=ENDED,
                                     case_number="KS 2026/12"),
                "free": ended_letter(session, systems.desk, ended_at=ENDED),
                "neighbour": ended_letter(session, systems.desk, ended_at=ENDED,
                                          sender=GRANNKOMMUN, case_number="KS 2026/12"),
                "decision": ended_letter(session, systems.desk, ended_at=ENDED,
                                         message_type="beslut"),
            }  # fmt: skip
            make_records(session, list(made.values()))
            session.commit()
            self.letters = {name: letter.id for name, letter in made.items()}
        self.runner = CliRunner()

    def run(self, *args):
        return self.runner.invoke(app, ["records", *args], env=self.env)

    def json(self, *args):
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def scalar(self, query):
        with Session(self.engine) as session:
            return session.scalar(query)

    def has_content(self, name):
        with Session(self.engine) as session:
            letter = session.get(Letter, self.letters[name])
            return None if letter is None else has_content(letter)


@pytest.fixture(params=["sqlite", "postgresql"])
def installation(request, tmp_path):
    if request.param == "sqlite":
        installation = Installation(tmp_path, f"sqlite:///{tmp_path / 'utskick.db'}")
        yield installation
        installation.engine.dispose()
        return
    with postgres_schema_url("records_cli") as url:
        installation = Installation(tmp_path, url)
        yield installation
        installation.engine.dispose()


class TestRules:
    def test_the_rules_are_listed_in_swedish(self, installation):
        result = installation.run("rules")
        assert result.exit_code == 0, result.output
        for words in ("faktura", "hålls ordnad", "diarieförs", "journalförs",
                      "ingen allmän handling", "84 månader", "tills arkiverat", "bevaras",
                      "Exempel: KS 2026/14 § 3", "alla andra"):  # fmt: skip
            assert words in result.stdout, words

    def test_the_rules_as_json(self, installation):
        rules = {rule["message_type"]: rule for rule in installation.json("rules")}
        assert set(rules) == {"*", "beslut", "faktura", "information", "kallelse"}
        assert rules["faktura"] == {
            "message_type": "faktura",
            "organisation_number": None,
            "rule": "kept_in_order",
            "rule_text": "hålls ordnad",
            "keeper": "system",
            "content_months": 84,
            "metadata_months": 84,
            "decision": "Exempel: KS 2026/14 § 3, räkenskapsinformation gallras efter sju år",
        }

    def test_an_organisation_gets_a_rule_of_its_own(self, installation):
        result = installation.run(
            "rule", "faktura", "--regel", "Diarieförs", "--förvaras", "utskick",
            "--innehåll-månader", "12", "--uppgifter-månader", "36",
            "--beslut", "KS 2026/99 § 1", "--org", "202100-4748",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "diarieförs, bevaras av Utskick" in result.stdout
        rules = installation.json("rules")
        ours = [r for r in rules if r["organisation_number"] == EXEMPELKOMMUN]
        assert [(r["message_type"], r["rule"], r["keeper"], r["content_months"],
                 r["metadata_months"], r["decision"]) for r in ours] == [
            ("faktura", "register", "utskick", 12, 36, "KS 2026/99 § 1")
        ]  # fmt: skip

    def test_options_may_be_typed_without_swedish_letters(self, installation):
        result = installation.run(
            "rule", "kallelse", "--regel", "hålls ordnad", "--forvaras", "system",
            "--innehall-manader", "6", "--uppgifter-manader", "6", "--beslut", "SN 1",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        [kallelse] = [r for r in installation.json("rules") if r["message_type"] == "kallelse"]
        assert (kallelse["rule"], kallelse["content_months"]) == ("kept_in_order", 6)

    @pytest.mark.parametrize(
        ("args", "says"),
        [
            (["--regel", "hålls ordnad", "--uppgifter-månader", "12"], "gallringsbeslutet"),
            (["--regel", "arkiveras"], "Okänd arkivregel"),
            (["--regel", "diarieförs", "--förvaras", "kommunen"], "Okänd förvarare"),
            (["--regel", "diarieförs", "--org", "123"], "--org ska vara ett organisationsnummer"),
        ],
    )
    def test_a_rule_that_cannot_be_is_refused_and_nothing_changes(self, installation, args, says):
        before = installation.json("rules")
        result = installation.run("rule", "faktura", *args)
        assert result.exit_code == 2
        assert says in result.stderr
        assert installation.json("rules") == before

    def test_a_type_nobody_configured_is_pointed_out(self, installation):
        result = installation.run("rule", "bygglov", "--regel", "diarieförs")
        assert result.exit_code == 0, result.output
        assert "ingen meddelandetyp bygglov är konfigurerad" in result.stdout


class TestHolds:
    def test_holds_are_placed_listed_and_released(self, installation):
        on_letter = installation.run(
            "hold", "--brev", installation.letters["held"], "--skäl", "Begärd av JO"
        )
        assert on_letter.exit_code == 0, on_letter.output
        assert "är lagd på brevet" in on_letter.stdout
        on_case = installation.run(
            "hold", "--ärende", " ks 2026/12", "--org", "202100-4748", "--skal", "Överklagat"
        )
        assert on_case.exit_code == 0, on_case.output
        assert "den gäller nu 1 brev" in on_case.stdout  # Grannkommun's letter is not theirs

        holds = installation.json("holds")
        assert [(h["letter_id"], h["case_number"], h["reason"], h["letters"]) for h in holds] == [
            (installation.letters["held"], None, "Begärd av JO", 1),
            (None, "ks 2026/12", "Överklagat", 1),
        ]
        table = installation.run("holds")
        assert "202100-4748" in table.stdout
        assert "ärendet ks 2026/12" in table.stdout

        released = installation.run("release", str(holds[0]["id"]))
        assert released.exit_code == 0, released.output
        assert [h["id"] for h in installation.json("holds")] == [holds[1]["id"]]
        again = installation.run("release", str(holds[0]["id"]))
        assert again.exit_code == 2
        assert "redan hävd" in again.stderr

    @pytest.mark.parametrize(
        ("args", "says"),
        [
            (["--skäl", "x"], "ange antingen --brev eller --ärende"),
            (["--ärende", "KS 1", "--skäl", "x"], "ange organisationen med --org"),
            (["--brev", "00000000-0000-4000-8000-000000000000", "--skäl", "x"], "inget brev"),
            (["--ärende", "KS 1", "--org", "202100-4748", "--skäl", " "], "Ange skälet"),
        ],
    )
    def test_a_hold_that_cannot_be_is_refused(self, installation, args, says):
        result = installation.run("hold", *args)
        assert result.exit_code == 2
        assert says in result.stderr
        assert installation.scalar(select(func.count()).select_from(RecordHold)) == 0


class TestDisposal:
    def test_a_dry_run_counts_what_would_go_and_changes_nothing(self, installation):
        installation.run("hold", "--brev", installation.letters["held"], "--skäl", "JO")
        planned = installation.json("dispose", "--dry-run", "--idag", CONTENT_DAY)
        assert planned["dry_run"] is True
        assert planned["held"] == 1
        assert sorted((c["organisation_number"], c["message_type"], c["what"], c["count"])
                      for c in planned["counts"]) == [
            (EXEMPELKOMMUN, "information", "content", 2),
            (GRANNKOMMUN, "information", "content", 1),
        ]  # fmt: skip
        assert installation.has_content("free")
        assert installation.scalar(select(func.count()).select_from(DisposalLogEntry)) == 0

    def test_disposal_on_a_day_then_today_and_its_log(self, installation):
        installation.run("hold", "--brev", installation.letters["held"], "--skäl", "JO")
        result = installation.run("dispose", "--idag", CONTENT_DAY)
        assert result.exit_code == 0, result.output
        assert "3 gallrades" in result.stdout
        assert "1 brev som är på tur har en spärr och lämnas kvar" in result.stdout
        assert not installation.has_content("free")
        assert installation.has_content("held")

        today = installation.json("dispose")
        assert sorted((c["organisation_number"], c["what"], c["count"])
                      for c in today["counts"]) == [
            (EXEMPELKOMMUN, "metadata", 2),
            (GRANNKOMMUN, "metadata", 1),
        ]  # fmt: skip
        assert installation.has_content("free") is None  # the letter is gone
        assert installation.has_content("decision")  # beslut: kept until archived

        log = installation.json("disposals", "--org", "2021004748")
        assert sorted((e["what"], e["count"], e["actor"]) for e in log) == [
            ("content", 2, "cli"),
            ("metadata", 2, "cli"),
        ]
        assert log[0]["oldest"] == ENDED.isoformat()
        table = installation.run("disposals")
        for words in ("hela brevet", "innehåll", "202100-4748", "Exempel: KS 2026/14 § 4"):
            assert words in table.stdout, words

    def test_disposal_ahead_of_its_day_is_refused(self, installation):
        future = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=400)).isoformat()
        result = installation.run("dispose", "--idag", future)
        assert result.exit_code == 2
        assert "ligger i framtiden" in result.stderr
        assert "--dry-run" in result.stderr
        assert installation.has_content("free")

    def test_a_day_that_is_no_date_is_refused(self, installation):
        result = installation.run("dispose", "--idag", "31/12/2026")
        assert result.exit_code == 2
        assert "skriv ÅÅÅÅ-MM-DD" in result.stderr

    def test_nothing_disposed_yet_says_so(self, installation):
        result = installation.run("disposals")
        assert result.exit_code == 0
        assert "Ingenting har gallrats ännu." in result.stdout
        assert installation.scalar(select(func.count()).select_from(RecordsRule)) == 5
