"""Records rules: which rule a letter gets, who keeps it, and what keeping it means for content.

The rules are read from the database (`RuleBook`), set with `set_rule`, and applied by the
`record` job's work (`record_letters`) when a letter ends. Run on SQLite and PostgreSQL.
"""

import datetime as dt

import pytest
from sqlalchemy import func, select

from functional.records.ended_letters import at, ended_letter, make_records, prepare_world
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW
from utskick.jobs.models import Job
from utskick.jobs.queue import REGISTER
from utskick.letters import vocabulary
from utskick.letters.content import has_content
from utskick.records.models import (
    JOURNAL,
    KEPT_BY_SYSTEM,
    KEPT_BY_UTSKICK,
    KEPT_IN_ORDER,
    NO_RECORD,
    REGISTRATION_NONE,
    REGISTRATION_PENDING,
    RecordsRule,
)
from utskick.records.models import (
    REGISTER as REGISTER_RULE,
)
from utskick.records.rules import (
    ANY_TYPE,
    DEFAULT_RULE,
    DEMO_RULES,
    RuleBook,
    RuleInputError,
    add_months,
    set_rule,
)
from utskick.settings import Settings

pytestmark = pytest.mark.storage


def _set(session, message_type, rule, *, organisation=None, months=(None, None), keeper=None):
    set_rule(
        session,
        message_type=message_type,
        rule=rule,
        keeper=keeper or KEPT_BY_SYSTEM,
        content_months=months[0],
        metadata_months=months[1],
        decision="KS 2026/1 § 1" if months != (None, None) else None,
        actor="test",
        now=NOW,
        organisation_number=organisation,
    )


class TestLookupOrder:
    def test_nothing_configured_keeps_in_order_and_disposes_of_nothing(self, db_session):
        rule = RuleBook.load(db_session).rule_for(EXEMPELKOMMUN, "faktura")
        assert rule == DEFAULT_RULE
        assert (rule.rule, rule.keeper) == (KEPT_IN_ORDER, KEPT_BY_SYSTEM)
        assert rule.content_due(NOW) is None
        assert rule.metadata_due(NOW) is None

    def test_the_organisations_own_rule_for_the_type_wins_then_the_installations(self, db_session):
        _set(db_session, ANY_TYPE, NO_RECORD)
        _set(db_session, ANY_TYPE, JOURNAL, organisation=EXEMPELKOMMUN)
        _set(db_session, "faktura", KEPT_IN_ORDER)
        _set(db_session, "faktura", REGISTER_RULE, organisation=EXEMPELKOMMUN)
        book = RuleBook.load(db_session)
        # The organisation's rule for the type, then the installation's for the type …
        assert book.rule_for(EXEMPELKOMMUN, "faktura").rule == REGISTER_RULE
        assert book.rule_for(GRANNKOMMUN, "faktura").rule == KEPT_IN_ORDER
        # … then the organisation's "*", then the installation's "*".
        assert book.rule_for(EXEMPELKOMMUN, "kallelse").rule == JOURNAL
        assert book.rule_for(GRANNKOMMUN, "kallelse").rule == NO_RECORD

    def test_a_letter_without_a_type_gets_the_any_type_rule(self, db_session):
        _set(db_session, ANY_TYPE, NO_RECORD)
        assert RuleBook.load(db_session).rule_for(EXEMPELKOMMUN, None).rule == NO_RECORD

    def test_setting_a_rule_again_changes_it_in_place(self, db_session):
        _set(db_session, "faktura", KEPT_IN_ORDER)
        _set(db_session, "faktura", REGISTER_RULE)
        rows = db_session.scalars(
            select(RecordsRule).where(RecordsRule.message_type == "faktura")
        ).all()
        assert [row.rule for row in rows] == [REGISTER_RULE]


class TestKeeper:
    def test_a_desk_letter_is_kept_by_utskick_whatever_the_rule_says(self, db_session):
        systems = prepare_world(db_session)
        desk = ended_letter(db_session, systems.desk, message_type="faktura")
        system = ended_letter(db_session, systems.archiving, message_type="faktura")
        records = {r.letter_id: r for r in make_records(db_session, [desk, system])}
        assert records[desk.id].keeper == KEPT_BY_UTSKICK
        assert records[system.id].keeper == KEPT_BY_SYSTEM

    def test_a_delivered_letter_loses_its_content_only_when_its_system_keeps_the_record(
        self, db_session
    ):
        systems = prepare_world(db_session)
        desk = ended_letter(db_session, systems.desk)
        system = ended_letter(db_session, systems.archiving)
        make_records(db_session, [desk, system])
        assert has_content(desk)
        assert system.body is None
        assert [a.content for a in system.attachments] == [None]

    def test_paper_only_attachments_stay_after_digital_delivery(self, db_session):
        systems = prepare_world(db_session)
        letter = ended_letter(db_session, systems.archiving, attachments=2)
        letter.attachments[1].channel = "paper"
        make_records(db_session, [letter])
        assert letter.body is None
        assert letter.attachments[0].content is None
        assert letter.attachments[1].content is not None

    def test_a_paper_letter_keeps_its_content_even_when_the_system_keeps_the_record(
        self, db_session
    ):
        systems = prepare_world(db_session)
        letter = ended_letter(db_session, systems.archiving, paper=True)
        make_records(db_session, [letter])
        assert has_content(letter)

    def test_the_installation_may_keep_all_content_after_delivery(self, db_session):
        systems = prepare_world(db_session)
        letter = ended_letter(db_session, systems.archiving)
        make_records(db_session, [letter], settings=Settings(keep_content_after_delivery=True))
        assert has_content(letter)


class TestDemoRules:
    @pytest.mark.parametrize("demo", DEMO_RULES, ids=lambda rule: rule.message_type)
    def test_each_demo_rule_is_applied_to_a_sent_letter(self, db_session, demo):
        systems = prepare_world(db_session)
        ended = at("2026-01-31")
        letter = ended_letter(
            db_session,
            systems.desk,
            message_type=None if demo.message_type == ANY_TYPE else demo.message_type,
            ended_at=ended,
        )
        [record] = make_records(db_session, [letter])
        assert (record.rule, record.decision) == (demo.rule, demo.decision)
        assert record.sent_at.replace(tzinfo=dt.UTC) == ended
        expected_content = (
            None if demo.content_months is None else add_months(ended, demo.content_months)
        )
        expected_metadata = (
            None if demo.metadata_months is None else add_months(ended, demo.metadata_months)
        )
        assert (record.content_due, record.metadata_due) == (expected_content, expected_metadata)
        registers = demo.rule in (REGISTER_RULE, JOURNAL)
        assert record.registration == (REGISTRATION_PENDING if registers else REGISTRATION_NONE)

    def test_months_run_to_the_last_day_of_a_short_month(self):
        assert add_months(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
        assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)
        assert add_months(dt.date(2026, 11, 30), 3) == dt.date(2027, 2, 28)
        assert add_months(dt.date(2026, 3, 15), -24) == dt.date(2024, 3, 15)

    def test_a_letter_that_never_went_out_is_kept_but_not_registered(self, db_session):
        systems = prepare_world(db_session)
        letter = ended_letter(
            db_session, systems.desk, message_type="beslut", state=vocabulary.FAILED
        )
        [record] = make_records(db_session, [letter])
        assert record.rule == REGISTER_RULE
        assert record.registration == REGISTRATION_NONE

    def test_a_register_job_is_queued_only_with_a_registration_url(self, db_session):
        systems = prepare_world(db_session)
        first = ended_letter(db_session, systems.desk, message_type="beslut")
        second = ended_letter(db_session, systems.desk, message_type="beslut")
        make_records(db_session, [first])
        make_records(
            db_session,
            [second],
            settings=Settings(records_registration_url="https://diarium.test/registrera"),
        )
        queued = db_session.scalars(select(Job.letter_id).where(Job.kind == REGISTER)).all()
        assert queued == [second.id]

    def test_a_letter_gets_its_record_once(self, db_session):
        systems = prepare_world(db_session)
        letter = ended_letter(db_session, systems.desk)
        assert len(make_records(db_session, [letter])) == 1
        assert make_records(db_session, [letter]) == []


class TestSetRuleRefusals:
    @pytest.mark.parametrize(
        ("fields", "says"),
        [
            ({"rule": "arkiveras"}, "Okänd arkivregel"),
            ({"keeper": "kommunen"}, "Okänd förvarare"),
            ({"content_months": -1, "decision": "KS 1"}, "kan inte vara negativ"),
            ({"metadata_months": 12}, "måste ange gallringsbeslutet"),
            ({"metadata_months": 12, "decision": "   "}, "måste ange gallringsbeslutet"),
            (
                {"content_months": 24, "metadata_months": 12, "decision": "KS 1"},
                "kan inte gallras före innehållet",
            ),
        ],
    )
    def test_a_rule_that_cannot_be_is_refused_and_nothing_changes(self, db_session, fields, says):
        _set(db_session, "faktura", KEPT_IN_ORDER)
        values = {
            "message_type": "faktura",
            "rule": REGISTER_RULE,
            "keeper": KEPT_BY_UTSKICK,
            "content_months": None,
            "metadata_months": None,
            "decision": None,
            **fields,
        }
        with pytest.raises(RuleInputError, match=says):
            set_rule(db_session, actor="test", now=NOW, **values)
        rules = db_session.scalars(
            select(RecordsRule).where(RecordsRule.message_type == "faktura")
        ).all()
        assert [(r.rule, r.keeper, r.metadata_months) for r in rules] == [
            (KEPT_IN_ORDER, KEPT_BY_SYSTEM, None)
        ]

    def test_a_rule_that_disposes_names_its_decision(self, db_session):
        row = set_rule(
            db_session,
            message_type="faktura",
            rule=KEPT_IN_ORDER,
            keeper=KEPT_BY_SYSTEM,
            content_months=84,
            metadata_months=84,
            decision="  KS 2026/14 § 3  ",
            actor="registrator",
            now=NOW,
        )
        assert row.decision == "KS 2026/14 § 3"
        assert row.updated_by == "registrator"
        count = db_session.scalar(select(func.count()).select_from(RecordsRule))
        assert count == 1
