"""GET /api/v1/events on SQLite and PostgreSQL: a system that polls sees each of its own
events exactly once, in order, once they have settled, in the webhook's own document."""

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.world import EXEMPELKOMMUN
from utskick.letters import events
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.letters.webhooks import event_body
from utskick.senders.models import SendingSystem
from utskick.senders.systems import create_sending_system, issue_api_key
from utskick.settings import Settings

pytestmark = pytest.mark.storage

FEED = "/api/v1/events"
SETTLE = dt.timedelta(seconds=Settings().event_feed_settle_seconds)


def _now():
    return dt.datetime.now(dt.UTC)


def _system(engine):
    """A new sending system with a key: (its id, the headers that authenticate as it)."""
    with Session(engine) as session:
        system = create_sending_system(
            session,
            name=f"flöde-{uuid.uuid4().hex[:8]}",
            sender_numbers=[EXEMPELKOMMUN],
            now=_now(),
        )
        issued = issue_api_key(session, system, now=_now())
        session.commit()
        return system.id, {"Authorization": f"Bearer {issued.clear_key}"}


def _letter(engine, system_id, at, *more_states):
    """A letter handed over at `at`, with further events at `at`; returns its id."""
    with Session(engine) as session:
        system = session.get(SendingSystem, system_id)
        service = LetterService(session, Settings(), clock=lambda: at)
        letter, _ = service.accept(
            system,
            LetterInput(
                sender=EXEMPELKOMMUN,
                recipient="19121212-1212",
                subject="Beslut",
                body="Hej!",
                protection_class=2,
                idempotency_key=uuid.uuid4().hex,
            ),
            actor="api:flöde",
        )
        for state in more_states:
            events.record(session, letter, state, actor="worker:test", now=at, channel="digital")
        session.commit()
        return letter.id


def _stored_event_ids(engine, system_id):
    with Session(engine) as session:
        return list(
            session.scalars(
                select(LetterEvent.event_id)
                .join(Letter, Letter.id == LetterEvent.letter_id)
                .where(Letter.sending_system_id == system_id)
                .order_by(LetterEvent.id)
            )
        )


def _read_all(client, headers, *, limit):
    """Follow `next` until no more: every event id seen, and the pages' sizes."""
    seen, sizes, after = [], [], None
    while True:
        params = {"limit": limit} | ({"after": after} if after is not None else {})
        answer = client.get(FEED, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        seen += [event["event_id"] for event in page["events"]]
        sizes.append(len(page["events"]))
        after = page["next"]
        if not page["more"]:
            return seen, sizes, after


def test_following_next_sees_each_event_once_and_in_order(storage_engine, storage_client):
    ours, headers = _system(storage_engine)
    theirs, _ = _system(storage_engine)
    past = _now() - dt.timedelta(minutes=10)
    for minute in range(5):  # two systems' letters written in turn
        _letter(storage_engine, ours, past + dt.timedelta(minutes=minute), "classified")
        _letter(storage_engine, theirs, past + dt.timedelta(minutes=minute), "classified")

    seen, sizes, last = _read_all(storage_client, headers, limit=3)

    assert seen == _stored_event_ids(storage_engine, ours)
    assert len(seen) == len(set(seen)) == 10
    assert sizes == [3, 3, 3, 1]
    again = storage_client.get(FEED, params={"after": last}, headers=headers).json()
    assert again == {"events": [], "next": last, "more": False}


def test_another_systems_events_are_not_listed(storage_engine, storage_client):
    ours, headers = _system(storage_engine)
    theirs, _ = _system(storage_engine)
    past = _now() - dt.timedelta(minutes=10)
    own_letter = _letter(storage_engine, ours, past)
    _letter(storage_engine, theirs, past, "classified")

    page = storage_client.get(FEED, headers=headers).json()

    assert {event["letter_id"] for event in page["events"]} == {own_letter}
    assert not set(_stored_event_ids(storage_engine, theirs)) & {
        event["event_id"] for event in page["events"]
    }


def test_each_event_is_the_document_its_webhook_carries(storage_engine, storage_client):
    ours, headers = _system(storage_engine)
    _letter(storage_engine, ours, _now() - dt.timedelta(minutes=1), "classified")

    listed = storage_client.get(FEED, headers=headers).json()["events"]

    with Session(storage_engine) as session:
        rows = session.execute(
            select(LetterEvent, Letter)
            .join(Letter, Letter.id == LetterEvent.letter_id)
            .where(Letter.sending_system_id == ours)
            .order_by(LetterEvent.id)
        ).all()
        bodies = [
            json.loads(
                event_body(event, idempotency_key=letter.idempotency_key, channel=letter.channel)
            )
            for event, letter in rows
        ]
    assert listed == bodies
    assert [event["type"] for event in listed] == ["letter.received", "letter.classified"]


def test_an_event_is_listed_only_once_it_has_settled(storage_engine, storage_client):
    ours, headers = _system(storage_engine)
    settled = _letter(storage_engine, ours, _now() - SETTLE - dt.timedelta(seconds=30))
    fresh = _letter(storage_engine, ours, _now())

    page = storage_client.get(FEED, headers=headers).json()

    assert [event["letter_id"] for event in page["events"]] == [settled]
    assert fresh not in {event["letter_id"] for event in page["events"]}


def test_a_page_stops_before_an_unsettled_event_rather_than_pass_it(storage_engine, storage_client):
    # An event's time is taken when its work begins, so a later id can carry an older time.
    ours, headers = _system(storage_engine)
    first = _letter(storage_engine, ours, _now() - SETTLE - dt.timedelta(minutes=1))
    _letter(storage_engine, ours, _now())
    _letter(storage_engine, ours, _now() - SETTLE - dt.timedelta(minutes=1))

    page = storage_client.get(FEED, headers=headers).json()

    assert [event["letter_id"] for event in page["events"]] == [first]
    assert page["more"] is False


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("after=abc", "after", "after ska vara värdet av next"),
        ("after=-1", "after", "after ska vara värdet av next"),
        ("after=", "after", "after ska vara värdet av next"),
        ("after=9999999999999999999", "after", "after ska vara värdet av next"),
        ("after=12345678901234567890", "after", "får ha högst 19 tecken"),
        ("limit=0", "limit", "ska vara minst 1"),
        ("limit=1001", "limit", "får vara högst 1000"),
        ("limit=många", "limit", "ska vara ett heltal"),
        ("limit=5&limit=6", "limit", "ange limit en gång"),
    ],
)
def test_bad_input_is_refused_in_swedish_naming_the_field(
    storage_engine, storage_client, query, field, message
):
    _, headers = _system(storage_engine)

    answer = storage_client.get(f"{FEED}?{query}", headers=headers)

    assert answer.status_code == 422
    body = answer.json()
    assert message in body["detail"]
    assert [error["field"] for error in body["errors"]] == [field]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer uk_okand-nyckel"}])
def test_without_a_valid_key_nothing_is_listed(storage_client, headers):
    answer = storage_client.get(FEED, headers=headers)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert "events" not in answer.json()
