"""Which column of a table is what, told from its headers, and a row of a table made a letter."""

import datetime as dt

import pytest

from utskick.letters import vocabulary
from utskick.letters.inputs import LetterRejectedError
from utskick.letters.tables.columns import ColumnMapping, guess_mapping
from utskick.letters.tables.letter_rows import (
    RowDefaults,
    letter_columns,
    letter_of_row,
)
from utskick.letters.tables.reading import TableRefusedError

TODAY = dt.date(2026, 5, 4)
ZONE = "Europe/Stockholm"


class TestGuessMapping:
    def test_a_swedish_office_header(self):
        columns = ["Personnummer", "Namn", "c/o", "Utdelningsadress", "Postnummer", "Postort"]
        assert guess_mapping(columns) == ColumnMapping(
            recipient="Personnummer",
            name="Namn",
            address_lines=("c/o", "Utdelningsadress"),
            postal_code="Postnummer",
            city="Postort",
        )

    @pytest.mark.parametrize(
        "header",
        [
            "PNR",
            "Person nr",
            "person-nr",
            "Personnummer (ÅÅÅÅMMDD-NNNN)",
            "Organisationsnummer",
            "OrgNr",
            "Mottagare",
            "Identitet",
            "identitetsbeteckning",
        ],
    )
    def test_the_recipient_column_in_its_many_spellings(self, header):
        assert guess_mapping(["Anteckning", header, "Namn"]).recipient == header

    def test_accents_case_and_numbered_columns(self):
        mapping = guess_mapping(
            ["ÄMNE", "ID-nummer", "Adress 1", "Adress 2", "POSTNR", "ORT", "Land"]
        )
        assert mapping.subject == "ÄMNE"
        assert mapping.recipient == "ID-nummer"
        assert mapping.address_lines == ("Adress 1", "Adress 2")
        assert (mapping.postal_code, mapping.city, mapping.country) == ("POSTNR", "ORT", "Land")

    def test_english_headers(self):
        mapping = guess_mapping(["Name", "Recipient", "Subject", "Street", "Zip", "City"])
        assert mapping == ColumnMapping(
            recipient="Recipient",
            subject="Subject",
            name="Name",
            address_lines=("Street",),
            postal_code="Zip",
            city="City",
        )

    def test_an_exact_name_wins_over_a_name_that_only_starts_alike(self):
        columns = ["Personnummer (gammalt)", "Personnummer"]
        assert guess_mapping(columns).recipient == "Personnummer"

    def test_without_a_recognised_recipient_the_first_column_is_proposed(self):
        mapping = guess_mapping(["Kundnummer", "Namn"])
        assert mapping.recipient == "Kundnummer"
        assert mapping.name == "Namn"


class TestLetterColumns:
    def test_a_swedish_office_table(self):
        columns = letter_columns(
            [
                "Personnummer", "Ämne", "Brevtext", "Meddelandetyp", "Diarienummer",
                "Vår referens", "Avsändare", "Förvaltning", "Skickas tidigast", "Namn",
                "Utdelningsadress", "Postnummer", "Ort",
            ]
        )  # fmt: skip
        assert columns.mapping.recipient == "Personnummer"
        assert columns.mapping.subject == "Ämne"
        assert columns.body == "Brevtext"
        assert (columns.message_type, columns.case_number) == ("Meddelandetyp", "Diarienummer")
        assert (columns.reference, columns.sender) == ("Vår referens", "Avsändare")
        assert (columns.department, columns.not_before) == ("Förvaltning", "Skickas tidigast")
        assert columns.mapping.address_lines == ("Utdelningsadress",)
        assert columns.protection_class is None

    def test_a_systems_table_with_the_apis_names(self):
        columns = letter_columns(
            [
                "recipient", "subject", "body", "message_type", "protection_class",
                "case_number", "reference", "sender", "department", "not_before", "policy",
            ]
        )  # fmt: skip
        assert (columns.mapping.recipient, columns.mapping.subject) == ("recipient", "subject")
        assert (columns.body, columns.protection_class) == ("body", "protection_class")
        assert (columns.not_before, columns.policy) == ("not_before", "policy")

    def test_the_message_type_is_not_taken_for_the_text(self):
        columns = letter_columns(["Pnr", "Meddelandetyp", "Meddelande"])
        assert (columns.body, columns.message_type) == ("Meddelande", "Meddelandetyp")

    def test_a_table_without_a_recipient_column_is_refused_naming_its_columns(self):
        with pytest.raises(TableRefusedError, match="ingen kolumn med mottagaren") as refused:
            letter_columns(["Kundnummer", "Text"])
        assert "Kundnummer, Text" in refused.value.message

    def test_a_table_without_a_text_column_is_refused(self):
        with pytest.raises(TableRefusedError, match="ingen kolumn med brevens text"):
            letter_columns(["Personnummer", "Ämne"])

    def test_a_refusal_names_the_column_or_the_one_to_add(self):
        columns = letter_columns(["Pnr", "Text", "Namn", "Gata", "Postnr", "Ort"])
        assert columns.column_of("recipient") == "Pnr"
        assert columns.column_of("address.lines") == "Namn"
        assert columns.column_of("attachments[0].content") == "attachments[0].content"
        assert columns.column_of("protection_class") == "Skyddsklass"
        assert columns.column_of("idempotency_key") == "idempotency_key"


def _row(**cells):
    base = {"Personnummer": "19121212-1212", "Ämne": "Beslut", "Text": "Hej!"}
    return base | cells


COLUMNS = ["Personnummer", "Ämne", "Text", "Skyddsklass", "Skickas tidigast", "Policy"]


SENDER = RowDefaults(sender="2021004748")


def _letter(row, defaults=SENDER, columns=COLUMNS):
    return letter_of_row(
        row, letter_columns(columns), defaults, key="table:abc:2", zone=ZONE, today=TODAY
    )


class TestLetterOfRow:
    def test_a_row_is_a_letter_with_its_key(self):
        letter = _letter(_row(Skyddsklass="2"))
        assert (letter.recipient, letter.subject, letter.body) == ("191212121212", "Beslut", "Hej!")
        assert (letter.sender, letter.protection_class) == ("2021004748", 2)
        assert letter.idempotency_key == "table:abc:2"
        assert letter.policy == vocabulary.DIGITAL_OR_PAPER
        assert letter.not_before is None

    def test_the_row_wins_over_the_defaults(self):
        defaults = RowDefaults(sender="2021004748", subject="Standard", message_type="beslut")
        columns = [*COLUMNS, "Avsändare"]
        letter = _letter(_row(Avsändare="2120000142"), defaults, columns)
        assert (letter.sender, letter.subject, letter.message_type) == (
            "2120000142",
            "Beslut",
            "beslut",
        )
        assert _letter(_row(Ämne=""), defaults).subject == "Standard"

    def test_a_local_time_to_send_at_the_earliest(self):
        letter = _letter(_row(**{"Skickas tidigast": "2026-12-08 06:00"}))
        assert letter.not_before == dt.datetime(2026, 12, 8, 5, 0, tzinfo=dt.UTC)

    def test_a_time_that_cannot_be_read_names_the_field(self):
        with pytest.raises(LetterRejectedError) as refused:
            _letter(_row(**{"Skickas tidigast": "i morgon"}))
        assert refused.value.field == "not_before"
        assert "'i morgon' är ingen tid som går att läsa" in refused.value.message

    def test_a_policy_as_an_office_writes_it(self):
        assert _letter(_row(Policy="Bara papper")).policy == vocabulary.PAPER_ONLY
        assert _letter(_row(Policy="digital-only")).policy == vocabulary.DIGITAL_ONLY

    @pytest.mark.parametrize(
        ("cells", "field", "message"),
        [
            ({"Personnummer": ""}, "recipient", "mottagare saknas i kolumnen 'Personnummer'"),
            ({"Personnummer": "19121212-1213"}, "recipient", "kontrollsiffran stämmer inte"),
            ({"Ämne": ""}, "subject", "ämnesraden saknas; fyll i kolumnen 'Ämne'"),
            ({"Text": ""}, "body", "brevets text saknas; fyll i kolumnen 'Text'"),
            ({"Skyddsklass": "hög"}, "protection_class", "skyddsklassen 'hög' går inte att läsa"),
        ],
    )
    def test_a_bad_row_is_refused_naming_the_field(self, cells, field, message):
        with pytest.raises(LetterRejectedError) as refused:
            _letter(_row(**cells))
        assert refused.value.field == field
        assert message in refused.value.message

    def test_a_row_without_a_sender_and_no_default_is_refused(self):
        with pytest.raises(LetterRejectedError) as refused:
            _letter(_row(), RowDefaults())
        assert refused.value.field == "sender"
        assert "'Avsändare'" in refused.value.message

    def test_an_address_over_several_columns_and_a_partial_one(self):
        columns = [*COLUMNS, "Namn", "Adress", "Postnummer", "Ort"]
        full = {"Namn": "Tolvan", "Adress": "Gatan 1", "Postnummer": "123 45", "Ort": "Åby"}
        letter = _letter(_row(**full), columns=columns)
        assert letter.postal_address == {
            "name": "Tolvan",
            "lines": ["Gatan 1"],
            "postal_code": "123 45",
            "city": "Åby",
            "country": None,
        }
        with pytest.raises(LetterRejectedError) as refused:
            _letter(_row(**(full | {"Postnummer": ""})), columns=columns)
        assert refused.value.field == "address"
        assert refused.value.message.startswith("adressen saknar postnummer")
