"""Probes of the attempt limit across an operator's retry (SQLite and PostgreSQL).

A delivery that fails at the limit, is retried with `jobs retry` and fails at the limit again
gives its letter two failure events (one per failure, never two for one) and one retry event,
is tried exactly twice the limit, and leaves the letter's state as it was.
"""

from __future__ import annotations

import pytest

from integration.test_job_attempt_limit import MAX_ATTEMPTS, DigitalFar, World, _database
from support.world import TOLVAN, FakeOperator
from utskick.jobs.queue import DELIVER
from utskick.letters import job_failures, vocabulary
from utskick.relay.operator import TransientDeliveryError

pytestmark = pytest.mark.storage


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path, authority):
    with _database(request.param, tmp_path) as url:
        world = World(url, tmp_path, authority)
        yield world
        world.engine.dispose()


def test_a_retried_job_that_fails_again_is_told_once_per_failure(world):
    letter_id = world.accept(TOLVAN, vocabulary.DIGITAL_OR_PAPER)
    operator = FakeOperator(*[TransientDeliveryError("HTTP 503")] * (2 * MAX_ATTEMPTS + 2))
    worker = world.worker(register=DigitalFar(), operator_client=operator)
    try:
        world.run(worker, rounds=20)
        state_before = world.letter(letter_id).state
        first = world.job(letter_id, DELIVER)
        assert first.failed_at is not None
        world.retry(first.id)
        world.run(worker, rounds=20)
        world.run(worker, rounds=5, seconds=60)  # long after: a failed job is not claimed
    finally:
        worker.close()

    assert len(operator.requests) == 2 * MAX_ATTEMPTS
    again = world.job(letter_id, DELIVER)
    assert (again.id, again.attempts) == (first.id, MAX_ATTEMPTS)
    assert again.failed_at is not None
    assert len(world.events(letter_id, job_failures.JOB_FAILED)) == 2
    assert len(world.events(letter_id, job_failures.JOB_RETRIED)) == 1
    assert world.letter(letter_id).state == state_before == vocabulary.RETRYING
