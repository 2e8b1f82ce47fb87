"""The letter service on a database of each kind, with one sender and one sending system."""

import pytest
from sqlalchemy import func, select

from support.world import EXEMPELKOMMUN, NOW, sender_organisation
from utskick.jobs.models import Job
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Batch, Letter, LetterAttachment, LetterEvent
from utskick.letters.service import LetterService
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings


@pytest.fixture
def intake(db_session):
    """(service, sending system) on a rolled-back session of SQLite or PostgreSQL."""
    db_session.add(sender_organisation(intermediary=True))
    db_session.flush()
    system = create_sending_system(
        db_session, name="Ärendesystemet", sender_numbers=[EXEMPELKOMMUN], now=NOW
    )
    service = LetterService(db_session, Settings(fallback_after_seconds=3600), clock=lambda: NOW)
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
