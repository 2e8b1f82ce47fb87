"""The mass mailing's form: a usable one becomes the choices, a bad field is named in Swedish."""

import datetime as dt

import pytest

from utskick.desk.compose import CLASS_FOUR_REFUSAL
from utskick.desk.compose_repository import MessageTypeChoice
from utskick.desk.mass_form import (
    BODY_MISSING,
    FIELD_NAMES,
    NOT_BEFORE_PASSED,
    NOT_BEFORE_TOO_LATE,
    RECIPIENT_MISSING,
    SUBJECT_MISSING,
    form_values,
    read_choices,
    values_of,
)
from utskick.desk.mass_mailing import MassMailing
from utskick.desk.sending import MESSAGE_TYPE_MISSING
from utskick.letters.tables.columns import ColumnMapping

COLUMNS = ["Personnummer", "Namn", "Gata", "Postnr", "Ort", "Ämne"]
TYPES = {
    "beslut": MessageTypeChoice("beslut", "Beslut", 2),
    "skyddat": MessageTypeChoice("skyddat", "Skyddad uppgift", 4),
}


def filled(**changes):
    form = {
        "recipient_column": "Personnummer",
        "message_type": "beslut",
        "subject": "Beslut för {Namn}",
        "body": "Hej {namn}!\r\nVälkommen.",
    }
    form.update(changes)
    return form_values(form)


NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


def refusals(**changes):
    choices, errors = read_choices(filled(**changes), COLUMNS, TYPES, now=NOW)
    assert choices is None
    return errors


class TestUsableForms:
    def test_the_choices_of_a_filled_in_form(self):
        choices, errors = read_choices(
            filled(
                name_column="Namn",
                address_1="Gata",
                address_3="Ort",
                postal_code_column="Postnr",
                city_column="Ort",
                case_number=" SOC 2026-17 ",
            ),
            COLUMNS,
            TYPES,
        )
        assert errors == {}
        assert choices.mapping == ColumnMapping(
            recipient="Personnummer",
            name="Namn",
            address_lines=("Gata", "Ort"),
            postal_code="Postnr",
            city="Ort",
        )
        assert choices.message_type == "beslut"
        assert choices.case_number == "SOC 2026-17"
        assert choices.body_template == "Hej {namn}!\nVälkommen."

    def test_the_subject_may_come_from_a_column_instead(self):
        choices, errors = read_choices(filled(subject="", subject_column="Ämne"), COLUMNS, TYPES)
        assert errors == {}
        assert choices.mapping.subject == "Ämne"
        assert choices.subject_template == ""

    def test_a_field_that_is_not_text_counts_as_empty(self):
        assert form_values({"recipient_column": object()})["recipient_column"] == ""
        assert set(form_values({})) == set(FIELD_NAMES)

    def test_the_form_shows_the_proposal_until_the_officer_has_chosen(self):
        mailing = MassMailing("id", "2021004748", "Soc", "hans", "f.csv", "csv", COLUMNS, "t")
        proposed = ColumnMapping(recipient="Personnummer", address_lines=("Gata",))
        values = values_of(mailing, proposed)
        assert (values["recipient_column"], values["address_1"], values["address_2"]) == (
            "Personnummer",
            "Gata",
            "",
        )
        mailing.mapping = ColumnMapping(recipient="Namn")
        assert values_of(mailing, proposed)["recipient_column"] == "Namn"


class TestSendAtTheEarliest:
    def test_a_local_time_is_kept_as_utc_and_shown_local_again(self):
        choices, errors = read_choices(
            filled(not_before="2026-12-08T06:00"), COLUMNS, TYPES, now=NOW
        )
        assert errors == {}
        assert choices.not_before == dt.datetime(2026, 12, 8, 5, 0, tzinfo=dt.UTC)
        mailing = MassMailing("id", "2021004748", "Soc", "hans", "f.csv", "csv", COLUMNS, "t")
        choices.apply_to(mailing)
        assert mailing.not_before == "2026-12-08T05:00:00+00:00"
        proposed = ColumnMapping(recipient="Personnummer")
        assert values_of(mailing, proposed, "Europe/Stockholm")["not_before"] == "2026-12-08T06:00"

    def test_none_is_at_once(self):
        choices, _errors = read_choices(filled(not_before=""), COLUMNS, TYPES, now=NOW)
        assert choices.not_before is None

    @pytest.mark.parametrize(
        ("typed", "message"),
        [
            ("2026-11-27T09:59", NOT_BEFORE_PASSED),  # 08:59 UTC: a minute ago
            ("2027-11-29T10:00", NOT_BEFORE_TOO_LATE),
            ("i morgon", "'i morgon' är ingen tid som går att läsa"),
            ("2027-03-28T02:30", "finns inte i svensk tid"),
        ],
    )
    def test_a_time_that_cannot_be_used_is_refused_beside_the_field(self, typed, message):
        assert message in refusals(not_before=typed)["not_before"]


class TestRefusals:
    def test_a_column_the_file_lacks_is_named_beside_its_field(self):
        errors = refusals(recipient_column="Pnr", city_column="Stad")
        assert errors["recipient_column"].startswith("Kolumnen 'Pnr' finns inte i filen")
        assert errors["recipient_column"].endswith("(för mottagaren)")
        assert "Personnummer, Namn" in errors["recipient_column"]
        assert errors["city_column"].endswith("(för orten)")

    def test_the_recipient_column_must_be_chosen(self):
        assert refusals(recipient_column="")["recipient_column"] == RECIPIENT_MISSING

    def test_an_unknown_merge_field_is_named_with_the_columns(self):
        errors = refusals(body="Hej {Förnamn}!")
        assert errors == {
            "body": "Fältet {Förnamn} finns inte bland filens kolumner (Personnummer, Namn, "
            "Gata, Postnr, Ort, Ämne); skriv kolumnens rubrik precis som i filen mellan "
            "klamrarna"
        }

    def test_an_unbalanced_brace_is_shown_where_it_is(self):
        errors = refusals(subject="Beslut för {Namn")
        assert errors["subject"].startswith("I mallen (vid 'Beslut för {Namn')")

    def test_a_subject_is_needed_from_the_template_or_a_column(self):
        assert refusals(subject="")["subject"] == SUBJECT_MISSING

    def test_a_text_is_needed(self):
        assert refusals(body="  \r\n ")["body"] == BODY_MISSING

    @pytest.mark.parametrize(
        ("code", "message"),
        [
            ("", MESSAGE_TYPE_MISSING),
            ("faktura", "meddelandetypen 'faktura' finns inte; välj en av typerna i listan"),
            ("skyddat", CLASS_FOUR_REFUSAL),
        ],
    )
    def test_the_message_type_must_be_one_that_may_be_sent(self, code, message):
        assert refusals(message_type=code) == {"message_type": message}

    def test_a_case_number_must_fit_on_one_line(self):
        assert "diarienumret" in refusals(case_number="x" * 201)["case_number"]

    def test_a_template_too_long_is_refused_before_it_is_read(self):
        assert refusals(body="x" * 100_001)["body"] == (
            "mallen har 100001 tecken; högst 100000 tas emot"
        )

    def test_every_bad_field_is_named_at_once(self):
        errors = refusals(recipient_column="", message_type="", subject="{", body="")
        assert set(errors) == {"recipient_column", "message_type", "subject", "body"}
