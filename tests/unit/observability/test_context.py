"""The request id: made, checked, carried into threads and into the jobs a request queues."""

import threading
from dataclasses import dataclass

import pytest

from utskick.observability.context import (
    carrying_request_id,
    current_request_id,
    job_request_id,
    jobs_request_id,
    new_request_id,
    origin_request_ids,
    request_id_scope,
    valid_request_id,
    with_request_id,
)


@dataclass(frozen=True)
class Job:
    id: int
    payload: dict[str, object] | None


class TestValidRequestId:
    @pytest.mark.parametrize("value", ["abc", "A-b_c.9", "x" * 64, "job-12", "jobs-3-9"])
    def test_accepts_a_plain_id_of_at_most_64_characters(self, value):
        assert valid_request_id(value)

    def test_a_new_id_is_valid_and_never_the_same_twice(self):
        made = {new_request_id() for _ in range(100)}
        assert len(made) == 100
        assert all(valid_request_id(value) and len(value) == 32 for value in made)

    @pytest.mark.parametrize(
        "value",
        ["", "x" * 65, "a b", "a\nlevel=ERROR", 'a"}', "åäö", "a;b", "a/b", "19121212 1212"],
    )
    def test_refuses_anything_that_could_forge_a_log_line_or_field(self, value):
        assert not valid_request_id(value)

    @pytest.mark.parametrize(
        "value",
        [
            "19121212-1212",
            "191212121212",
            "1212121212",
            "121212-1212",
            "kund_191212121212",  # inside an id, between characters a number stands alone by
            "ref.1212121212",
            "197001632392",  # a samordningsnummer
        ],
    )
    def test_refuses_an_id_that_holds_an_identity_number(self, value):
        # A business system using the recipient's personnummer as its correlation id would
        # have it in every log line, job payload and outgoing call.
        assert not valid_request_id(value)

    @pytest.mark.parametrize(
        "value",
        ["191212121213", "order-1234567890", "5f2c1212121212ab", "20261207-0001", "202100-4748"],
    )
    def test_keeps_an_id_whose_digits_are_no_identity_number(self, value):
        assert valid_request_id(value)


class TestRequestIdScope:
    def test_sets_the_id_inside_and_restores_it_after(self):
        assert current_request_id() is None
        with request_id_scope("outer") as outer:
            with request_id_scope("inner"):
                assert current_request_id() == "inner"
            assert current_request_id() == outer == "outer"
        assert current_request_id() is None

    def test_makes_a_new_id_when_none_or_an_invalid_one_is_given(self):
        with request_id_scope() as made:
            assert len(made) == 32
            assert current_request_id() == made
        with request_id_scope("bad id\n") as replaced:
            assert replaced != "bad id\n"
            assert valid_request_id(replaced)
        with request_id_scope("19121212-1212") as replaced:
            assert replaced != "19121212-1212"
            assert current_request_id() == replaced

    def test_a_new_thread_does_not_see_the_id_unless_the_work_carries_it(self):
        seen = {}

        def note(key):
            seen[key] = current_request_id()

        with request_id_scope("req-1"):
            plain = threading.Thread(target=note, args=("plain",))
            carried = threading.Thread(target=carrying_request_id(note), args=("carried",))
        for thread in (plain, carried):
            thread.start()
            thread.join()
        assert seen == {"plain": None, "carried": "req-1"}


class TestJobs:
    def test_a_job_queued_in_a_request_keeps_its_id_in_the_payload(self):
        with request_id_scope("req-7"):
            assert with_request_id(None) == {"request_id": "req-7"}
            assert with_request_id({"part": "paper"}) == {"part": "paper", "request_id": "req-7"}
            assert with_request_id({"request_id": "earlier"}) == {"request_id": "earlier"}
        assert with_request_id({"part": "paper"}) == {"part": "paper"}

    def test_a_job_runs_under_its_queued_id_or_its_own_number(self):
        assert job_request_id(Job(5, {"request_id": "req-7"})) == "req-7"
        assert job_request_id(Job(5, None)) == "job-5"
        assert job_request_id(Job(5, {"request_id": "forged\nline"})) == "job-5"

    def test_an_identity_number_in_an_older_payload_is_neither_used_nor_listed(self):
        # A payload written by an older version may hold one: it is neither used nor listed.
        queued = [Job(5, {"request_id": "191212121212"}), Job(6, {"request_id": "req-1"})]
        assert job_request_id(queued[0]) == "job-5"
        assert origin_request_ids(queued) == ["req-1"]

    def test_a_set_of_jobs_runs_under_one_id_that_names_its_range(self):
        jobs = [Job(12, {"request_id": "a"}), Job(9, None), Job(15, {"request_id": "a"})]
        assert jobs_request_id(jobs) == "jobs-9-15"
        assert jobs_request_id([Job(3, {"request_id": "b"})]) == "b"
        assert origin_request_ids([*jobs, Job(16, {"request_id": "c"})]) == ["a", "c"]
