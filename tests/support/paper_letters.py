"""Paper letters in a migrated database, for the print service's tests (no network)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from support.world import EXEMPELKOMMUN, NOW
from utskick.letters import events, vocabulary
from utskick.letters.models import Letter
from utskick.senders.models import SenderOrganisation, SendingSystem


def ensure_sender_and_system(session: Session) -> str:
    """The sender Exempelkommun and a sending system of its own; returns the system's id."""
    if (
        session.scalar(
            select(SenderOrganisation).where(
                SenderOrganisation.organisation_number == EXEMPELKOMMUN
            )
        )
        is None
    ):
        session.add(
            SenderOrganisation(
                organisation_number=EXEMPELKOMMUN,
                name="Exempelkommun",
                support_text="Kontakta Exempelkommuns kundcenter, 0771-00 00 00.",
                support_phone="0771-00 00 00",
                created_at=NOW,
            )
        )
    system_id = str(uuid.uuid4())
    # Only the columns named here: the upgrade tests make a system in an older schema too.
    session.execute(
        insert(SendingSystem).values(
            id=system_id,
            name=f"Utskriftstest {system_id[:8]}",
            sender_numbers=[EXEMPELKOMMUN],
            departments=None,
            created_at=NOW,
        )
    )
    session.flush()
    return system_id


def paper_letter(
    session: Session,
    system_id: str,
    recipient_id: str,
    *,
    department: str,
    subject: str = "Beslut om bygglov",
    body: str = "Hej!\n\nNämnden har beviljat ditt bygglov.",
    postal_address: dict[str, object] | None = None,
    now: dt.datetime = NOW,
) -> Letter:
    """A letter that has just gone to paper (its `print` job queued as in production)."""
    letter_id = str(uuid.uuid4())
    letter = Letter(
        id=letter_id,
        sending_system_id=system_id,
        idempotency_key=letter_id,
        sender_number=EXEMPELKOMMUN,
        department=department,
        recipient_id=recipient_id,
        subject=subject,
        body_type="text/plain",
        body=body,
        protection_class=2,
        policy="paper-only",
        case_number="BN 2026/7",
        postal_address=postal_address,
        message_id=uuid.uuid4().hex,
        created_at=now,
        state=vocabulary.RECEIVED,
        updated_at=now,
    )
    session.add(letter)
    session.flush()
    events.record(
        session,
        letter,
        vocabulary.PAPER,
        actor="test",
        now=now,
        channel="paper",
        reason="paper_only_policy",
    )
    return letter
