"""The letter service on a database of each kind, with one sender and one sending system."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from utskick.jobs.models import Job
from utskick.letters.models import Batch, Letter, LetterAttachment, LetterEvent
from utskick.letters.service import LetterInput, LetterService
from utskick.senders.models import SenderOrganisation
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings

INTAKE_NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def intake(db_session):
    """(service, sending system) on a rolled-back session of SQLite or PostgreSQL."""
    db_session.add(
        SenderOrganisation(
            organisation_number="2021004748",
            name="Exempelkommun",
            intermediary=True,
            support_text="Frågor? Ring Exempelkommuns kontaktcenter.",
            created_at=INTAKE_NOW,
        )
    )
    db_session.flush()
    system = create_sending_system(
        db_session, name="Ärendesystemet", sender_numbers=["2021004748"], now=INTAKE_NOW
    )
    service = LetterService(
        db_session, Settings(fallback_after_seconds=3600), clock=lambda: INTAKE_NOW
    )
    return service, system


@pytest.fixture
def a_letter():
    """Build a letter the service accepts, with the changes given."""
    return _a_letter


def _a_letter(**changes):
    fields = {
        "sender": "202100-4748",
        "recipient": "19121212-1212",
        "subject": "Beslut om bygglov",
        "body": "Hej! Här kommer beslutet.",
        "protection_class": 2,
    }
    fields.update(changes)
    return LetterInput(**fields)


@pytest.fixture
def stored_rows(db_session):
    """Count the rows each table of a letter's life holds (after a flush)."""

    def count():
        db_session.flush()
        return {
            model.__tablename__: db_session.scalar(select(func.count()).select_from(model))
            for model in (Letter, LetterAttachment, LetterEvent, Job, Batch)
        }

    return count
