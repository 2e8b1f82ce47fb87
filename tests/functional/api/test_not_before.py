"""Sending at a set time: a letter waits unclassified until its time and can be cancelled."""

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from support.api import letter_json
from utskick.jobs.models import Job
from utskick.jobs.queue import CLASSIFY
from utskick.letters.models import Letter


def _classify_job(engine, letter_id):
    with Session(engine) as session:
        return session.scalars(
            select(Job).where(Job.letter_id == letter_id, Job.kind == CLASSIFY)
        ).one_or_none()


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class TestNotBefore:
    def test_a_letter_set_for_later_is_classified_then_not_now(
        self, client, new_system, api_engine
    ):
        tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
        answer = client.post(
            "/api/v1/letters",
            json=letter_json(not_before=tomorrow.isoformat()),
            headers=new_system(),
        )
        assert answer.status_code == 201, answer.text
        letter_id = answer.json()["id"]
        assert answer.json()["not_before"].startswith(tomorrow.strftime("%Y-%m-%dT%H:%M"))
        job = _classify_job(api_engine, letter_id)
        assert _aware(job.run_at) == tomorrow
        with Session(api_engine) as session:
            letter = session.get(Letter, letter_id)
            # The time to paper counts from when it may first be sent.
            assert _aware(letter.deliver_by) > tomorrow
            assert letter.state == "received"

    def test_local_time_without_offset_is_swedish_time(self, client, new_system, api_engine):
        year = dt.datetime.now(dt.UTC).year + 1
        answer = client.post(
            "/api/v1/letters",
            json=letter_json(not_before=f"{year}-01-15 06:00"),
            headers=new_system(),
        )
        assert answer.status_code == 201, answer.text
        job = _classify_job(api_engine, answer.json()["id"])
        assert _aware(job.run_at) == dt.datetime(year, 1, 15, 5, tzinfo=dt.UTC)

    def test_a_letter_waiting_for_its_time_can_be_cancelled(self, client, new_system, api_engine):
        headers = new_system()
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=6)).isoformat()
        letter_id = client.post(
            "/api/v1/letters", json=letter_json(not_before=later), headers=headers
        ).json()["id"]
        answer = client.post(f"/api/v1/letters/{letter_id}/cancel", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "cancelled"
        assert _classify_job(api_engine, letter_id) is None

    def test_a_time_that_cannot_be_read_is_422_in_swedish_and_stores_nothing(
        self, client, new_system
    ):
        headers = new_system()
        answer = client.post(
            "/api/v1/letters", json=letter_json(not_before="imorgon kl 6"), headers=headers
        )
        assert answer.status_code == 422
        [error] = answer.json()["errors"]
        assert error["field"] == "not_before"
        assert "ingen tid som går att läsa" in error["message"]
        assert client.get("/api/v1/letters", headers=headers).json()["total"] == 0

    def test_a_time_in_the_past_is_sent_at_once(self, client, new_system, api_engine):
        answer = client.post(
            "/api/v1/letters",
            json=letter_json(not_before="2020-01-01 06:00"),
            headers=new_system(),
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["not_before"] is None
        job = _classify_job(api_engine, answer.json()["id"])
        assert _aware(job.run_at) <= dt.datetime.now(dt.UTC)

    def test_the_same_key_with_another_time_is_another_request(self, client, new_system):
        headers = new_system() | {"Idempotency-Key": "tid-1"}
        day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)
        first_time, other_time = f"{day} 06:00", f"{day + dt.timedelta(days=1)} 06:00"
        first = client.post(
            "/api/v1/letters", json=letter_json(not_before=first_time), headers=headers
        )
        again = client.post(
            "/api/v1/letters", json=letter_json(not_before=first_time), headers=headers
        )
        other = client.post(
            "/api/v1/letters", json=letter_json(not_before=other_time), headers=headers
        )
        assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)

    def test_more_than_a_year_ahead_is_refused(self, client, new_system):
        answer = client.post(
            "/api/v1/letters", json=letter_json(not_before="2099-01-01 06:00"), headers=new_system()
        )
        assert answer.status_code == 422
        assert "årtalet" in answer.json()["errors"][0]["message"]
