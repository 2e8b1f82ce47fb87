"""NDJSON batches dropped in a watched folder: taken once with a receipt per line, refused with
a Swedish reason when they are no NDJSON, never taken twice, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from utskick.intake.pickup.context import DUPLICATE, REFUSED, TAKEN

pytestmark = pytest.mark.storage


class TestTaken:
    def test_the_file_moves_to_behandlade_with_a_receipt_per_line(self, world):
        world.drop(
            "fakturor.ndjson", world.ndjson(3) + "inte json\n" + world.letter_line("1912", 9) + "\n"
        )

        report = world.poll()

        [outcome] = report.files
        assert (outcome.name, outcome.result) == ("fakturor.ndjson", TAKEN)
        assert (outcome.accepted, outcome.rejected) == (3, 2)
        assert world.files() == []
        assert world.files("behandlade") == ["fakturor.ndjson", "fakturor.ndjson.kvitto.json"]
        assert world.files("pågående") == []
        receipt = world.receipt("fakturor.ndjson")
        assert (receipt["file"], receipt["accepted"], receipt["rejected"]) == (
            "fakturor.ndjson",
            3,
            2,
        )
        lines = receipt["letters"]
        assert [line["line"] for line in lines] == [1, 2, 3, 4, 5]
        assert [line["accepted"] for line in lines] == [True, True, True, False, False]
        assert lines[0]["recipient"] == world.persons[1]
        assert "inte giltig JSON" in lines[3]["reason"]
        assert lines[4]["recipient"] == "1912"
        assert lines[4]["field"] == "recipient"

    def test_each_accepted_line_is_one_letter_of_the_files_batch(self, world):
        world.drop("fakturor.ndjson", world.ndjson(4))

        report = world.poll()

        [outcome] = report.files
        letters = world.letters()
        assert len(letters) == 4
        assert {letter.batch_id for letter in letters} == {outcome.batch_id}
        receipt = world.receipt("fakturor.ndjson")
        assert sorted(line["letter_id"] for line in receipt["letters"]) == sorted(
            letter.id for letter in letters
        )
        [row] = world.rows()
        assert (row.state, row.kind, row.accepted, row.rejected) == ("done", "ndjson", 4, 0)
        assert row.batch_id == outcome.batch_id
        assert row.receipt["done_name"] == "fakturor.ndjson"

    def test_what_a_line_does_not_say_is_the_sources(self, world):
        world.drop("brev.ndjson", world.letter_line(world.persons[0], 1, message_type=None) + "\n")
        source = world.source(department="Ekonomi", message_type="beslut")

        world.poll(source)

        [letter] = world.letters()
        assert (letter.sender_number, letter.department) == ("2021004748", "Ekonomi")
        assert letter.message_type == "beslut"

    def test_a_jsonl_file_is_taken_too(self, world):
        world.drop("brev.jsonl", world.ndjson(2))

        [outcome] = world.poll().files

        assert (outcome.result, outcome.accepted) == (TAKEN, 2)


class TestNeverTwice:
    def test_the_same_content_dropped_again_goes_to_fel_and_nothing_is_sent_again(self, world):
        world.drop("fakturor.ndjson", world.ndjson(3))
        world.poll()
        world.drop("fakturor-igen.ndjson", world.ndjson(3))

        [outcome] = world.poll().files

        assert outcome.result == DUPLICATE
        assert world.letter_count() == 3
        assert world.files("fel") == ["fakturor-igen.ndjson", "fakturor-igen.ndjson.fel.txt"]
        reason = world.reason("fakturor-igen.ndjson")
        assert "samma innehåll som fakturor.ndjson" in reason
        assert "2026-12-07 10:00 CET" in reason
        assert "Ingenting skickades igen" in reason
        assert len(world.rows()) == 1

    def test_a_file_of_the_same_name_and_content_is_a_duplicate_too(self, world):
        world.drop("fakturor.ndjson", world.ndjson(2))
        world.poll()
        world.drop("fakturor.ndjson", world.ndjson(2))

        [outcome] = world.poll().files

        assert outcome.result == DUPLICATE
        assert world.files("behandlade") == ["fakturor.ndjson", "fakturor.ndjson.kvitto.json"]
        assert world.files("fel") == ["fakturor.ndjson", "fakturor.ndjson.fel.txt"]
        assert world.letter_count() == 2

    def test_new_content_under_a_name_taken_before_is_taken_beside_it(self, world):
        world.drop("fakturor.ndjson", world.ndjson(2))
        world.poll()
        world.drop("fakturor.ndjson", world.ndjson(2, first=10))

        [outcome] = world.poll().files

        assert outcome.result == TAKEN
        assert world.letter_count() == 4
        assert world.files("behandlade") == [
            "fakturor.20261207-100000.ndjson",
            "fakturor.20261207-100000.ndjson.kvitto.json",
            "fakturor.ndjson",
            "fakturor.ndjson.kvitto.json",
        ]


class TestRefused:
    @pytest.mark.parametrize(
        ("content", "says"),
        [
            ("", "är tom"),
            ("\n\n", "är tom"),
            ('[{"recipient": "191212121212"}]\n', "rad 1 är inget JSON-objekt"),
            ("mottagare;ämne\n191212121212;Hej\n", "rad 1 är inget JSON-objekt"),
        ],
    )
    def test_a_file_that_is_no_ndjson_goes_to_fel_with_the_reason(self, world, content, says):
        world.drop("trasig.ndjson", content)

        [outcome] = world.poll().files

        assert outcome.result == REFUSED
        assert world.files("fel") == ["trasig.ndjson", "trasig.ndjson.fel.txt"]
        reason = world.reason("trasig.ndjson")
        assert says in reason
        assert "Utskick tog inte emot filen trasig.ndjson från källan ekonomi" in reason
        assert "Inga brev i filen har skickats" in reason
        [row] = world.rows()
        assert (row.state, row.batch_id) == ("refused", None)
        assert says in row.reason
        assert world.letter_count() == 0

    def test_the_same_refused_content_is_refused_again_and_its_row_updated(self, world):
        world.drop("trasig.ndjson", "inte json\n")
        world.poll()
        world.now = world.now.replace(hour=11)
        world.drop("trasig-igen.ndjson", "inte json\n")

        [outcome] = world.poll().files

        assert outcome.result == REFUSED
        [row] = world.rows()
        assert (row.state, row.name) == ("refused", "trasig-igen.ndjson")
        assert row.received_at.replace(tzinfo=None) == world.now.replace(tzinfo=None)
        assert world.files("fel") == [
            "trasig-igen.ndjson",
            "trasig-igen.ndjson.fel.txt",
            "trasig.ndjson",
            "trasig.ndjson.fel.txt",
        ]

    def test_the_file_fixed_is_taken(self, world):
        world.drop("fakturor.ndjson", "inte json\n")
        world.poll()
        world.drop("fakturor.ndjson", world.ndjson(2))

        [outcome] = world.poll().files

        assert (outcome.result, outcome.accepted) == (TAKEN, 2)
        assert [row.state for row in world.rows()] == ["refused", "done"]

    def test_a_file_of_a_kind_not_taken_goes_to_fel_saying_what_is_taken(self, world):
        world.drop("brev.docx", b"PK\x03\x04")

        [outcome] = world.poll().files

        assert outcome.result == REFUSED
        reason = world.reason("brev.docx")
        assert "filtypen .docx tas inte emot" in reason
        assert "(.ndjson, .jsonl)" in reason
        assert world.files("fel") == ["brev.docx", "brev.docx.fel.txt"]
        assert world.rows() == []


class TestSetup:
    def test_a_source_whose_system_is_missing_leaves_its_files_where_they_are(self, world):
        from utskick.intake.pickup.context import PickupSetupError

        world.drop("fakturor.ndjson", world.ndjson(1))

        with pytest.raises(PickupSetupError, match="systemet 'Okänt', som inte finns"):
            world.poll(world.source(system="Okänt"))

        assert world.files() == ["fakturor.ndjson"]
        assert world.files("pågående") == []
