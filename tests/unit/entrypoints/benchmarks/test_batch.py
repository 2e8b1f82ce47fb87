"""`bench batch` waits for every letter's outcome, and stops with the reason when none comes."""

import io

import pytest

from utskick.entrypoints.benchmarks import batch
from utskick.entrypoints.benchmarks.progress import Progress


class RunningWorker:
    def poll(self):
        return None


@pytest.fixture
def quiet_progress():
    return Progress("bench batch", io.StringIO(), terminal=False)


def counts_from(sequence, monkeypatch):
    answers = iter(sequence)
    last = [None]

    def count(_engine):
        last[0] = next(answers, last[0])
        return last[0]

    monkeypatch.setattr(batch, "_count_letters", count)
    monkeypatch.setattr(batch, "WORK_POLL_SECONDS", 0.01)


def test_it_returns_once_every_letter_has_an_outcome(monkeypatch, quiet_progress):
    counts_from([(3, 0), (3, 1), (3, 3)], monkeypatch)
    batch._work_until_known(None, RunningWorker(), 3, quiet_progress)


def test_letters_that_never_get_an_outcome_stop_it_with_the_reason(monkeypatch, quiet_progress):
    counts_from([(3, 1)], monkeypatch)
    monkeypatch.setattr(batch, "STALLED_SECONDS", 0.2)
    monkeypatch.setattr(
        batch, "_last_event_detail", lambda _engine: "received (far_unavailable): HTTP 500"
    )
    with pytest.raises(RuntimeError, match=r"inget brev fick något utfall.*1 av 3.*HTTP 500"):
        batch._work_until_known(None, RunningWorker(), 3, quiet_progress)
