"""Print files (with their control files) and tables dropped in a watched folder, on SQLite and
PostgreSQL: a pair is taken together, each waits for the other and is refused after an hour
alone; a print file's rejected letters leave their pages in `fel/`; a table's rows become
letters; a refused file goes to `fel/` with the taker's Swedish reason."""

from __future__ import annotations

import datetime as dt
import io
import os

import openpyxl
import pytest
from pypdf import PdfReader

from support.print_files import RECIPIENTS, anchor_file
from utskick.intake.pickup.context import DUPLICATE, REFUSED, TAKEN
from utskick.intake.sources import RecipientRule

pytestmark = pytest.mark.storage

CONTROL = "Sidor;Personnummer;Ämne\r\n1-2;19121212-1212;Beslut A\r\n3-4;198004232388;Beslut B\r\n"


def _control_source(world, **fields):
    return world.source(
        recipient=RecipientRule(rule="control-file"), message_type="beslut", **fields
    )


def _anchor_source(world):
    return world.source(subject="Faktura från Exempelkommun", message_type="faktura")


def _old(world, *names, seconds=7200):
    for name in names:
        stamp = world.now.timestamp() - seconds
        os.utime(world.inbox / name, (stamp, stamp))


class TestPrintFileWithControlFile:
    def test_the_pair_is_taken_together_and_moved_together(self, world):
        world.drop("fakturor.pdf", anchor_file(RECIPIENTS[:2], 2))
        world.drop("fakturor.csv", CONTROL.encode("utf-8-sig"))

        report = world.poll(_control_source(world))

        [outcome] = report.files
        assert (outcome.name, outcome.result, outcome.accepted) == ("fakturor.pdf", TAKEN, 2)
        assert report.waiting == []
        assert world.files() == []
        assert world.files("behandlade") == [
            "fakturor.csv",
            "fakturor.pdf",
            "fakturor.pdf.kvitto.json",
        ]
        receipt = world.receipt("fakturor.pdf")
        assert receipt["control_file"] == "fakturor.csv"
        assert [(it["first_page"], it["last_page"], it["recipient"]) for it in
                receipt["letters"]] == [(1, 2, "19121212-1212"), (3, 4, "198004232388")]  # fmt: skip
        assert sorted(letter.subject for letter in world.letters()) == ["Beslut A", "Beslut B"]
        [row] = world.rows()
        assert (row.kind, row.state, row.accepted) == ("pdf", "done", 2)

    def test_a_print_file_waits_for_its_control_file(self, world):
        source = _control_source(world)
        world.drop("fakturor.pdf", anchor_file(RECIPIENTS[:2], 2))

        waiting = world.poll(source)
        world.drop("fakturor.csv", CONTROL)
        taken = world.poll(source)

        assert waiting.files == []
        assert [(w.name, w.message) for w in waiting.waiting] == [
            ("fakturor.pdf", "väntar på styrfilen fakturor.csv eller fakturor.json")
        ]
        assert [outcome.result for outcome in taken.files] == [TAKEN]

    def test_a_print_file_alone_for_an_hour_goes_to_fel(self, world):
        source = _control_source(world)
        world.drop("fakturor.pdf", anchor_file(RECIPIENTS[:2], 2))
        _old(world, "fakturor.pdf")
        world.poll(source)
        world.now += dt.timedelta(hours=1, seconds=1)

        [outcome] = world.poll(source).files

        assert outcome.result == REFUSED
        assert world.files("fel") == ["fakturor.pdf", "fakturor.pdf.fel.txt"]
        assert "legat utan styrfil i mer än en timme" in world.reason("fakturor.pdf")

    def test_a_control_file_alone_waits_then_goes_to_fel(self, world):
        source = _control_source(world)
        world.drop("fakturor.json", '[{"sidor": "1", "personnummer": "191212121212"}]')
        _old(world, "fakturor.json")

        first = world.poll(source)
        world.now += dt.timedelta(minutes=30)
        half = world.poll(source)
        world.now += dt.timedelta(minutes=31)
        late = world.poll(source)

        assert [w.message for w in first.waiting] == ["väntar på utskriftsfilen fakturor.pdf"]
        assert half.files == []
        assert [outcome.result for outcome in late.files] == [REFUSED]
        assert "styrfilen fakturor.json har legat ensam" in world.reason("fakturor.json")

    def test_a_control_file_that_does_not_fit_sends_both_to_fel(self, world):
        world.drop("fakturor.pdf", anchor_file(RECIPIENTS[:2], 2))
        world.drop("fakturor.csv", "Sidor;Personnummer\r\n1-9;19121212-1212\r\n")

        [outcome] = world.poll(_control_source(world)).files

        assert outcome.result == REFUSED
        assert world.files("fel") == ["fakturor.csv", "fakturor.pdf", "fakturor.pdf.fel.txt"]
        assert world.letter_count() == 0
        [row] = world.rows()
        assert row.state == "refused"

    def test_the_same_print_file_again_is_a_duplicate_with_its_control_file(self, world):
        pdf = anchor_file(RECIPIENTS[:2], 2)
        source = _control_source(world)
        world.drop("fakturor.pdf", pdf)
        world.drop("fakturor.csv", CONTROL)
        world.poll(source)
        world.drop("igen.pdf", pdf)
        world.drop("igen.csv", CONTROL)

        [outcome] = world.poll(source).files

        assert outcome.result == DUPLICATE
        assert world.files("fel") == ["igen.csv", "igen.pdf", "igen.pdf.fel.txt"]
        assert world.letter_count() == 2

    def test_a_control_file_moved_in_alone_before_a_stop_goes_back_to_its_pdf(self, world):
        # Utskick stopped between moving the control file and the PDF into pågående/.
        (world.inbox / "pågående").mkdir()
        world.drop("pågående/fakturor.csv", CONTROL)
        world.drop("fakturor.pdf", anchor_file(RECIPIENTS[:2], 2))

        [outcome] = world.poll(_control_source(world)).files

        assert (outcome.result, outcome.accepted) == (TAKEN, 2)
        assert world.files("behandlade") == [
            "fakturor.csv",
            "fakturor.pdf",
            "fakturor.pdf.kvitto.json",
        ]
        assert world.files("pågående") == []

    def test_a_table_under_the_control_file_rule_is_refused(self, world):
        world.drop("brev.xlsx", b"PK\x03\x04")

        [outcome] = world.poll(_control_source(world)).files

        assert outcome.result == REFUSED
        assert "filtypen .xlsx tas inte emot" in world.reason("brev.xlsx")


class TestPrintFileByAnchor:
    def test_a_rejected_letters_pages_go_to_fel_with_the_reason(self, world):
        recipients = (RECIPIENTS[0], "19121212-1213", RECIPIENTS[1])
        world.drop("fakturor.pdf", anchor_file(recipients, 2))

        [outcome] = world.poll(_anchor_source(world)).files

        assert (outcome.result, outcome.accepted, outcome.rejected) == (TAKEN, 2, 1)
        assert world.files("behandlade") == ["fakturor.pdf", "fakturor.pdf.kvitto.json"]
        assert world.files("fel") == [
            "fakturor-sidor-3-4.pdf",
            "fakturor-sidor-3-4.pdf.fel.txt",
        ]
        pages = PdfReader(io.BytesIO((world.inbox / "fel/fakturor-sidor-3-4.pdf").read_bytes()))
        assert len(pages.pages) == 2
        assert "19121212-1213" in pages.pages[0].extract_text()
        reason = world.reason("fakturor-sidor-3-4.pdf")
        assert "brevet på sidorna 3–4 skickades inte" in reason
        assert "19121212-1213" in reason
        [rejection] = world.rows()[0].receipt["first_rejections"]
        assert (rejection["first_page"], rejection["last_page"]) == (3, 4)

    def test_a_file_that_is_no_pdf_goes_to_fel_with_the_reason(self, world):
        world.drop("fakturor.pdf", b"inte en pdf")

        [outcome] = world.poll(_anchor_source(world)).files

        assert outcome.result == REFUSED
        assert "är ingen PDF-fil" in world.reason("fakturor.pdf")


def _xlsx(rows):
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


class TestTables:
    def test_a_csv_tables_rows_become_letters_with_a_receipt(self, world):
        table = (
            "Personnummer;Ämne;Text;Meddelandetyp\r\n"
            "19121212-1212;Beslut;Hej Tolvan;beslut\r\n"
            "1234;Beslut;Hej;beslut\r\n"
        )
        world.drop("utskick.csv", table.encode("utf-8-sig"))

        [outcome] = world.poll().files

        assert (outcome.result, outcome.accepted, outcome.rejected) == (TAKEN, 1, 1)
        receipt = world.receipt("utskick.csv")
        assert [row["row"] for row in receipt["letters"]] == [2]
        assert [(r["row"], r["field"]) for r in receipt["rejections"]] == [(3, "Personnummer")]
        [letter] = world.letters()
        assert (letter.subject, letter.message_type) == ("Beslut", "beslut")

    def test_an_xlsx_table_takes_the_sources_defaults(self, world):
        world.drop("utskick.xlsx", _xlsx([("Personnummer", "Text"), ("191212121212", "Hej")]))
        source = world.source(subject="Information", message_type="faktura")

        [outcome] = world.poll(source).files

        assert (outcome.result, outcome.accepted) == (TAKEN, 1)
        [letter] = world.letters()
        assert (letter.subject, letter.message_type) == ("Information", "faktura")

    def test_a_table_no_letter_can_come_from_goes_to_fel(self, world):
        world.drop("utskick.csv", "Personnummer;Text\r\n191212121212;Hej\r\n")

        [outcome] = world.poll().files

        assert outcome.result == REFUSED
        assert "ingen kolumn med ämnesraden" in world.reason("utskick.csv")
        assert world.letter_count() == 0
