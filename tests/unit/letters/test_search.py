"""Searching letters within a person's scope, on SQLite and PostgreSQL.

Exempelkommun's Socialtjänsten and Samhällsbyggnad and Grannkommun's Socialtjänsten each have
letters; a scope sees its own and nothing else, also when asking for a letter by its id.
"""

import datetime as dt
import uuid

import pytest

from support.world import BERTIL, EXEMPELKOMMUN, GRANNKOMMUN, NOW, TOLVAN, sender_organisation
from utskick.jobs.models import Job
from utskick.jobs.queue import DELIVER
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterAttachment
from utskick.letters.search import LetterFilters, ScopedLetters
from utskick.senders.systems import create_sending_system
from utskick.web.menu import LetterScope

pytestmark = pytest.mark.storage

SOCIAL = "Socialtjänsten"
BYGG = "Samhällsbyggnad"
OFFICER_SOCIAL = LetterScope(EXEMPELKOMMUN, SOCIAL)
OFFICER_BYGG = LetterScope(EXEMPELKOMMUN, BYGG)
NEIGHBOUR_SOCIAL = LetterScope(GRANNKOMMUN, SOCIAL)
RECORDS = LetterScope(EXEMPELKOMMUN, None)
ADMIN = LetterScope(None, None)
NO_DEPARTMENT = LetterScope(EXEMPELKOMMUN, "")


@pytest.fixture
def world(db_session):
    """Both organisations and two sending systems: the case system and the desk."""
    db_session.add_all([sender_organisation(EXEMPELKOMMUN), sender_organisation(GRANNKOMMUN)])
    db_session.flush()
    systems = {
        name: create_sending_system(
            db_session, name=name, sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN], now=NOW
        )
        for name in ("Ärendesystemet", "Skrivbordet")
    }
    create_sending_system(db_session, name="Tyst system", sender_numbers=[EXEMPELKOMMUN], now=NOW)
    return db_session, systems


def add_letter(session, system, **fields):
    """A letter with its defaults: Exempelkommun's Socialtjänsten to Tolvan, received at NOW."""
    letter_id = str(uuid.uuid4())
    values = {
        "sender_number": EXEMPELKOMMUN,
        "department": SOCIAL,
        "recipient_id": TOLVAN,
        "subject": "Beslut",
        "created_at": NOW,
        "state": vocabulary.RECEIVED,
        **fields,
    }
    letter = Letter(
        id=letter_id,
        sending_system_id=system.id,
        idempotency_key=letter_id,
        body_type="text/plain",
        body="Hej!",
        protection_class=2,
        policy=vocabulary.DIGITAL_OR_PAPER,
        message_id=uuid.uuid4().hex,
        updated_at=values["created_at"],
        **values,
    )
    session.add(letter)
    session.flush()
    return letter


def ids(page):
    return [letter.id for letter in page.letters]


class TestScope:
    @pytest.fixture
    def letters(self, world):
        session, systems = world
        system = systems["Ärendesystemet"]
        return session, {
            "social": add_letter(session, system),
            "bygg": add_letter(session, system, department=BYGG),
            "neighbour": add_letter(session, system, sender_number=GRANNKOMMUN),
            "no_department": add_letter(session, system, department=None),
        }

    @pytest.mark.parametrize(
        ("scope", "seen"),
        [
            (OFFICER_SOCIAL, {"social"}),
            (OFFICER_BYGG, {"bygg"}),
            (NEIGHBOUR_SOCIAL, {"neighbour"}),
            (RECORDS, {"social", "bygg", "no_department"}),
            (ADMIN, {"social", "bygg", "neighbour", "no_department"}),
            (NO_DEPARTMENT, {"no_department"}),
        ],
        ids=["officer", "other-department", "other-organisation", "records", "admin", "none"],
    )
    def test_a_scope_finds_its_own_letters_and_no_others(self, letters, scope, seen):
        session, made = letters

        page = ScopedLetters(session, scope).search(LetterFilters())

        assert set(ids(page)) == {made[name].id for name in seen}
        assert page.total == len(seen)

    def test_a_letter_outside_the_scope_is_not_found_by_its_id(self, letters):
        session, made = letters
        officer = ScopedLetters(session, OFFICER_SOCIAL)

        assert officer.letter(made["social"].id) is made["social"]
        assert officer.letter(made["bygg"].id) is None
        assert officer.letter(made["neighbour"].id) is None
        assert officer.letter(str(uuid.uuid4())) is None
        assert ScopedLetters(session, RECORDS).letter(made["neighbour"].id) is None
        assert ScopedLetters(session, ADMIN).letter(made["neighbour"].id) is made["neighbour"]

    def test_a_filter_cannot_widen_the_scope(self, letters):
        session, _ = letters
        officer = ScopedLetters(session, OFFICER_SOCIAL)

        assert officer.search(LetterFilters(department=BYGG)).total == 0
        assert officer.search(LetterFilters(sender_number=GRANNKOMMUN)).total == 0

    def test_an_attachment_is_found_only_within_the_scope(self, letters):
        session, made = letters
        for letter in (made["social"], made["bygg"]):
            session.add(
                LetterAttachment(
                    letter_id=letter.id,
                    position=1,
                    filename="beslut.pdf",
                    content_type="application/pdf",
                    channel="both",
                    size=4,
                    sha256="0" * 64,
                    content=b"%PDF",
                )
            )
        session.flush()
        officer = ScopedLetters(session, OFFICER_SOCIAL)

        assert officer.attachment(made["social"].id, 1).content == b"%PDF"
        assert officer.attachment(made["social"].id, 2) is None
        assert officer.attachment(made["bygg"].id, 1) is None

    def test_the_choices_are_the_scopes_departments_and_sending_systems(self, world):
        session, systems = world
        add_letter(session, systems["Ärendesystemet"], department=BYGG)
        add_letter(session, systems["Skrivbordet"], sender_number=GRANNKOMMUN)
        add_letter(session, systems["Skrivbordet"], department=None)

        records = ScopedLetters(session, RECORDS)
        assert records.departments() == [BYGG]
        assert [name for _, name in records.sending_systems()] == ["Skrivbordet", "Ärendesystemet"]
        assert [name for _, name in ScopedLetters(session, OFFICER_BYGG).sending_systems()] == [
            "Ärendesystemet"
        ]
        assert ScopedLetters(session, OFFICER_SOCIAL).sending_systems() == []
        assert ScopedLetters(session, ADMIN).departments() == [BYGG, SOCIAL]


class TestFilters:
    @pytest.fixture
    def search(self, world):
        session, systems = world
        scoped = ScopedLetters(session, RECORDS)

        def find(**filters):
            return {letter.subject for letter in scoped.search(LetterFilters(**filters)).letters}

        return session, systems, find

    def test_the_recipient_matches_any_of_the_ids_given(self, search):
        session, systems, find = search
        add_letter(session, systems["Skrivbordet"], subject="Till Tolvan")
        add_letter(session, systems["Skrivbordet"], subject="Till Bertil", recipient_id=BERTIL)
        add_letter(
            session, systems["Skrivbordet"], subject="Till bolaget", recipient_id="165569990038"
        )

        assert find(recipient_ids=(TOLVAN,)) == {"Till Tolvan"}
        assert find(recipient_ids=("201212121212", TOLVAN)) == {"Till Tolvan"}
        assert find(recipient_ids=("165569990038",)) == {"Till bolaget"}
        assert find(recipient_ids=("200001012380",)) == set()

    @pytest.mark.parametrize(
        ("typed", "found"),
        [
            ("äldreomsorg", {"Beslut om ÄLDREOMSORG"}),
            ("ÄLDREOMSORG", {"Beslut om ÄLDREOMSORG"}),
            ("överklagande", {"Överklagande av beslut"}),
            ("ÅTERKRAV", {"Återkrav av bistånd"}),
            ("beslut", {"Beslut om ÄLDREOMSORG", "Överklagande av beslut"}),
            ("om äldre", {"Beslut om ÄLDREOMSORG"}),
            ("100%", {"Rabatt 100% på avgiften"}),
            ("%", {"Rabatt 100% på avgiften"}),
            ("_", set()),
            ("fakturor", set()),
        ],
    )
    def test_the_subject_contains_the_text_in_any_case_with_swedish_letters(
        self, search, typed, found
    ):
        session, systems, find = search
        for subject in (
            "Beslut om ÄLDREOMSORG",
            "Överklagande av beslut",
            "Återkrav av bistånd",
            "Rabatt 100% på avgiften",
        ):
            add_letter(session, systems["Skrivbordet"], subject=subject)

        assert find(subject=typed) == found

    @pytest.mark.parametrize(
        ("typed", "found"),
        [
            ("SN 2026/0012", {"tolv"}),
            ("sn 2026/0012", {"tolv"}),
            ("SN 2026/001", {"tolv", "tretton"}),
            ("SN 2026/", {"tolv", "tretton"}),
            ("ÖFN 2026", {"överförmyndare"}),
            ("öfn", {"överförmyndare"}),
            ("2026/0012", set()),
            ("SN 2026/0012-1", set()),
        ],
    )
    def test_the_case_number_matches_whole_or_by_its_beginning(self, search, typed, found):
        session, systems, find = search
        for subject, case_number in (
            ("tolv", "SN 2026/0012"),
            ("tretton", "SN 2026/0013"),
            ("överförmyndare", "ÖFN 2026/4"),
            ("utan", None),
        ):
            add_letter(session, systems["Skrivbordet"], subject=subject, case_number=case_number)

        assert find(case_number=typed) == found

    def test_the_period_includes_its_first_moment_and_excludes_its_end(self, search):
        session, systems, find = search
        start = dt.datetime(2026, 11, 26, 23, 0, tzinfo=dt.UTC)  # 27 Nov 00:00 in Stockholm
        end = start + dt.timedelta(days=1)
        for subject, at in (
            ("före", start - dt.timedelta(seconds=1)),
            ("först", start),
            ("sist", end - dt.timedelta(seconds=1)),
            ("efter", end),
        ):
            add_letter(session, systems["Skrivbordet"], subject=subject, created_at=at)

        assert find(created_from=start, created_before=end) == {"först", "sist"}
        assert find(created_from=end) == {"efter"}
        assert find(created_before=start) == {"före"}

    def test_state_channel_department_sender_and_system_each_narrow_the_search(self, search):
        session, systems, find = search
        desk, cases = systems["Skrivbordet"], systems["Ärendesystemet"]
        add_letter(session, desk, subject="digitalt", state="delivered", channel="digital")
        add_letter(session, desk, subject="papper", state="printed", channel="paper")
        add_letter(
            session, cases, subject="omöjligt", state="impossible", channel="none", department=BYGG
        )
        add_letter(session, cases, subject="mottaget")

        assert find(state="printed") == {"papper"}
        assert find(channel="none") == {"omöjligt"}
        assert find(department=BYGG) == {"omöjligt"}
        assert find(sending_system_id=cases.id) == {"omöjligt", "mottaget"}
        assert find(sender_number=EXEMPELKOMMUN, channel="digital") == {"digitalt"}
        assert find(sending_system_id=desk.id, department=BYGG) == set()


class TestPages:
    def test_pages_hold_the_newest_first_with_the_count_of_all(self, world):
        session, systems = world
        made = [
            add_letter(
                session,
                systems["Skrivbordet"],
                subject=f"brev {number}",
                created_at=NOW + dt.timedelta(minutes=number),
            )
            for number in range(5)
        ]
        scoped = ScopedLetters(session, OFFICER_SOCIAL)

        first = scoped.search(LetterFilters(), page=1, per_page=2)
        last = scoped.search(LetterFilters(), page=3, per_page=2)

        assert [letter.subject for letter in first.letters] == ["brev 4", "brev 3"]
        assert (first.total, first.pages) == (5, 3)
        assert last.letters == [made[0]]

    def test_a_page_past_the_last_shows_the_last(self, world):
        session, systems = world
        add_letter(session, systems["Skrivbordet"])

        page = ScopedLetters(session, OFFICER_SOCIAL).search(LetterFilters(), page=40)

        assert (page.page, page.total, len(page.letters)) == (1, 1, 1)


class TestCancellable:
    @pytest.mark.parametrize(
        ("state", "cancellable"),
        [
            (vocabulary.RECEIVED, True),
            (vocabulary.CLASSIFIED, True),
            (vocabulary.PAPER, True),
            (vocabulary.RETRYING, False),
            (vocabulary.BATCHED, False),
            (vocabulary.DELIVERED, False),
            (vocabulary.CANCELLED, False),
        ],
    )
    def test_only_a_letter_that_has_not_gone_out_may_be_cancelled(self, world, state, cancellable):
        session, systems = world
        letter = add_letter(session, systems["Skrivbordet"], state=state)

        assert ScopedLetters(session, RECORDS).cancellable(letter, NOW) is cancellable

    def test_a_letter_whose_delivery_was_attempted_may_not_be_cancelled(self, world):
        session, systems = world
        letter = add_letter(session, systems["Skrivbordet"], state=vocabulary.CLASSIFIED)
        session.add(Job(kind=DELIVER, letter_id=letter.id, run_at=NOW, attempts=1, created_at=NOW))
        session.flush()

        assert ScopedLetters(session, RECORDS).cancellable(letter, NOW) is False
