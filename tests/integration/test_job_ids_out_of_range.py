"""`jobs retry` and `jobs cancel` with an id no job can have (SQLite and PostgreSQL).

An id is a signed 64-bit integer from 1: anything outside is answered "no such job" before
the database is asked (which would raise, not answer: SQLite past 2^63, PostgreSQL past its
column type), and the session stays usable for the next command's work.
"""

import datetime as dt

import pytest

from utskick.jobs.admin import JobAdminError, cancel_job, retry_job
from utskick.jobs.models import Job

pytestmark = pytest.mark.storage

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
NO_JOB_CAN_HAVE = [0, -1, -(2**63) - 1, 2**31, 2**63 - 1, 2**63, 10**23]


@pytest.mark.parametrize("job_id", NO_JOB_CAN_HAVE)
@pytest.mark.parametrize("command", [retry_job, cancel_job], ids=["retry", "cancel"])
def test_an_id_no_job_has_is_answered_no_such_job(db_session, command, job_id):
    with pytest.raises(JobAdminError, match=f"det finns inget jobb {job_id};"):
        command(db_session, job_id, NOW)

    job = Job(kind="deliver", run_at=NOW, attempts=3, created_at=NOW, failed_at=NOW)
    db_session.add(job)
    db_session.flush()
    assert retry_job(db_session, job.id, NOW).attempts == 0
