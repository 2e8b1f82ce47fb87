"""What a poll does with each complete file by its ending and the source's rule: print files
with their control files, tables, NDJSON, and everything else refused saying what is taken."""

import pytest

from utskick.intake.pickup.folders import FolderEntry
from utskick.intake.pickup.plan import ALONE_SECONDS, Refuse, Take, Wait, kind_of, plan
from utskick.intake.pickup.stability import Sighting
from utskick.intake.sources import RecipientRule, Source

NOW = 1_800_000_000.0


def _source(rule):
    return Source(name="k", system="S", recipient=RecipientRule(rule=rule, field="pnr"))


def _plan(rule, *names, incomplete=(), age=60.0):
    entries = [FolderEntry(name, 10, NOW - age) for name in names]
    complete = {
        name: None if name in incomplete else Sighting(10, NOW - age, NOW - age, NOW - age)
        for name in names
    }
    return plan(_source(rule), entries, complete, NOW)


class TestKinds:
    @pytest.mark.parametrize(
        ("rule", "name", "kind"),
        [
            ("anchor", "a.pdf", "pdf"),
            ("anchor", "a.PDF", "pdf"),
            ("anchor", "a.csv", "csv"),
            ("anchor", "a.xlsx", "xlsx"),
            ("anchor", "a.ndjson", "ndjson"),
            ("anchor", "a.jsonl", "ndjson"),
            ("anchor", "a.json", None),
            ("anchor", "a.docx", None),
            ("anchor", "README", None),
            ("control-file", "a.csv", "control"),
            ("control-file", "a.json", "control"),
            ("control-file", "a.xlsx", None),
            ("control-file", "a.ndjson", "ndjson"),
        ],
    )
    def test_a_files_kind_by_its_ending_and_the_rule(self, rule, name, kind):
        assert kind_of(_source(rule), name) == kind


class TestPlan:
    def test_complete_files_are_taken_by_their_kind(self):
        assert _plan("anchor", "a.pdf", "b.csv", "c.ndjson") == [
            Take("a.pdf", "pdf"),
            Take("b.csv", "csv"),
            Take("c.ndjson", "ndjson"),
        ]

    def test_a_file_still_written_waits(self):
        [action] = _plan("anchor", "a.pdf", incomplete=["a.pdf"])

        assert isinstance(action, Wait)

    def test_an_unknown_kind_is_refused_saying_what_the_source_takes(self):
        [action] = _plan("anchor", "a.docx")

        assert isinstance(action, Refuse)
        assert action.reason.startswith("filtypen .docx tas inte emot; källan k tar emot")
        assert ".csv, .xlsx" in action.reason

    def test_under_the_control_file_rule_a_pdf_is_taken_with_its_control_file(self):
        actions = _plan("control-file", "a.pdf", "a.csv")

        assert Take("a.pdf", "pdf", "a.csv") in actions
        assert [type(a) for a in actions] == [Wait, Take]

    def test_the_pair_waits_while_either_is_written(self):
        actions = _plan("control-file", "a.pdf", "a.json", incomplete=["a.json"])

        assert all(isinstance(action, Wait) for action in actions)

    def test_a_pdf_with_two_control_files_is_refused(self):
        actions = _plan("control-file", "a.pdf", "a.csv", "a.json")

        [refused] = [a for a in actions if isinstance(a, Refuse)]
        assert refused.name == "a.pdf"
        assert "två styrfiler (a.csv och a.json)" in refused.reason

    @pytest.mark.parametrize("name", ["a.pdf", "a.csv"])
    def test_one_of_a_pair_alone_waits_under_an_hour(self, name):
        [action] = _plan("control-file", name, age=ALONE_SECONDS - 1)

        assert isinstance(action, Wait)

    @pytest.mark.parametrize(("name", "says"), [("a.pdf", "utan styrfil"), ("a.csv", "ensam")])
    def test_one_of_a_pair_alone_for_an_hour_is_refused(self, name, says):
        [action] = _plan("control-file", name, age=ALONE_SECONDS)

        assert isinstance(action, Refuse)
        assert says in action.reason
