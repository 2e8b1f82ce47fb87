"""Which files of a listing are complete: partial names never, others once unchanged between
listings and old enough, by their time or by how long this process has seen them so."""

import pytest

from utskick.intake.pickup.folders import FolderEntry
from utskick.intake.pickup.stability import ListingMemory, is_partial_name

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("name", "partial"),
    [
        ("brev.pdf", False),
        ("brev.PDF.PART", True),
        ("brev.pdf.part", True),
        ("brev.pdf.tmp", True),
        ("brev.pdf.filepart", True),
        (".brev.pdf", True),
        ("brev.partial.pdf", False),
    ],
)
def test_partial_names(name, partial):
    assert is_partial_name(name) is partial


def _look(memory, entries, now, stable=5.0):
    return {name: seen is not None for name, seen in memory.look("k", entries, now, stable).items()}


class TestListingMemory:
    def test_nothing_is_complete_at_the_first_listing(self):
        old = FolderEntry("a.pdf", 10, NOW - 3600)

        assert _look(ListingMemory(), [old], NOW) == {"a.pdf": False}

    def test_an_old_file_unchanged_since_the_last_listing_is_complete(self):
        memory = ListingMemory()
        old = FolderEntry("a.pdf", 10, NOW - 3600)
        _look(memory, [old], NOW)

        assert _look(memory, [old], NOW + 1) == {"a.pdf": True}

    def test_a_file_whose_size_changed_starts_again(self):
        memory = ListingMemory()
        _look(memory, [FolderEntry("a.pdf", 10, NOW - 3600)], NOW)
        _look(memory, [FolderEntry("a.pdf", 20, NOW - 3600)], NOW + 10)

        assert _look(memory, [FolderEntry("a.pdf", 30, NOW - 3600)], NOW + 20) == {"a.pdf": False}
        assert _look(memory, [FolderEntry("a.pdf", 30, NOW - 3600)], NOW + 30) == {"a.pdf": True}

    def test_a_young_file_is_complete_once_seen_unchanged_for_stable_seconds(self):
        memory = ListingMemory()
        young = FolderEntry("a.pdf", 10, NOW + 600)  # a clock ahead of ours
        _look(memory, [young], NOW)

        assert _look(memory, [young], NOW + 4) == {"a.pdf": False}
        assert _look(memory, [young], NOW + 5) == {"a.pdf": True}

    def test_stable_seconds_zero_takes_a_file_at_once(self):
        assert _look(ListingMemory(), [FolderEntry("a.pdf", 1, NOW)], NOW, stable=0) == {
            "a.pdf": True
        }

    def test_partial_names_are_left_out(self):
        assert _look(ListingMemory(), [FolderEntry("a.pdf.part", 1, NOW)], NOW, stable=0) == {}

    def test_a_file_gone_and_back_is_new_again(self):
        memory = ListingMemory()
        entry = FolderEntry("a.pdf", 10, NOW - 3600)
        _look(memory, [entry], NOW)
        _look(memory, [], NOW + 1)

        assert _look(memory, [entry], NOW + 2) == {"a.pdf": False}

    def test_sources_are_remembered_apart(self):
        memory = ListingMemory()
        entry = FolderEntry("a.pdf", 10, NOW - 3600)
        memory.look("k", [entry], NOW, 5)
        memory.look("other", [], NOW, 5)

        assert memory.look("k", [entry], NOW + 1, 5)["a.pdf"] is not None
