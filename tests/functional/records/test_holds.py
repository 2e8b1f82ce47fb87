"""Holds (spärrar): placing and releasing them, and which letters they name.

Run on SQLite and PostgreSQL. What a hold does to disposal is in `test_retention`.
"""

import pytest
from sqlalchemy import func, select

from functional.records.ended_letters import ended_letter, prepare_world
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW
from utskick.records.holds import (
    HoldInputError,
    active_holds,
    count_held_letters,
    holds_for_letter,
    place_hold,
    release_hold,
)
from utskick.records.models import RecordHold

pytestmark = pytest.mark.storage


def _hold(session, **fields):
    values = {"sender_number": EXEMPELKOMMUN, "reason": "Begärt av förvaltningsrätten",
              "actor": "registrator", "now": NOW, **fields}  # fmt: skip
    return place_hold(session, **values)


def _holds(session):
    return session.scalar(select(func.count()).select_from(RecordHold))


class TestPlacing:
    def test_a_hold_on_a_letter_names_that_letter(self, db_session):
        systems = prepare_world(db_session)
        letter = ended_letter(db_session, systems.desk)
        other = ended_letter(db_session, systems.desk)
        hold = _hold(db_session, letter_id=letter.id)
        assert (hold.letter_id, hold.case_number, hold.created_by) == (
            letter.id,
            None,
            "registrator",
        )
        assert holds_for_letter(db_session, letter) == [hold]
        assert holds_for_letter(db_session, other) == []
        assert count_held_letters(db_session, hold) == 1

    def test_a_case_number_matches_as_officers_type_it(self, db_session):
        systems = prepare_world(db_session)
        letters = [
            ended_letter(db_session, systems.desk, case_number="KS 2026/12"),
            ended_letter(db_session, systems.archiving, case_number="ks 2026/12 "),
            ended_letter(db_session, systems.desk, case_number="ÄN 2026/3"),
        ]
        unrelated = ended_letter(db_session, systems.desk, case_number="KS 2026/120")
        elsewhere = ended_letter(
            db_session, systems.desk, case_number="KS 2026/12", sender=GRANNKOMMUN
        )
        council = _hold(db_session, case_number="  Ks 2026/12")
        elderly = _hold(db_session, case_number="än 2026/3")
        assert council.case_number == "Ks 2026/12"  # kept as typed, without the spaces
        assert holds_for_letter(db_session, letters[0]) == [council]
        assert holds_for_letter(db_session, letters[1]) == [council]
        assert holds_for_letter(db_session, letters[2]) == [elderly]
        # Another case, and the same case number in another organisation, are not held.
        assert holds_for_letter(db_session, unrelated) == []
        assert holds_for_letter(db_session, elsewhere) == []
        assert count_held_letters(db_session, council) == 2

    def test_a_case_without_letters_yet_may_be_held(self, db_session):
        prepare_world(db_session)
        hold = _hold(db_session, case_number="KS 2027/1")
        assert count_held_letters(db_session, hold) == 0

    @pytest.mark.parametrize(
        ("fields", "says"),
        [
            ({"reason": "  ", "case_number": "KS 1"}, "Ange skälet"),
            ({"reason": "x" * 501, "case_number": "KS 1"}, "för långt"),
            ({}, "antingen ett brev"),
            ({"case_number": "KS 1", "letter_id": "x"}, "antingen ett brev"),
            ({"letter_id": "00000000-0000-4000-8000-000000000000"}, "inget brev med id"),
            ({"case_number": "KS 1", "sender_number": "5560000000"}, "skickar inga brev här"),
        ],
    )
    def test_what_cannot_be_a_hold_is_refused_in_swedish(self, db_session, fields, says):
        prepare_world(db_session)
        with pytest.raises(HoldInputError, match=says):
            _hold(db_session, **fields)
        assert _holds(db_session) == 0

    def test_another_organisations_letter_cannot_be_held(self, db_session):
        systems = prepare_world(db_session)
        letter = ended_letter(db_session, systems.desk, sender=GRANNKOMMUN)
        with pytest.raises(HoldInputError, match="inget brev med id"):
            _hold(db_session, letter_id=letter.id)
        assert _holds(db_session) == 0


class TestReleasing:
    def test_a_released_hold_no_longer_applies_and_keeps_its_trace(self, db_session):
        systems = prepare_world(db_session)
        letter = ended_letter(db_session, systems.desk, case_number="KS 2026/12")
        hold = _hold(db_session, case_number="KS 2026/12")
        released = release_hold(
            db_session, hold.id, sender_number=EXEMPELKOMMUN, actor="arkivarie", now=NOW
        )
        assert (released.released_by, released.released_at) == ("arkivarie", NOW)
        assert holds_for_letter(db_session, letter) == []
        assert active_holds(db_session, sender_number=None) == []
        assert _holds(db_session) == 1

    def test_a_hold_is_released_once(self, db_session):
        prepare_world(db_session)
        hold = _hold(db_session, case_number="KS 2026/12")
        release_hold(db_session, hold.id, sender_number=None, actor="admin", now=NOW)
        with pytest.raises(HoldInputError, match="redan hävd"):
            release_hold(db_session, hold.id, sender_number=None, actor="admin", now=NOW)

    def test_another_organisation_cannot_release_it_but_the_administrator_can(self, db_session):
        prepare_world(db_session)
        hold = _hold(db_session, case_number="KS 2026/12")
        with pytest.raises(HoldInputError, match="ingen spärr nummer"):
            release_hold(db_session, hold.id, sender_number=GRANNKOMMUN, actor="x", now=NOW)
        assert hold.released_at is None
        release_hold(db_session, hold.id, sender_number=None, actor="admin", now=NOW)
        assert hold.released_by == "admin"

    def test_an_unknown_hold_is_refused(self, db_session):
        with pytest.raises(HoldInputError, match="ingen spärr nummer 999999"):
            release_hold(db_session, 999_999, sender_number=None, actor="admin", now=NOW)


def test_active_holds_are_listed_per_organisation_oldest_first(db_session):
    prepare_world(db_session)
    first = _hold(db_session, case_number="KS 1")
    theirs = _hold(db_session, case_number="GK 1", sender_number=GRANNKOMMUN)
    second = _hold(db_session, case_number="KS 2")
    released = _hold(db_session, case_number="KS 3")
    release_hold(db_session, released.id, sender_number=None, actor="admin", now=NOW)
    assert active_holds(db_session, sender_number=EXEMPELKOMMUN) == [first, second]
    assert active_holds(db_session, sender_number=None) == [first, theirs, second]
