"""`utskick message-types list|add|change` on an installation (SQLite and PostgreSQL).

A type's records rule is the one `utskick records rule` sets: `--regel` changes the same row.
A refused command says why in Swedish and changes nothing, neither the type nor its rule.
"""

import pytest
from sqlalchemy import select

from functional.admin_cli import installation_of
from utskick.letters.models import MessageType
from utskick.records.models import RecordsRule

pytestmark = pytest.mark.storage


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(request, tmp_path_factory):
    with installation_of(request.param, tmp_path_factory.mktemp("types")) as installation:
        yield installation


def stored(installation, code):
    with installation.session() as session:
        found = session.get(MessageType, code)
        rule = session.scalar(
            select(RecordsRule).where(
                RecordsRule.message_type == code, RecordsRule.organisation_number.is_(None)
            )
        )
        return (
            (found.name, found.protection_class) if found else None,
            (rule.rule, rule.keeper, rule.content_months, rule.decision) if rule else None,
        )


class TestList:
    def test_the_types_are_listed_with_class_and_rule_in_swedish(self, installation):
        result = installation.run("message-types", "list")

        assert result.exit_code == 0, result.output
        for words in ("beslut", "Beslut", "diarieförs", "faktura", "hålls ordnad"):
            assert words in result.stdout

    def test_the_types_as_json(self, installation):
        types = {found["code"]: found for found in installation.json("message-types", "list")}

        assert types["beslut"] == {
            "code": "beslut",
            "name": "Beslut",
            "protection_class": 2,
            "records_rule": "register",
            "records_rule_text": "diarieförs",
            "records_rule_own": True,
        }


class TestAdd:
    def test_a_type_is_added_with_its_class_and_rule(self, installation):
        added = installation.json(
            "message-types", "add", "bygglov", "Beslut om bygglov", "--klass", "3",
            "--registreringsregel", "journalförs",
        )  # fmt: skip

        assert (added["protection_class"], added["records_rule"]) == (3, "journal")
        assert added["records_rule_own"] is True
        assert stored(installation, "bygglov") == (
            ("Beslut om bygglov", 3),
            ("journal", "system", None, None),
        )

    def test_a_type_without_a_rule_follows_the_rule_for_every_other_type(self, installation):
        result = installation.run("message-types", "add", "kvitto", "Kvitto", "--klass", "1")

        assert result.exit_code == 0, result.output
        assert "hålls ordnad (regeln för alla andra typer)" in result.stdout
        assert stored(installation, "kvitto") == (("Kvitto", 1), None)

    @pytest.mark.parametrize(
        ("args", "says"),
        [
            (["tomt", "Tomt", "--klass", "5"], "skyddsklassen 5 finns inte; ange 1, 2, 3 eller 4"),
            (["med mellanslag", "Namn", "--klass", "2"], "koden 'med mellanslag' går inte"),
            (["*", "Alla", "--klass", "2"], "koden '*' går inte att använda"),
            (["tomt", "  ", "--klass", "2"], "namnet ska ha 1–256 tecken"),
            (["tomt", "Tomt", "--klass", "2", "--regel", "arkiveras"], "Okänd arkivregel"),
            (["beslut", "Beslut igen", "--klass", "2"], "meddelandetypen beslut finns redan"),
        ],
    )
    def test_what_cannot_be_a_type_is_refused_and_nothing_is_added(self, installation, args, says):
        before = stored(installation, "beslut")

        installation.refused("message-types", "add", *args, "--json", says=says)

        assert stored(installation, "tomt") == (None, None)
        assert stored(installation, "beslut") == before


class TestChange:
    def test_name_and_class_change(self, installation):
        installation.json("message-types", "add", "delgivning", "Delgivning", "--klass", "2")

        changed = installation.json(
            "message-types", "change", "delgivning", "--namn", "Delgivning av beslut",
            "--klass", "3",
        )  # fmt: skip

        assert (changed["name"], changed["protection_class"]) == ("Delgivning av beslut", 3)
        assert stored(installation, "delgivning")[0] == ("Delgivning av beslut", 3)

    def test_the_rule_changes_as_records_rule_changes_it_and_keeps_the_rest(self, installation):
        # faktura's demo rule disposes of content after 84 months on a decision: both stay.
        changed = installation.json("message-types", "change", "faktura", "--regel", "diarieförs")

        assert changed["records_rule"] == "register"
        assert stored(installation, "faktura")[1] == (
            "register",
            "system",
            84,
            "Exempel: KS 2026/14 § 3, räkenskapsinformation gallras efter sju år",
        )

    @pytest.mark.parametrize(
        ("args", "says"),
        [
            (["beslut", "--klass", "0"], "skyddsklassen 0 finns inte"),
            (["beslut", "--klass", "4", "--regel", "arkiveras"], "Okänd arkivregel"),
            (["beslut", "--namn", ""], "namnet ska ha 1–256 tecken"),
            (["saknas", "--klass", "2"], "det finns ingen meddelandetyp 'saknas'"),
            (["beslut"], "ange vad som ska ändras: --namn, --klass eller --regel"),
        ],
    )
    def test_a_refused_change_changes_nothing(self, installation, args, says):
        before = stored(installation, "beslut")

        installation.refused("message-types", "change", *args, says=says)

        assert stored(installation, "beslut") == before
