"""The search form of Skickat read into filters, or into a Swedish message per field."""

import datetime as dt

import pytest

from utskick.desk.sent_filters import (
    SEAL_EXPIRED,
    SEALED_RECIPIENT_FIELD,
    RecipientSeal,
    SearchForm,
    page_number,
    read_form,
)

TODAY = dt.date(2026, 11, 27)
ZONE = "Europe/Stockholm"


def read(**typed):
    return read_form(SearchForm(**typed), zone=ZONE, today=TODAY)


class TestRecipient:
    @pytest.mark.parametrize("typed", ["19121212-1212", "191212121212", "19121212 1212"])
    def test_a_number_with_its_century_is_searched_as_it_is(self, typed):
        found = read(recipient=typed)

        assert found.filters.recipient_ids == ("191212121212",)
        assert found.hints == {}

    def test_a_ten_digit_number_is_searched_in_both_centuries_and_says_so(self):
        found = read(recipient="121212-1212")

        assert found.filters.recipient_ids == ("201212121212", "191212121212")
        assert "19121212-1212" in found.hints["recipient"]

    def test_a_plus_means_a_hundred_years_or_more(self):
        assert read(recipient="121212+1212").filters.recipient_ids == ("191212121212",)

    @pytest.mark.parametrize("typed", ["202100-4748", "2021004748", "162021004748"])
    def test_an_organisation_number_is_a_recipient_too(self, typed):
        assert read(recipient=typed).filters.recipient_ids == ("162021004748",)

    @pytest.mark.parametrize(
        ("typed", "message"),
        [
            ("19121212-1213", "kontrollsiffran stämmer inte"),
            ("12345", "fel längd"),
            ("tolvan", "bara innehålla siffror"),
        ],
    )
    def test_an_impossible_number_is_named_and_nothing_is_searched(self, typed, message):
        found = read(recipient=typed, subject="Beslut")

        assert found.filters is None
        assert message in found.errors["recipient"]
        assert "19121212-1212" in found.errors["recipient"]


class TestPeriod:
    def test_local_days_become_utc_bounds(self):
        winter = read(date_from="2026-11-27", date_to="2026-11-27").filters
        summer = read(date_from="2026-06-01").filters

        assert winter.created_from == dt.datetime(2026, 11, 26, 23, 0, tzinfo=dt.UTC)
        assert winter.created_before == dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC)
        assert summer.created_from == dt.datetime(2026, 5, 31, 22, 0, tzinfo=dt.UTC)

    @pytest.mark.parametrize("typed", ["27/11/2026", "2026-02-30", "igår"])
    def test_a_date_that_is_not_a_date_is_named(self, typed):
        found = read(date_to=typed)

        assert found.filters is None
        assert found.errors["date_to"] == (
            f"”{typed}” är inget datum; skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-11-27"
        )

    def test_a_period_that_ends_before_it_begins_is_named(self):
        found = read(date_from="2026-11-27", date_to="2026-11-01")

        assert "ligger före från-datumet" in found.errors["date_to"]


class TestChoices:
    def test_the_choices_become_filters(self):
        filters = read(
            state="delivered",
            channel="paper",
            department="Socialtjänsten",
            sender="202100-4748",
            system="abc",
        ).filters

        assert (filters.state, filters.channel, filters.department) == (
            "delivered",
            "paper",
            "Socialtjänsten",
        )
        assert (filters.sender_number, filters.sending_system_id) == ("2021004748", "abc")

    @pytest.mark.parametrize(
        ("typed", "field"),
        [
            ({"state": "levererad"}, "state"),
            ({"channel": "fax"}, "channel"),
            ({"sender": "19121212-1212"}, "sender"),
            ({"subject": "x" * 201}, "subject"),
            ({"case_number": "SN\x002026"}, "case_number"),
        ],
    )
    def test_a_value_outside_the_choices_is_named(self, typed, field):
        found = read(**typed)

        assert found.filters is None
        assert set(found.errors) == {field}

    def test_an_empty_form_searches_everything(self):
        found = read()

        assert found.errors == {}
        assert found.filters.recipient_ids == ()
        assert found.filters.subject is None


SEAL = RecipientSeal("hemlighet-för-testerna")


class TestQuery:
    def test_the_form_reads_the_query_and_writes_it_back_with_another_page(self):
        form = SearchForm.from_query({"amne": " Beslut ", "lage": "delivered", "okänd": "x"}, SEAL)

        assert form.subject == "Beslut"
        assert form.query(SEAL, sida="2") == {"amne": "Beslut", "lage": "delivered", "sida": "2"}

    def test_the_recipient_is_written_sealed_and_read_back_as_typed(self):
        form = SearchForm.from_query({"mottagare": " 121212-1212 ", "amne": "Beslut"}, SEAL)

        query = form.query(SEAL)

        assert set(query) == {SEALED_RECIPIENT_FIELD, "amne"}
        assert "1212" not in query[SEALED_RECIPIENT_FIELD]
        assert SearchForm.from_query(query, SEAL) == form
        assert form.recipient == "121212-1212"

    def test_the_same_number_is_sealed_differently_each_time(self):
        # Two searches for one person cannot be told to be the same person from the URLs.
        assert SEAL.seal("19121212-1212") != SEAL.seal("19121212-1212")

    @pytest.mark.parametrize(
        "sealed",
        [
            "inte-förseglat",
            RecipientSeal("en annan installations hemlighet").seal("19121212-1212"),
            SEAL.seal("19121212-1212")[:-4] + "AAAA",
            "A" * 600,
        ],
        ids=["not-sealed", "other-secret", "tampered", "too-long"],
    )
    def test_a_sealed_number_that_cannot_be_opened_is_named_and_nothing_is_searched(self, sealed):
        form = SearchForm.from_query({SEALED_RECIPIENT_FIELD: sealed}, SEAL)

        found = read_form(form, zone=ZONE, today=TODAY)

        assert (form.recipient, form.recipient_expired) == ("", True)
        assert found.filters is None
        assert found.errors == {"recipient": SEAL_EXPIRED}

    def test_a_sealed_number_is_read_for_a_working_day_and_not_after(self):
        now = [1_800_000_000.0]
        seal = RecipientSeal("hemlighet-för-testerna", clock=lambda: now[0])
        sealed = seal.seal("19121212-1212")
        now[0] += 8 * 3600
        assert seal.open(sealed) == "19121212-1212"
        now[0] += 1
        assert seal.open(sealed) is None

    @pytest.mark.parametrize(
        ("typed", "page"), [(None, 1), ("3", 3), ("0", 1), ("-2", 1), ("sista", 1), ("9" * 30, 1)]
    )
    def test_a_page_that_is_not_a_page_number_is_the_first(self, typed, page):
        assert page_number(typed) == page
