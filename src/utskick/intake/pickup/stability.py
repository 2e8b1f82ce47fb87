"""Which files in an inbox are complete: written to the end, so that they may be taken.

Two conventions, either of which a business system may follow:

- **Rename into place.** The writer writes `faktura.pdf.part` (or `.tmp`, `.filepart`, or a
  name starting with `.`) and renames it to `faktura.pdf` when it is done. Such names are
  never taken.
- **Write in place.** Any other file is taken once it has stopped changing: its size and
  modification time are the same as at this process's previous listing of the folder, and
  either its modification time is at least `stable_seconds` old or this process has seen
  it unchanged for that long (the second covers a server whose clock runs ahead of ours,
  or an uploader that keeps the original file's time while it is still writing).

The previous listing is remembered in memory per process (`ListingMemory`): a process that
has just started looks twice before it takes anything, so a file is never taken on one
glance. With several worker processes the polls of a source fall to any of them; a file is
taken at the first poll by a process that has listed it before, so it may wait a poll or
two longer. `stable_seconds = 0` takes a file at the first listing (for writers that always
rename into place).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from utskick.intake.pickup.folders import FolderEntry

PARTIAL_SUFFIXES = (".tmp", ".part", ".filepart")


def is_partial_name(name: str) -> bool:
    """Whether a name is one of a file still being written (never taken)."""
    lowered = name.lower()
    return name.startswith(".") or lowered.endswith(PARTIAL_SUFFIXES)


@dataclass(frozen=True)
class Sighting:
    """A file as a listing saw it, and since when this process has seen it so."""

    size: int
    mtime: float
    since: float  # our clock's POSIX seconds at the first listing that saw this size and time
    first_seen: float  # our clock's POSIX seconds at the first listing that saw the file at all


class ListingMemory:
    """What this process saw at each source's last listing (thread-safe, per process)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], Sighting] = {}
        self._lock = threading.Lock()

    def look(
        self, source: str, entries: list[FolderEntry], now: float, stable_seconds: float
    ) -> dict[str, Sighting | None]:
        """Remember a listing; per file, its sighting if it is complete now, else None.

        Files with partial names are left out of the answer altogether; files no longer
        listed are forgotten.
        """
        complete: dict[str, Sighting | None] = {}
        with self._lock:
            kept = {key: seen for key, seen in self._seen.items() if key[0] != source}
            for entry in entries:
                if is_partial_name(entry.name):
                    continue
                before = self._seen.get((source, entry.name))
                unchanged = before is not None and (before.size, before.mtime) == (
                    entry.size,
                    entry.mtime,
                )
                if before is not None and unchanged:
                    seen = before
                else:
                    first = before.first_seen if before is not None else now
                    seen = Sighting(entry.size, entry.mtime, now, first)
                kept[(source, entry.name)] = seen
                complete[entry.name] = (
                    seen if _is_complete(seen, unchanged, now, stable_seconds) else None
                )
            self._seen = kept
        return complete

    def forget(self, source: str, name: str) -> None:
        """Forget a file (it was moved away)."""
        with self._lock:
            self._seen.pop((source, name), None)


def _is_complete(seen: Sighting, unchanged: bool, now: float, stable_seconds: float) -> bool:
    if stable_seconds <= 0:
        return True
    if not unchanged:
        return False
    return now - seen.mtime >= stable_seconds or now - seen.since >= stable_seconds


# The memory of this process: the worker's threads and the CLI share it.
PROCESS_MEMORY = ListingMemory()
