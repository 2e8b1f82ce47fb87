"""Crash tests: 3,000 letters while worker processes are killed (SIGKILL) and restarted.

Whatever happens to the workers, and while the operator fails 30 % of the calls (HTTP 500,
late answers, dropped connections, answers lost after storing), every letter must end with
exactly one terminal outcome, each digital letter must be stored exactly once at its
operator (under the TransId the connector recorded), and none may be lost.
"""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.connector_world import (
    connector_environment,
    connector_settings,
    prepare_connector,
)
from support.postgres import postgres_schema_url
from support.world import (
    BERTIL,
    CECILIA,
    DAVID,
    EVA,
    EXEMPELBOLAGET,
    EXEMPELKOMMUN,
    FILIP,
    GUSTAV,
    IDA,
    KARIN,
    TOLVAN,
    start_reference,
)
from utskick.db.engine import create_database_engine
from utskick.letters import vocabulary
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.reference.store import MailboxDelivery, MailboxMessage
from utskick.senders.models import SendingSystem

LETTERS = 3000
WORKER_PROCESSES = 2
KILLS = 5
DEADLINE_SECONDS = 150
UTSKICK = Path(sys.executable).parent / "utskick"

# Who gets what (docs/test-identities.md): letters cycle through these (recipient, policy)
# pairs, three in ten digital (to recipients without e-mail notices, which would only slow
# the reference operator down); the notifications (digital-only) are never printed. Paper
# letters end this test addressed and in a print batch (`batched`); handing a batch over is
# the print crash test's (tests/e2e/test_print_crash.py).
MIX = [
    ((KARIN, "digital-or-paper"), ("delivered", "reachable")),
    ((GUSTAV, "digital-only"), ("delivered", "reachable")),
    ((EXEMPELBOLAGET, "digital-or-paper"), ("delivered", "reachable")),
    ((BERTIL, "digital-or-paper"), ("batched", "sender_not_accepted")),
    ((CECILIA, "digital-or-paper"), ("batched", "pending")),
    ((DAVID, "digital-only"), ("not_reachable", "not_registered")),
    ((EVA, "digital-or-paper"), ("batched", "protected_identity")),
    ((FILIP, "digital-or-paper"), ("batched", "under_age")),
    ((IDA, "paper-only"), ("batched", "paper_only_policy")),
    ((TOLVAN, "paper-only"), ("batched", "paper_only_policy")),
]
EXPECTED = dict(MIX)
ACCEPT_CHUNK = 500


@pytest.fixture
def database(request, tmp_path):
    """None for SQLite in the home folder, or a PostgreSQL URL with a schema of its own."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_schema_url("utskick_crash") as url:
        yield url


def accept_letters(engine, settings, system_id, accepted):
    """Accept the letters in chunks, as a batch streams in; `accepted` counts the committed."""
    for first in range(0, LETTERS, ACCEPT_CHUNK):
        with Session(engine) as session, session.begin():
            system = session.get(SendingSystem, system_id)
            service = LetterService(session, settings)
            for index in range(first, min(first + ACCEPT_CHUNK, LETTERS)):
                recipient, policy = MIX[index % len(MIX)][0]
                service.accept(
                    system,
                    LetterInput(
                        sender=EXEMPELKOMMUN,
                        recipient=recipient,
                        subject=f"Utskick nummer {index}",
                        body=f"Hej! Det här är brev {index} i provet.",
                        protection_class=2,
                        policy=policy,
                        idempotency_key=f"crash-{index}",
                    ),
                    actor="cli",
                )
        accepted.append(min(first + ACCEPT_CHUNK, LETTERS))


def start_worker(env, home, logs, number):
    path = logs / f"worker-{number}.log"
    log = path.open("w")
    worker = subprocess.Popen(
        [str(UTSKICK), "worker", "--home", str(home)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker.log_path = path
    return worker


def wait_until_running(worker, timeout=60.0):
    """Wait until the worker says it is running (so that SIGTERM stops it cleanly)."""
    deadline = time.monotonic() + timeout
    while "Worker igång" not in worker.log_path.read_text(errors="replace"):
        assert worker.poll() is None, worker.log_path.read_text(errors="replace")
        assert time.monotonic() < deadline, "the worker never said it was running"
        time.sleep(0.1)


def unfinished(engine, accepted):
    """Letters without their outcome yet, counting those still to be accepted."""
    with Session(engine) as session:
        open_letters = session.scalar(
            select(func.count())
            .select_from(Letter)
            .where(Letter.state.not_in(list(vocabulary.OUTCOME_KNOWN_STATES)))
        )
    return open_letters + LETTERS - (accepted[-1] if accepted else 0)


def run_with_chaos(engine, env, home, logs, rng, accepted):
    workers = [start_worker(env, home, logs, n) for n in range(WORKER_PROCESSES)]
    started = WORKER_PROCESSES
    kills = 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        # The first kill once work is under way (a process takes a second or two to start).
        while unfinished(engine, accepted) == LETTERS and time.monotonic() < deadline:
            time.sleep(0.2)
        while kills < KILLS and unfinished(engine, accepted):
            # Kills come quickly: the workers claim and record in sets and get through the
            # letters in seconds, and every kill must land while work is under way.
            time.sleep(rng.uniform(0.3, 1.5))
            victims = range(len(workers)) if rng.random() < 0.3 else [rng.randrange(len(workers))]
            for index in victims:
                workers[index].send_signal(signal.SIGKILL)
                workers[index].wait()
                kills += 1
            time.sleep(rng.uniform(0.0, 0.5))
            for index in victims:
                workers[index] = start_worker(env, home, logs, started)
                started += 1
        while unfinished(engine, accepted) and time.monotonic() < deadline:
            time.sleep(0.5)
        # A clean stop: SIGTERM lets the current jobs finish, and the process exits with 0.
        # A worker restarted just now may still be starting; a signal before it says it is
        # running ends it the default way, so wait for each to say so first.
        for worker in workers:
            wait_until_running(worker)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=30) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    return kills, codes


@pytest.mark.parametrize(
    ("database", "failure_rate"),
    [("sqlite", 0.0), ("sqlite", 0.3), ("postgresql", 0.3)],
    indirect=["database"],
)
def test_killed_workers_lose_no_letter_and_deliver_none_twice(tmp_path, database, failure_rate):
    rng = random.Random()
    context, infrastructure = start_reference(
        tmp_path / "reference",
        run_smtp_sink=False,
        failure_rate=failure_rate,
        failure_delay_seconds=2.0,
    )
    try:
        home = tmp_path / "home"
        overrides = {
            "lease_seconds": 3.0,
            "retry_base_seconds": 0.2,
            "retry_max_seconds": 1.0,
            "worker_threads": 3,
            "worker_poll_seconds": 0.2,
            "operator_read_timeout_seconds": 1.0,
            "operator_connect_timeout_seconds": 2.0,
        }
        if database:
            overrides["database_url"] = database
        settings = connector_settings(home, context, **overrides)
        engine, system_id = prepare_connector(
            settings, context, create_database_engine(settings.resolved_database_url())
        )
        env = {**os.environ, **connector_environment(settings)}
        logs = tmp_path / "logs"
        logs.mkdir()
        accepted = []
        accept_letters(engine, settings, system_id, accepted)

        kills, exit_codes = run_with_chaos(engine, env, home, logs, rng, accepted)

        assert kills >= KILLS
        assert exit_codes == [0] * WORKER_PROCESSES
        assert unfinished(engine, accepted) == 0, "letters were left unfinished (lost)"
        with Session(engine) as session:
            letters = session.scalars(select(Letter)).all()
            terminal_events = Counter(
                session.scalars(
                    select(LetterEvent.letter_id).where(
                        LetterEvent.state.in_(list(vocabulary.OUTCOME_KNOWN_STATES))
                    )
                )
            )
        assert len(letters) == LETTERS
        assert all(terminal_events[letter.id] == 1 for letter in letters)
        outcomes = Counter(
            (letter.recipient_id, letter.policy, letter.state, letter.reason) for letter in letters
        )
        for (recipient, policy, state, reason), count in outcomes.items():
            assert (state, reason) == EXPECTED[(recipient, policy)], (
                f"{count} letters to {recipient}: {state}/{reason}"
            )

        with context.sessions() as session:
            stored = session.execute(
                select(MailboxMessage.message_id, MailboxDelivery.trans_id).join(
                    MailboxDelivery, MailboxMessage.delivery_id == MailboxDelivery.id
                )
            ).all()
        stored_count = Counter(message_id for message_id, _ in stored)
        trans_id_of = dict(stored)
        delivered = [letter for letter in letters if letter.state == vocabulary.DELIVERED]
        assert len(delivered) == sum(
            1 for i in range(LETTERS) if MIX[i % len(MIX)][1][0] == "delivered"
        )
        assert all(stored_count[letter.message_id] == 1 for letter in delivered), (
            "a letter was stored twice or not at all"
        )
        assert all(trans_id_of[letter.message_id] == letter.trans_id for letter in delivered)
        assert sum(stored_count.values()) == len(delivered), (
            "a letter on paper also reached a mailbox"
        )
        if failure_rate:
            with Session(engine) as session:
                retries = session.scalar(
                    select(func.count())
                    .select_from(LetterEvent)
                    .where(LetterEvent.state == vocabulary.RETRYING)
                )
            assert retries > 0, "the operator's failures never reached the connector"
        engine.dispose()
    finally:
        infrastructure.stop()
