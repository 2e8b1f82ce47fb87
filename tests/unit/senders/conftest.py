"""The senders tests' database: Exempelkommun and Grannkommun as configured senders."""

import pytest

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, sender_organisation


@pytest.fixture
def senders(db_session):
    """A rolled-back session (SQLite or PostgreSQL) in which both demo senders exist."""
    db_session.add_all([sender_organisation(EXEMPELKOMMUN), sender_organisation(GRANNKOMMUN)])
    db_session.flush()
    return db_session
