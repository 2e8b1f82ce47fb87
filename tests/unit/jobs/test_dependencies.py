"""What the last call to FaR came to, kept for /health (SQLite and PostgreSQL): an outage
keeps the time it began, an answer ends it, a run of answers writes nothing, and a database
that cannot be written never fails the caller."""

import datetime as dt
import logging
import uuid

import pytest

from utskick.db.engine import create_database_engine
from utskick.jobs.dependencies import (
    DEGRADED,
    OK,
    UNKNOWN,
    DependencyState,
    dependency_state,
    record_outcome,
)

pytestmark = pytest.mark.storage

START = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def utc(moment):
    """A stored time with its zone (SQLite gives it back naive, in UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment and moment.tzinfo is None else moment


@pytest.fixture
def name():
    """A dependency of the test's own: the shared test database has its own "far"."""
    return f"far-{uuid.uuid4().hex[:8]}"


def state_of(engine, name):
    """(status, reason, since, checked_at) as last recorded."""
    state = dependency_state(engine, name)
    return state.status, state.reason, utc(state.since), utc(state.checked_at)


def test_an_outage_keeps_the_time_it_began_and_an_answer_ends_it(migrated_engine, name):
    def seen() -> tuple[str, str | None, dt.datetime | None]:
        status, reason, since, _ = state_of(migrated_engine, name)
        return status, reason, since

    record_outcome(migrated_engine, name, "anslutningen nekades", at(0))
    record_outcome(migrated_engine, name, "tidsgräns (30 s)", at(5))
    assert seen() == (DEGRADED, "tidsgräns (30 s)", at(0))

    record_outcome(migrated_engine, name, None, at(10))
    record_outcome(migrated_engine, name, None, at(15))  # still ok: nothing written
    assert seen() == (OK, None, at(10))

    record_outcome(migrated_engine, name, "HTTP 503", at(20))
    assert seen() == (DEGRADED, "HTTP 503", at(20))


def test_before_the_first_call_the_state_is_unknown(migrated_engine, name):
    state = dependency_state(migrated_engine, name)

    assert state == DependencyState(name, UNKNOWN)
    assert state.as_json() == {"status": "unknown"}


def test_a_first_answer_is_recorded_as_ok_since_then(migrated_engine, name):
    record_outcome(migrated_engine, name, None, at(0))

    assert state_of(migrated_engine, name) == (OK, None, at(0), at(0))


def test_each_failure_is_when_it_was_last_seen_and_an_answer_run_writes_nothing(
    migrated_engine, name
):
    record_outcome(migrated_engine, name, "anslutningen nekades", at(0))
    record_outcome(migrated_engine, name, "HTTP 503", at(7))
    assert state_of(migrated_engine, name) == (DEGRADED, "HTTP 503", at(0), at(7))

    record_outcome(migrated_engine, name, None, at(10))
    record_outcome(migrated_engine, name, None, at(15))
    assert state_of(migrated_engine, name) == (OK, None, at(10), at(10))


def test_a_long_reason_is_cut_to_what_the_row_holds(migrated_engine, name):
    record_outcome(migrated_engine, name, "x" * 5000, at(0))

    assert dependency_state(migrated_engine, name).reason == "x" * 1000


def test_health_shows_a_degraded_service_with_its_reason_and_times_in_utc():
    naive = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC).replace(tzinfo=None)
    degraded = DependencyState("far", DEGRADED, "HTTP 503", naive, at(7))
    ok = DependencyState("far", OK, None, at(10), at(10))

    assert degraded.as_json() == {
        "status": "degraded",
        "reason": "HTTP 503",
        "since": "2026-12-07T02:00:00+00:00",
        "last_failure_at": "2026-12-07T02:07:00+00:00",
    }
    assert ok.as_json() == {
        "status": "ok",
        "since": "2026-12-07T02:10:00+00:00",
        "checked_at": "2026-12-07T02:10:00+00:00",
    }


def test_a_database_that_cannot_be_written_is_logged_and_not_raised(tmp_path, caplog):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'without-tables.db'}")

    with caplog.at_level(logging.ERROR, logger="utskick.jobs.dependencies"):
        record_outcome(engine, "far", "HTTP 503", at(0))
        record_outcome(engine, "far", None, at(1))

    engine.dispose()
    assert [r.getMessage() for r in caplog.records] == [
        "could not record the outcome of a call to far"
    ] * 2
