"""The letter routes' reading of times: only RFC 3339 with a zone, and searches in UTC."""

import datetime as dt

import pytest

from utskick.intake.api_common import ApiError
from utskick.intake.letter_routes import _rfc3339, _utc


class TestTimes:
    @pytest.mark.parametrize(
        ("text", "moment"),
        [
            ("2026-11-27T10:00:00Z", dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)),
            ("2026-11-27t10:00:00.5z", dt.datetime(2026, 11, 27, 10, 0, 0, 500000, tzinfo=dt.UTC)),
            (
                "2026-11-27T11:00:00+01:00",
                dt.datetime(2026, 11, 27, 11, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            ),
        ],
    )
    def test_a_time_with_a_zone_in_rfc_3339_is_read(self, text, moment):
        assert _rfc3339(text) == moment

    @pytest.mark.parametrize(
        ("value", "reason"),
        [
            ("2026-11-27", "ska vara en tidpunkt med tidszon"),
            ("2026-11-27T10:00:00", "ska vara en tidpunkt med tidszon"),
            (1_700_000_000, "ska vara en tidpunkt med tidszon"),
            ("2026-02-30T10:00:00Z", "tidpunkten finns inte i kalendern"),
        ],
    )
    def test_anything_else_is_refused_saying_what_is_wanted(self, value, reason):
        with pytest.raises(ValueError, match=reason):
            _rfc3339(value)

    def test_a_search_time_is_compared_in_utc(self):
        stockholm = dt.timezone(dt.timedelta(hours=1))

        assert _utc(None, "from") is None
        naive = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC).replace(tzinfo=None)
        assert _utc(naive, "from") == dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
        moved = _utc(dt.datetime(2026, 11, 27, 11, tzinfo=stockholm), "from")
        assert (moved.hour, moved.tzinfo) == (10, dt.UTC)

    def test_a_time_beyond_the_calendar_in_utc_is_refused_on_its_field(self):
        west = dt.timezone(dt.timedelta(hours=-1))

        with pytest.raises(ApiError) as refused:
            _utc(dt.datetime(9999, 12, 31, 23, 30, tzinfo=west), "created_before")

        assert (refused.value.status_code, refused.value.field) == (422, "created_before")
