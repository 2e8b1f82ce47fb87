"""The statistics tests' letters: seeded straight into a rolled-back database of each kind.

The letters and the figures they come to are described in test_report.py.
"""

import datetime as dt

import pytest

from functional.browser.statistics_letters import (
    BYGG,
    GRANNKOMMUN,
    add_letter,
    add_reference_data,
    utc,
)
from utskick.settings import Settings

SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path, benefit_plan_first_year=2026)


@pytest.fixture
def seeded(db_session):
    system = add_reference_data(db_session)

    def social(created_at, state, after=None, reason=None):
        add_letter(
            db_session,
            system,
            created_at=created_at,
            state=state,
            reached_after=after,
            reason=reason,
        )

    def bygg(state, after=None, reason=None):
        add_letter(
            db_session, system, created_at=utc(2026, 1, 20), state=state, reached_after=after,
            department=BYGG, sender=GRANNKOMMUN, message_type="faktura", reason=reason,
        )  # fmt: skip

    social(utc(2025, 12, 31, 23, 30), "delivered", 60 * SECOND)
    social(utc(2026, 1, 10), "delivered", 120 * SECOND)
    social(utc(2026, 1, 11), "delivered", 600 * SECOND)
    social(utc(2026, 1, 12), "handed_to_print", dt.timedelta(days=1))
    social(utc(2026, 1, 13), "printed", dt.timedelta(hours=2))
    social(utc(2026, 1, 14), "impossible", reason="deceased")
    bygg("delivered", 30 * SECOND)
    bygg("impossible", reason="no_address")
    bygg("impossible", reason="protected")
    bygg("not_reachable")
    bygg("failed")
    bygg("cancelled")
    bygg("retrying")
    social(utc(2026, 1, 31, 23, 30), "delivered", 300 * SECOND)
    social(utc(2026, 2, 10), "paper")
    social(utc(2026, 2, 11), "batched")
    social(utc(2025, 12, 31, 22, 30), "delivered", 45 * SECOND)
    db_session.flush()
    return db_session
