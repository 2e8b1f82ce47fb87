"""A letter's "not before", in the forms senders write it, and its bounds."""

import datetime as dt

import pytest

from utskick.letters.inputs import LetterRejectedError
from utskick.letters.schedule import checked_not_before, parse_not_before

ZONE = "Europe/Stockholm"
SIX_IN_WINTER_UTC = dt.datetime(2026, 12, 8, 5, 0, tzinfo=dt.UTC)


class TestForms:
    @pytest.mark.parametrize(
        "written",
        [
            "2026-12-08T06:00:00+01:00",
            "2026-12-08T05:00:00Z",
            "2026-12-08T05:00:00z",
            "2026-12-08 06:00",
            "2026-12-08T06:00",
            "2026-12-08 06.00",
            "2026-12-08 6:00",
            "2026-12-08 06:00:00",
            " 2026-12-08 06:00 ",
        ],
    )
    def test_each_form_a_sender_writes_is_the_same_moment(self, written):
        assert parse_not_before(written, ZONE) == SIX_IN_WINTER_UTC

    def test_a_date_alone_is_its_first_minute_in_swedish_time(self):
        assert parse_not_before("2026-12-08", ZONE) == dt.datetime(2026, 12, 7, 23, tzinfo=dt.UTC)

    def test_local_time_in_summer_is_two_hours_ahead_of_utc(self):
        assert parse_not_before("2026-06-15 06:00", ZONE) == dt.datetime(
            2026, 6, 15, 4, tzinfo=dt.UTC
        )

    def test_a_datetime_without_zone_is_local_and_with_one_is_kept(self):
        assert parse_not_before(dt.datetime(2026, 12, 8, 6), ZONE)  # noqa: DTZ001 (naive on purpose) == SIX_IN_WINTER_UTC
        assert parse_not_before(SIX_IN_WINTER_UTC, ZONE) == SIX_IN_WINTER_UTC

    @pytest.mark.parametrize("empty", [None, "", "   "])
    def test_nothing_written_is_no_time(self, empty):
        assert parse_not_before(empty, ZONE) is None

    @pytest.mark.parametrize("written", ["i morgon", "08/12/2026 06:00", "2026-13-08 06:00"])
    def test_what_is_no_time_is_refused_in_swedish_with_an_example(self, written):
        with pytest.raises(LetterRejectedError) as refused:
            parse_not_before(written, ZONE)
        assert refused.value.field == "not_before"
        assert "2026-12-08 06:00" in refused.value.message

    def test_an_hour_the_clocks_skip_in_spring_is_refused_not_moved(self):
        with pytest.raises(LetterRejectedError, match="finns inte i svensk tid"):
            parse_not_before("2027-03-28 02:30", ZONE)


class TestBounds:
    NOW = dt.datetime(2026, 12, 7, 14, tzinfo=dt.UTC)

    def test_a_time_in_the_past_or_now_means_at_once(self):
        assert checked_not_before(self.NOW - dt.timedelta(hours=1), self.NOW) is None
        assert checked_not_before(self.NOW, self.NOW) is None

    def test_a_time_ahead_is_kept(self):
        assert checked_not_before(SIX_IN_WINTER_UTC, self.NOW) == SIX_IN_WINTER_UTC

    def test_more_than_a_year_ahead_is_refused_as_a_likely_typo(self):
        with pytest.raises(LetterRejectedError, match="årtalet"):
            checked_not_before(self.NOW + dt.timedelta(days=400), self.NOW)
