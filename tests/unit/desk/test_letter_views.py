"""Letters as the desk shows them: local times, ids as typed, Swedish words, the live status."""

import datetime as dt

import pytest

from support.world import SYD
from utskick.desk.letter_views import (
    LocalTimes,
    actor_text,
    body_text,
    identity_display,
    operator_of,
    size_text,
    status_json,
    timeline,
)
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent

TIMES = LocalTimes("Europe/Stockholm")


def stored(*moment):
    """A UTC time as SQLite returns it: without a zone."""
    return dt.datetime(*moment, tzinfo=dt.UTC).replace(tzinfo=None)


def event(state, *, reason=None, detail=None, data=None, second=0, actor="worker:1"):
    at = stored(2026, 11, 27, 9, 0, second)
    return LetterEvent(state=state, reason=reason, detail=detail, data=data, at=at, actor=actor)


class TestShown:
    def test_times_are_local_in_winter_and_summer_naive_ones_read_as_utc(self):
        assert TIMES.minutes(stored(2026, 11, 27, 9, 0)) == "2026-11-27 10:00"
        assert TIMES.seconds(dt.datetime(2026, 6, 1, 9, 0, 5, tzinfo=dt.UTC)) == (
            "2026-06-01 11:00:05"
        )
        assert TIMES.minutes(None) == "–"

    @pytest.mark.parametrize(
        ("stored", "shown"),
        [
            ("191212121212", "19121212-1212"),
            ("162021004748", "202100-4748"),
            ("2021004748", "202100-4748"),
        ],
    )
    def test_ids_are_shown_as_people_type_them(self, stored, shown):
        assert identity_display(stored) == shown

    @pytest.mark.parametrize(
        ("actor", "shown"),
        [
            ("web:hans", "hans (webben)"),
            ("api:Ärendesystemet", "Ärendesystemet (API)"),
            ("worker:ab12", "Utskick (bakgrundsjobb)"),
            ("cli", "kommandoraden"),
            ("bench", "bench"),
        ],
    )
    def test_actors_are_named_in_swedish(self, actor, shown):
        assert actor_text(actor) == shown

    @pytest.mark.parametrize(
        ("size", "shown"), [(812, "812 byte"), (14_000, "14 kB"), (2_411_725, "2,3 MB")]
    )
    def test_sizes_read_as_people_read_them(self, size, shown):
        assert size_text(size) == shown

    def test_an_html_body_is_shown_as_its_text_never_as_markup(self):
        letter = Letter(body="<p>Hej <b>Tolvan</b>!</p><script>x()</script>", body_type="text/html")

        assert body_text(letter) == "Hej Tolvan!x()"
        assert body_text(Letter(body=None, body_type="text/plain")) is None


class TestTimeline:
    def test_each_event_in_swedish_without_repeating_the_reason_in_the_detail(self):
        reason_text = vocabulary.text_for(vocabulary.REACHABLE)
        steps = timeline(
            [
                event("received", actor="api:Demo"),
                event(
                    "classified", reason="reachable", detail=f"{reason_text} (via FaR)", second=2
                ),
            ],
            TIMES,
        )

        assert [step.state for step in steps] == ["mottaget", "kanal vald"]
        assert steps[0].actor == "Demo (API)"
        assert steps[1].at == "2026-11-27 10:00:02"
        assert steps[1].reason == reason_text
        assert steps[1].detail == "(via FaR)"

    def test_the_operator_is_named_from_the_classification(self):
        letter = Letter(operator_number=SYD)
        events = [event("classified", data={"operator": SYD, "operator_name": "Brevlåda Syd"})]

        assert operator_of(letter, events) == "Brevlåda Syd (556999-0012)"
        assert operator_of(Letter(operator_number=None), events) == "–"

    def test_the_status_says_whether_the_letter_has_reached_its_end(self):
        on_its_way = Letter(
            state="classified",
            channel="digital",
            reason="reachable",
            updated_at=stored(2026, 11, 27, 9, 0),
        )
        delivered = Letter(
            state="delivered", channel="digital", reason=None, updated_at=stored(2026, 11, 27, 9, 0)
        )

        first = status_json(on_its_way, [event("received")], TIMES, cancellable=True)
        last = status_json(delivered, [], TIMES, cancellable=False)

        assert (first["final"], first["state_text"], first["channel_text"]) == (
            False,
            "kanal vald",
            "digitalt",
        )
        assert first["events"][0]["state"] == "mottaget"
        assert (last["final"], last["reason_text"], last["cancellable"]) == (True, "–", False)
