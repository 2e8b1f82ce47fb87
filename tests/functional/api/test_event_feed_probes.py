"""Probes of GET /api/v1/events at the edge of its cursor (SQLite and PostgreSQL).

The feed takes any `after` up to 2^63 - 1, "the largest id a database column of ids can
hold" (`intake.event_routes`), and its cursor is the event row's id. A busy installation
writes several events per letter, hundreds of thousands of letters a night: an event whose id
passes 2^31 must still be stored and listed.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.orm import Session

from support.world import EXEMPELKOMMUN
from utskick.letters.inputs import LetterInput
from utskick.letters.models import LetterEvent
from utskick.letters.service import LetterService
from utskick.senders.models import SendingSystem
from utskick.senders.systems import create_sending_system, issue_api_key
from utskick.settings import Settings

pytestmark = pytest.mark.storage

FEED = "/api/v1/events"
PAST_32_BITS = 2**31


def test_an_event_whose_id_passes_32_bits_is_stored_and_listed(storage_engine, storage_client):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with Session(storage_engine) as session:
        system = create_sending_system(
            session,
            name=f"brett-{uuid.uuid4().hex[:8]}",
            sender_numbers=[EXEMPELKOMMUN],
            now=long_ago,
        )
        key = issue_api_key(session, system, now=long_ago).clear_key
        session.flush()
        letter, _ = LetterService(session, Settings(), clock=lambda: long_ago).accept(
            session.get(SendingSystem, system.id),
            LetterInput(
                sender=EXEMPELKOMMUN,
                recipient="19121212-1212",
                subject="Beslut",
                body="Hej!",
                protection_class=2,
                idempotency_key=uuid.uuid4().hex,
            ),
            actor="api:brett",
        )
        event_id = str(uuid.uuid4())
        session.add(
            LetterEvent(
                id=PAST_32_BITS,
                event_id=event_id,
                letter_id=letter.id,
                at=long_ago,
                actor="worker:test",
                state=letter.state,
            )
        )
        session.commit()

    answer = storage_client.get(
        FEED, params={"after": PAST_32_BITS - 1}, headers={"Authorization": f"Bearer {key}"}
    )

    assert answer.status_code == 200, answer.text
    assert [event["event_id"] for event in answer.json()["events"]] == [event_id]
    assert answer.json()["next"] == str(PAST_32_BITS)
