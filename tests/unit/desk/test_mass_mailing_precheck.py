"""The precheck of a mass mailing: each row's outcome and reason, written as the rows go.

FaR is the test world's FakePrecheck (Tolvan digital at Kivra, everyone else paper without a
mailbox); the population register is a dictionary of facts, asked one recipient at a time
as the compose page's port asks, or in bulk where the adapter can.
"""

import codecs
import datetime as dt
import io

import pytest

from support.world import (
    BERTIL,
    DAVID,
    EVA,
    EXEMPELKOMMUN,
    HANNA,
    JONAS,
    LENA,
    NOW,
    TOLVAN,
    FakePrecheck,
)
from utskick.desk import mass_precheck
from utskick.desk.mass_mailing import CHECKED, PRECHECK_FILE, UPLOADED, MailingStore, Owner
from utskick.desk.mass_precheck import (
    FAR_DOWN,
    PROBLEM_OUTCOME,
    STOPPED,
    MassPrecheck,
    excel_cell,
    read_precheck,
)
from utskick.desk.ports import DeskPorts, RegisterFacts, RegisterUnavailableError
from utskick.letters.tables.columns import ColumnMapping

TODAY = dt.date(2026, 11, 27)
HEADER = "Personnummer;Namn;Adress;Postnummer;Ort"
FOUND = RegisterFacts(found=True, has_address=True)
FACTS = {
    EVA: RegisterFacts(found=True, protected=True),
    HANNA: RegisterFacts(found=True, deceased=True, has_address=True),
    JONAS: RegisterFacts(found=True, emigrated=True, has_address=True),
    LENA: RegisterFacts(found=True),  # no address
}


def typed(number):
    return f"{number[:8]}-{number[8:]}"


class OneAtATime:
    """The register as the compose page's port asks it."""

    def __init__(self, down=False):
        self.down = down
        self.asked = []

    def facts(self, recipient_id):
        if self.down:
            raise RegisterUnavailableError("folkbokföringen svarar inte")
        self.asked.append(recipient_id)
        return FACTS.get(recipient_id, FOUND)


class InBulk(OneAtATime):
    def facts_of(self, recipient_ids):
        self.asked.append(list(recipient_ids))
        return {rid: FACTS.get(rid, FOUND) for rid in recipient_ids}


def ports(precheck, register):
    return DeskPorts(
        precheck=lambda: precheck,
        register=lambda: register,
        paper=lambda: None,
        protection=lambda: None,
    )


def new_mailing(store, *lines, header=HEADER, body="Hej {Namn}!"):
    data = "\n".join([header, *lines, ""]).encode("cp1252")
    mailing = store.create(io.BytesIO(data), "mottagare.csv", Owner(EXEMPELKOMMUN, "Soc", "h"), NOW)
    mailing.mapping = ColumnMapping(
        recipient="Personnummer",
        name="Namn",
        address_lines=("Adress",) if "Adress" in header else (),
        postal_code="Postnummer" if "Postnummer" in header else None,
        city="Ort" if "Ort" in header else None,
    )
    mailing.subject_template, mailing.body_template = "Beslut till {Namn}", body
    store.save(mailing)
    return mailing


def run(store, mailing, precheck=None, register=None):
    precheck = precheck or FakePrecheck()
    register = register if register is not None else OneAtATime()
    lock = store.take_lock(mailing.id)
    MassPrecheck(store, ports(precheck, register), sender_name="Exempelkommun", today=TODAY).run(
        mailing, lock
    )
    assert not store.working(mailing.id)  # the lock is given back whatever happened
    return store.load(mailing.id)


def outcomes(store, mailing):
    with store.path(mailing.id, PRECHECK_FILE).open("rb") as stream:
        return {row.row_number: row for row in read_precheck(stream)}


@pytest.fixture
def store(tmp_path):
    return MailingStore(tmp_path)


class TestOutcomes:
    def test_each_row_gets_its_outcome_and_reason(self, store):
        mailing = new_mailing(
            store,
            f"{typed(TOLVAN)};Tolvan;;;",
            f"{BERTIL};Bertil;;;",
            f"{typed(EVA)};Eva;;;",
            f"{typed(HANNA)};Hanna;;;",
            f"{typed(JONAS)};Jonas;;;",
            f"{typed(LENA)};Lena;;;",
            f"{typed(LENA)[2:]};Lena igen;Lenagatan 1;123 45;Lund",
            "19121212-1213;Fel siffra;;;",
        )
        checked = run(store, mailing)
        rows = outcomes(store, mailing)
        assert {number: row.outcome for number, row in rows.items()} == {
            2: "digital",
            3: "paper",
            4: "paper",
            5: "impossible",
            6: "impossible",
            7: "impossible",
            8: PROBLEM_OUTCOME,  # the same person as row 7
            9: PROBLEM_OUTCOME,
        }
        assert rows[2].reason == "Går digitalt till Kivra"
        assert rows[2].recipient == "19121212-1212"
        assert rows[3].reason == "Skrivs ut: mottagaren har ingen digital brevlåda"
        assert rows[3].recipient == "19750101-2475"  # as people type it, whatever the file has
        assert rows[4].reason == "Skyddad identitet: går via Skatteverket"
        assert rows[5].reason == "Kan inte skickas: avliden"
        assert rows[6].reason == "Kan inte skickas: utvandrad"
        assert rows[7].reason.startswith("Kan inte skickas: adress saknas; fyll i en postadress")
        assert rows[8].reason == "Samma mottagare som på rad 7; ta bort den ena raden"
        assert "inget giltigt identitetsnummer" in rows[9].reason
        assert rows[2].subject == "Beslut till Tolvan"
        assert checked.status == CHECKED
        assert checked.error is None
        counts = checked.precheck
        assert (counts.rows, counts.digital, counts.paper) == (8, 1, 2)
        assert (counts.impossible, counts.problem, counts.to_send) == (3, 2, 3)
        assert [problem["row"] for problem in counts.first_problems] == [5, 6, 7, 8, 9]
        assert counts.first_problems[0] == {
            "row": 5,
            "recipient": "19580718-3529",
            "outcome": "kan inte skickas",
            "reason": "Kan inte skickas: avliden",
        }

    def test_an_address_on_the_row_lets_paper_reach_a_person_the_register_lacks(self, store):
        mailing = new_mailing(store, f"{typed(LENA)};Lena Lund;Lenagatan 1;123 45;Lund")
        run(store, mailing)
        assert outcomes(store, mailing)[2].outcome == "paper"

    def test_an_opted_out_recipient_is_named_with_the_sender(self, store):
        class OptedOut(FakePrecheck):
            def check(self, _sender_number, recipient_ids, *, policy="digital-or-paper"):  # noqa: ARG002
                from utskick.switch.rule import Decision

                return [Decision(rid, "paper", "sender_not_accepted") for rid in recipient_ids]

        mailing = new_mailing(store, f"{typed(BERTIL)};Bertil;;;")
        run(store, mailing, precheck=OptedOut())
        assert outcomes(store, mailing)[2].reason == (
            "Skrivs ut: mottagaren tar inte emot digital post från Exempelkommun"
        )

    def test_the_file_opens_in_excel_as_utf8_with_semicolons(self, store):
        mailing = new_mailing(store, f"{typed(TOLVAN)};Åsa Öberg;;;")
        run(store, mailing)
        data = store.path(mailing.id, PRECHECK_FILE).read_bytes()
        assert data.startswith(codecs.BOM_UTF8)
        lines = data.decode("utf-8-sig").splitlines()
        assert lines[0] == "Rad;Mottagare;Utfall;Orsak;Ämne"
        assert lines[1] == "2;19121212-1212;digitalt;Går digitalt till Kivra;Beslut till Åsa Öberg"


class TestWhenPartiesDoNotAnswer:
    def test_far_down_leaves_the_channel_to_the_sending(self, store):
        precheck = FakePrecheck()
        precheck.far_down = True
        mailing = new_mailing(store, f"{typed(TOLVAN)};Tolvan;;;", f"{typed(DAVID)};David;;;")
        checked = run(store, mailing, precheck=precheck)
        rows = outcomes(store, mailing)
        assert [row.outcome for row in rows.values()] == ["unknown", "unknown"]
        assert rows[2].reason == FAR_DOWN
        assert checked.precheck.to_send == 2

    def test_register_down_says_the_address_is_looked_up_when_printed(self, store):
        mailing = new_mailing(store, f"{typed(HANNA)};Hanna;;;")
        run(store, mailing, register=OneAtATime(down=True))
        reason = outcomes(store, mailing)[2].reason
        assert reason == (
            "Skrivs ut: mottagaren har ingen digital brevlåda; folkbokföringen svarar inte just "
            "nu; adressen slås upp vid utskrift"
        )


class TestAskingInChunks:
    def test_far_is_asked_once_per_chunk_and_the_register_only_for_paper(self, store, monkeypatch):
        monkeypatch.setattr(mass_precheck, "PRECHECK_CHUNK", 2)
        precheck, register = FakePrecheck(), OneAtATime()
        mailing = new_mailing(
            store,
            f"{typed(TOLVAN)};Tolvan;;;",
            f"{typed(DAVID)};David;;;",
            f"{typed(BERTIL)};Bertil;;;",
            "1234;Fel;;;",
            f"{typed(HANNA)};Hanna;;;",
        )
        run(store, mailing, precheck=precheck, register=register)
        assert [ids for _sender, ids, _policy in precheck.asked] == [
            [TOLVAN, DAVID],
            [BERTIL],
            [HANNA],
        ]
        # One call per recipient: Tolvan goes digitally, so the register is not asked.
        assert register.asked == [DAVID, BERTIL, HANNA]

    def test_a_register_that_answers_in_bulk_is_asked_once_per_chunk(self, store, monkeypatch):
        monkeypatch.setattr(mass_precheck, "PRECHECK_CHUNK", 2)
        register = InBulk()
        mailing = new_mailing(
            store,
            f"{typed(TOLVAN)};Tolvan;;;",
            f"{typed(DAVID)};David;;;",
            f"{typed(HANNA)};Hanna;;;",
        )
        run(store, mailing, register=register)
        assert register.asked == [[TOLVAN, DAVID], [HANNA]]
        assert outcomes(store, mailing)[4].outcome == "impossible"

    def test_the_counts_are_saved_after_every_chunk(self, store, monkeypatch):
        monkeypatch.setattr(mass_precheck, "PRECHECK_CHUNK", 2)
        seen = []

        class Watching(FakePrecheck):
            def check(self, sender_number, recipient_ids, *, policy="digital-or-paper"):
                seen.append(store.load(mailing.id).precheck.rows)
                return super().check(sender_number, recipient_ids, policy=policy)

        lines = [f"{typed(n)};X;;;" for n in (TOLVAN, DAVID, BERTIL, HANNA, JONAS)]
        mailing = new_mailing(store, *lines)
        run(store, mailing, precheck=Watching())
        assert seen == [0, 2, 4]


class TestRefusals:
    def test_a_table_unreadable_further_down_stops_with_the_row_named(self, store):
        mailing = new_mailing(store, f"{typed(TOLVAN)};Tolvan;;;", f"{typed(DAVID)};David;;;;extra")
        checked = run(store, mailing)
        assert checked.status == UPLOADED
        assert checked.error.startswith("Rad 3 har ett värde i kolumn F, som saknar rubrik")
        assert not store.path(mailing.id, PRECHECK_FILE).exists()
        assert checked.precheck.rows == 0

    def test_an_unexpected_failure_is_shown_and_changes_nothing(self, store):
        class Broken(FakePrecheck):
            def check(self, *_arguments, **_options):
                raise RuntimeError("bug")

        mailing = new_mailing(store, f"{typed(TOLVAN)};Tolvan;;;")
        checked = run(store, mailing, precheck=Broken())
        assert (checked.status, checked.error) == (UPLOADED, STOPPED)
        assert not store.path(mailing.id, PRECHECK_FILE).exists()


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+46 70", "'+46 70"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("19121212-1212", "19121212-1212"),
        ("Skrivs ut: …", "Skrivs ut: …"),
    ],
)
def test_a_cell_excel_would_run_as_a_formula_is_shown_as_text(text, cell):
    assert excel_cell(text) == cell
