"""Every row of a mass mailing is checked as it would be sent, its problems said in Swedish."""

import datetime as dt
import io

import pytest

from utskick.desk.mass_rows import check_rows
from utskick.desk.mass_template import Template
from utskick.letters.inputs import LetterInput, checked_address
from utskick.letters.tables.columns import ColumnMapping, MappingError, guess_mapping
from utskick.letters.tables.reading import read_table

TODAY = dt.date(2026, 5, 4)
HEADER = "Personnummer;Namn;Adress;Postnummer;Ort"


def table_of(*lines, header=HEADER):
    return read_table(io.BytesIO("\n".join([header, *lines, ""]).encode()))


def checks(table, mapping=None, subject="Beslut för {Namn}", body="Hej {Namn}!"):
    mapping = mapping or guess_mapping(table.columns)
    subject_template = None if subject is None else Template.parse(subject, table.columns)
    body_template = Template.parse(body, table.columns)
    return list(check_rows(table, mapping, subject_template, body_template, TODAY))


class TestRecipients:
    def test_a_valid_row_is_ready_to_send(self):
        (check,) = checks(table_of("191212121212;Tolvan Tolvansson;;;"))
        assert check.ok
        assert check.row_number == 2
        assert check.recipient_display == "19121212-1212"
        assert check.recipient_id == "191212121212"
        assert check.subject == "Beslut för Tolvan Tolvansson"
        assert check.body == "Hej Tolvan Tolvansson!"
        assert check.postal_address is None

    def test_a_wrong_check_digit_is_named_on_its_row(self):
        rows = checks(table_of("191212121212;A;;;", "19811218-9875;B;;;"))
        assert rows[1].row_number == 3
        assert rows[1].recipient_id is None
        assert rows[1].recipient_display == "19811218-9875"
        assert rows[1].problem == (
            "19811218-9875 är inget giltigt identitetsnummer: kontrollsiffran stämmer inte"
        )

    def test_the_same_person_typed_two_ways_is_a_duplicate_of_the_first_row(self):
        rows = checks(
            table_of(
                "19121212-1212;A;;;", "198112189876;B;;;", "121212+1212;C;;;", "191212121212;D;;;"
            )
        )
        assert [row.problem for row in rows[:2]] == [None, None]
        assert rows[2].problem == "samma mottagare som på rad 2; ta bort den ena raden"
        assert rows[3].problem == "samma mottagare som på rad 2; ta bort den ena raden"

    def test_an_organisation_is_shown_by_its_organisationsnummer(self):
        (check,) = checks(table_of("212000-0142;Exempelkommunen;;;"))
        assert check.ok
        assert check.recipient_display == "212000-0142"
        assert check.recipient_id == "162120000142"

    def test_a_missing_recipient_names_the_column(self):
        (check,) = checks(table_of(";Tolvan;;;"))
        assert check.problem.startswith("mottagare saknas i kolumnen 'Personnummer'")

    def test_a_leading_zero_lost_in_excel_is_hinted_at(self):
        rows = checks(table_of("12121212;Nolla;;;", "101011234;Tia;;;", "19121212121;Elva;;;"))
        for check in rows[:2]:
            assert "har fel längd" in check.problem
            assert "formatera kolumnen som text" in check.problem
        assert "formatera kolumnen som text" not in rows[2].problem

    def test_several_problems_of_a_row_are_all_said(self):
        (check,) = checks(table_of("abc;;;;"), subject="{Namn}", body="{Namn}")
        assert check.problem.count("; ") >= 2
        assert "abc är inget giltigt identitetsnummer" in check.problem
        assert "ämnesraden blir tom" in check.problem
        assert "brödtexten blir tom" in check.problem


class TestTexts:
    def test_the_subject_can_come_from_a_column(self):
        table = table_of("191212121212;Beslut om bygglov", header="Pnr;Ärende")
        mapping = ColumnMapping(recipient="Pnr", subject="Ärende")
        (check,) = checks(table, mapping=mapping, subject=None, body="Se bifogat beslut.")
        assert check.ok
        assert check.subject == "Beslut om bygglov"

    def test_a_subject_exactly_at_the_limit_is_fine(self):
        (check,) = checks(table_of("191212121212;" + "x" * 255 + ";;;"), subject="{Namn}")
        assert check.ok

    def test_a_subject_one_over_the_limit_is_refused(self):
        (check,) = checks(table_of("191212121212;" + "x" * 256 + ";;;"), subject="{Namn}")
        assert check.problem == "ämnesraden blir 256 tecken; korta den till högst 255"

    def test_a_line_break_from_a_cell_has_no_place_in_the_subject(self):
        (check,) = checks(table_of('191212121212;"Anna\nAndersson";;;'), subject="Till {Namn}")
        assert "ämnesraden innehåller en radbrytning" in check.problem

    def test_a_line_break_from_a_cell_is_fine_in_the_body(self):
        (check,) = checks(table_of('191212121212;"Anna\nAndersson";;;'), subject="Beslut")
        assert check.ok
        assert check.body == "Hej Anna\nAndersson!"


class TestPostalAddress:
    def test_a_full_address_has_the_shape_letters_take(self):
        (check,) = checks(
            table_of('191212121212;Tolvan Tolvansson;"c/o Andersson\nStorgatan 1";123 45;Åby')
        )
        assert check.ok
        assert check.postal_address == {
            "name": "Tolvan Tolvansson",
            "lines": ["c/o Andersson", "Storgatan 1"],
            "postal_code": "123 45",
            "city": "Åby",
            "country": None,
        }
        letter = LetterInput(
            sender="2120000142",
            recipient="191212121212",
            subject="x",
            body="x",
            postal_address=check.postal_address,
            address_screened=True,
        )
        assert checked_address(letter) == check.postal_address

    def test_a_name_alone_leaves_the_address_to_the_register(self):
        (check,) = checks(table_of("191212121212;Tolvan;;;"))
        assert check.ok
        assert check.postal_address is None

    def test_a_partial_address_says_what_is_missing(self):
        (check,) = checks(table_of("191212121212;Tolvan;Storgatan 1;;Åby"))
        assert check.postal_address is None
        assert check.problem.startswith("adressen saknar postnummer;")

    def test_an_address_line_too_long_for_the_envelope_window(self):
        (check,) = checks(table_of("191212121212;Tolvan;" + "G" * 61 + ";123 45;Åby"))
        assert "får inte plats i kuvertfönstret" in check.problem


def test_a_mapping_naming_a_column_the_table_lacks_is_refused():
    table = table_of("191212121212;A;;;")
    with pytest.raises(MappingError, match="'Pnr' finns inte i filen"):
        checks(table, mapping=ColumnMapping(recipient="Pnr"))
