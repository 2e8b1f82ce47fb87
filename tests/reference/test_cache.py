"""The short-lived caches of the reference: their time limit, and changes seen at once."""

import subprocess
import sys
import threading

from sqlalchemy import update

from support.world import SYD, fresh_personnummer
from utskick.reference.cache import ChangeStamp, TtlCache, watch_changes
from utskick.reference.store import (
    FarAccount,
    FarOrganisation,
    MailboxAccount,
    MailboxMessage,
    create_reference_engine,
    create_schema,
    sessions,
)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Loads:
    """A loader that counts its calls and answers with the count."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.calls


def test_an_answer_is_kept_for_the_time_and_loaded_again_after_it():
    clock, load = FakeClock(), Loads()
    cache = TtlCache(30, ChangeStamp(), clock=clock)
    assert cache.get("key", load) == 1
    clock.now += 29.9
    assert cache.get("key", load) == 1
    clock.now += 0.2
    assert cache.get("key", load) == 2
    assert load.calls == 2


def test_keys_are_kept_apart():
    cache = TtlCache(30, ChangeStamp(), clock=FakeClock())
    assert cache.get(("recipient", "1"), lambda: "ett") == "ett"
    assert cache.get(("recipient", "2"), lambda: "två") == "två"
    assert cache.get(("recipient", "1"), lambda: "annat") == "ett"


def test_no_time_keeps_nothing():
    load = Loads()
    cache = TtlCache(0, ChangeStamp())
    assert [cache.get("key", load) for _ in range(3)] == [1, 2, 3]
    assert len(cache) == 0


def test_a_change_in_this_process_drops_every_answer_at_once():
    changes, load = ChangeStamp(), Loads()
    cache = TtlCache(30, changes, clock=FakeClock())
    cache.get("a", load)
    cache.get("b", load)
    changes.bump()
    assert cache.get("a", load) == 3
    assert load.calls == 3


def test_a_change_stamped_by_another_process_drops_the_answers(tmp_path):
    stamp = tmp_path / "reference-changes"
    load = Loads()
    cache = TtlCache(30, ChangeStamp(stamp), clock=FakeClock())
    cache.get("key", load)
    bump = (
        "import sys; from pathlib import Path; from utskick.reference.cache import ChangeStamp; "
        "ChangeStamp(Path(sys.argv[1])).bump()"
    )
    subprocess.run([sys.executable, "-c", bump, str(stamp)], check=True)
    assert cache.get("key", load) == 2
    assert cache.get("key", load) == 2  # kept again until the next change
    assert oct(stamp.stat().st_mode & 0o777) == "0o600"


def test_every_bump_moves_the_stamp_even_within_one_clock_tick(tmp_path):
    writer = ChangeStamp(tmp_path / "reference-changes")
    reader = ChangeStamp(tmp_path / "reference-changes")  # as another process sees it
    seen = {reader.version()}
    for _ in range(50):
        writer.bump()
        seen.add(reader.version())
    assert len(seen) == 51


def test_an_answer_loaded_while_a_change_came_is_not_kept():
    changes, calls = ChangeStamp(), []
    cache = TtlCache(30, changes, clock=FakeClock())

    def load_during_a_change():
        calls.append(1)
        if len(calls) == 1:
            changes.bump()  # committed while the first answer was being read
        return len(calls)

    assert cache.get("key", load_during_a_change) == 1
    assert cache.get("key", load_during_a_change) == 2


def test_past_its_size_the_cache_drops_the_expired_answers_first():
    clock = FakeClock()
    cache = TtlCache(10, ChangeStamp(), clock=clock, max_entries=3)
    cache.get("old", lambda: 1)
    clock.now += 11
    cache.get("a", lambda: 2)
    cache.get("b", lambda: 3)
    cache.get("c", lambda: 4)
    assert len(cache) == 3
    assert cache.get("a", lambda: "reloaded") == 2


def test_threads_share_one_cache_safely():
    cache = TtlCache(30, ChangeStamp())
    problems = []

    def work(number):
        try:
            for round_ in range(300):
                key = (number + round_) % 20
                assert cache.get(key, lambda key=key: key * 10) == key * 10
        except AssertionError as error:
            problems.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert len(cache) == 20


# --- commits that change the cached tables ----------------------------------------------


def _watched(tmp_path):
    engine = create_reference_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    create_schema(engine)
    session_maker = sessions(engine)
    changes = ChangeStamp(tmp_path / "reference-changes")
    watch_changes(session_maker, changes)
    return engine, session_maker, changes


def test_a_commit_that_writes_a_cached_table_moves_the_stamp(tmp_path):
    engine, session_maker, changes = _watched(tmp_path)
    before = changes.version()
    with session_maker.begin() as session:
        session.add(FarOrganisation(number=SYD, name="Brevlåda Syd AB", operator=True))
    after_insert = changes.version()
    assert after_insert != before
    with session_maker.begin() as session:
        session.get(FarOrganisation, SYD).name = "Brevlåda Syd"
    assert changes.version() != after_insert
    engine.dispose()


def test_a_bulk_update_of_a_cached_table_moves_the_stamp(tmp_path):
    engine, session_maker, changes = _watched(tmp_path)
    person = fresh_personnummer()
    with session_maker.begin() as session:
        session.add(FarOrganisation(number=SYD, name="Brevlåda Syd AB", operator=True))
        session.flush()  # the operator before the account that refers to it
        session.add(FarAccount(recipient_id=person, operator_number=SYD))
    before = changes.version()
    with session_maker.begin() as session:
        session.execute(update(FarAccount).values(pending=True))
    assert changes.version() != before
    engine.dispose()


def test_reads_rollbacks_and_other_tables_leave_the_stamp_alone(tmp_path):
    engine, session_maker, changes = _watched(tmp_path)
    before = changes.version()
    with session_maker() as session:
        session.get(MailboxAccount, (SYD, "191212121212"))
    with session_maker() as session:
        session.add(FarOrganisation(number=SYD, name="Brevlåda Syd AB"))
        session.flush()
        session.rollback()
    with session_maker.begin() as session:
        session.execute(update(MailboxMessage).values(sender_name="x"))
    assert changes.version() == before
    engine.dispose()


def test_a_stamp_whose_folder_is_gone_still_moves_in_this_process(tmp_path, caplog):
    changes = ChangeStamp(tmp_path / "borttagen" / "reference-changes")
    before = changes.version()
    changes.bump()  # after a commit: must not raise
    assert changes.version() != before
    assert "was not moved" in caplog.text
