"""Only complete files are taken: a file still being written (its size or time changing, or a
`.part` name) is left where it is until it is whole. What is complete does not depend on
the database, so that runs on SQLite; the lock that keeps polls apart runs on both."""

from __future__ import annotations

import datetime as dt
import os

import pytest

from utskick.intake.pickup.context import TAKEN


def _set_time(world, path, seconds_ago):
    stamp = world.now.timestamp() - seconds_ago
    os.utime(path, (stamp, stamp))


def _later(world, seconds):
    world.now += dt.timedelta(seconds=seconds)


class TestWrittenInPlace:
    def test_a_file_is_never_taken_at_the_first_glance(self, sqlite_world):
        world = sqlite_world
        source = world.source(stable_seconds=5)
        path = world.drop("brev.ndjson", world.ndjson(1))
        _set_time(world, path, 3600)

        report = world.poll(source)

        assert report.files == []
        assert [(w.name, w.message) for w in report.waiting] == [
            ("brev.ndjson", "skrivs fortfarande (storleken eller tiden ändras)")
        ]
        assert world.files() == ["brev.ndjson"]

    def test_a_file_growing_between_polls_waits_until_it_stops(self, sqlite_world):
        world = sqlite_world
        source = world.source(stable_seconds=5)
        path = world.drop("brev.ndjson", world.ndjson(1))
        _set_time(world, path, 3600)  # an uploader that keeps the original file's time
        world.poll(source)
        with path.open("a", encoding="utf-8") as stream:
            stream.write(world.ndjson(1, first=2))
        _set_time(world, path, 3600)
        _later(world, 10)

        growing = world.poll(source)
        _later(world, 10)
        still = world.poll(source)

        assert growing.files == []
        assert [w.name for w in growing.waiting] == ["brev.ndjson"]
        [outcome] = still.files
        assert (outcome.result, outcome.accepted) == (TAKEN, 2)

    def test_a_file_just_written_waits_for_stable_seconds_by_its_time(self, sqlite_world):
        world = sqlite_world
        source = world.source(stable_seconds=30)
        path = world.drop("brev.ndjson", world.ndjson(1))
        _set_time(world, path, 0)
        world.poll(source)
        _later(world, 10)

        young = world.poll(source)
        _later(world, 25)
        old_enough = world.poll(source)

        assert young.files == []
        assert [outcome.result for outcome in old_enough.files] == [TAKEN]

    def test_a_file_whose_time_is_ahead_of_ours_is_taken_once_seen_unchanged_long_enough(
        self, sqlite_world
    ):
        world = sqlite_world
        source = world.source(stable_seconds=30)
        path = world.drop("brev.ndjson", world.ndjson(1))
        _set_time(world, path, -3600)  # a server whose clock runs an hour ahead
        world.poll(source)
        _later(world, 10)
        assert world.poll(source).files == []
        _later(world, 25)

        assert [outcome.result for outcome in world.poll(source).files] == [TAKEN]


class TestRenamedIntoPlace:
    @pytest.mark.parametrize(
        "name", ["brev.ndjson.part", "brev.ndjson.tmp", "brev.ndjson.filepart", ".brev.ndjson"]
    )
    def test_a_file_with_a_partial_name_is_never_taken_nor_refused(self, sqlite_world, name):
        world = sqlite_world
        path = world.drop(name, world.ndjson(1))
        _set_time(world, path, 7200)

        reports = [world.poll(), world.poll()]
        _later(world, 7200)
        reports.append(world.poll())

        assert all(report.files == [] and report.waiting == [] for report in reports)
        assert world.files() == [name]
        assert world.letter_count() == 0

    def test_the_file_renamed_into_place_is_taken(self, sqlite_world):
        world = sqlite_world
        path = world.drop("brev.ndjson.part", world.ndjson(2))
        world.poll()
        path.rename(world.inbox / "brev.ndjson")

        [outcome] = world.poll().files

        assert (outcome.result, outcome.accepted) == (TAKEN, 2)


@pytest.mark.storage
class TestOneAtATime:
    def test_a_poll_finds_the_source_busy_while_another_holds_its_lock(self, world):
        from utskick.intake.pickup.locks import source_lock

        world.drop("brev.ndjson", world.ndjson(1))
        with source_lock(world.engine, world.home, "ekonomi") as held:
            assert held
            report = world.poll()

        assert report.busy
        assert report.files == []
        assert world.files() == ["brev.ndjson"]
        assert [outcome.result for outcome in world.poll().files] == [TAKEN]
