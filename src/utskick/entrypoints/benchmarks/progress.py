"""The progress line of a long benchmark: its phase, how far it got, how long it has run.

The line goes to stderr, so that stdout holds the result alone (`--json` stays clean). On a
terminal it is rewritten in place (a carriage return) a few times a second; anywhere else (a
log, a pipe) it is a plain line when a phase starts and then every few seconds, so that a log
does not fill with it. The measuring code only stores numbers (`phase`, `update`, `advance`);
a daemon thread draws the line, so a timed loop pays for an attribute store and nothing else,
and the elapsed time moves on while the benchmark waits for another process.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

TERMINAL_INTERVAL = 0.25
LOG_INTERVAL = 5.0
_ERASE_TO_END = "\x1b[K"


def format_elapsed(seconds: float) -> str:
    """Seconds as a person reads them: `8.4 s`, `3 min 07 s`, `1 h 02 min`."""
    if seconds < 60:  # noqa: PLR2004 (a minute)
        return f"{seconds:.1f} s"
    minutes, whole_seconds = divmod(int(seconds), 60)
    if minutes < 60:  # noqa: PLR2004 (an hour)
        return f"{minutes} min {whole_seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(slots=True)
class _Phase:
    name: str
    total: int | None
    unit: str
    done: int = 0


class Progress:
    """One benchmark's progress line on `stream` (stderr unless told otherwise).

    Args:
        title: what runs, first on the line (`bench batch`).
        stream: where the line goes.
        terminal: rewrite the line in place; by default when `stream` is a terminal.
        interval: seconds between two drawings; by default a quarter of a second on a
            terminal and five seconds elsewhere.
        clock: monotonic seconds (a test hands in its own).
    """

    def __init__(
        self,
        title: str,
        stream: TextIO | None = None,
        *,
        terminal: bool | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.title = title
        self._stream = stream if stream is not None else sys.stderr
        self._terminal = self._stream.isatty() if terminal is None else terminal
        self._interval = interval or (TERMINAL_INTERVAL if self._terminal else LOG_INTERVAL)
        self._clock = clock
        self._started = clock()
        self._phase = _Phase("startar", None, "")
        self._drawn_at: float | None = None
        self._on_line = False  # a terminal line is showing and not yet ended
        self._closed = False  # the stream refused a write: the benchmark goes on without a line
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the benchmark tells -------------------------------------------------------

    def phase(self, name: str, total: int | None = None, unit: str = "", done: int = 0) -> None:
        """Start a phase (`done` of `total` items of `unit`, if it counts any); shown at once."""
        self._phase = _Phase(name, total, unit, done)
        self.draw(force=True)

    def update(self, done: int) -> None:
        """How many of the phase's items are done; shown at the next drawing."""
        self._phase.done = done

    def advance(self, step: int = 1) -> None:
        """`step` more of the phase's items are done."""
        self._phase.done += step

    def note(self, text: str) -> None:
        """A line of its own that stays (where a temporary folder is, for instance)."""
        with self._lock:
            self._write(f"{text}\n")

    # --- the line -----------------------------------------------------------------------

    def line(self) -> str:
        """The progress line as it reads now."""
        phase = self._phase
        parts = [self.title, phase.name]
        if phase.total is not None:
            parts.append(f"{phase.done}/{phase.total} {phase.unit}".rstrip())
        parts.append(format_elapsed(self._clock() - self._started))
        return " · ".join(parts)

    def draw(self, *, force: bool = False) -> None:
        """Draw the line if the interval has passed since the last drawing (or `force`)."""
        with self._lock:
            now = self._clock()
            if not force and self._drawn_at is not None and now - self._drawn_at < self._interval:
                return
            self._drawn_at = now
            if self._terminal:
                width = max(20, shutil.get_terminal_size().columns - 1)
                self._send(f"\r{self.line()[:width]}{_ERASE_TO_END}")
                self._on_line = True
            else:
                self._send(f"{self.line()}\n")

    def finish(self, outcome: str) -> None:
        """End the line with how the run ended (`klar`, `avbruten`) and its total time."""
        self.stop()
        self.note(f"{self.title} · {outcome} · {format_elapsed(self._clock() - self._started)}")

    def _write(self, text: str) -> None:
        if self._on_line:
            # End the line being rewritten first, clearing it: the note replaces it.
            text = f"\r{_ERASE_TO_END}{text}"
            self._on_line = False
            self._drawn_at = None
        self._send(text)

    def _send(self, text: str) -> None:
        # A closed stderr (`... 2>&1 | head`) must not end a benchmark half-way, with its
        # processes and folders: the line is only a courtesy, so it stops instead.
        if self._closed:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            self._closed = True

    # --- the drawing thread -------------------------------------------------------------

    def start(self) -> None:
        """Draw the line on a daemon thread until `stop` (a daemon never holds up the exit)."""
        self.draw(force=True)
        self._thread = threading.Thread(target=self._run, name="bench-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the drawing thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
            self._thread = None

    def _run(self) -> None:
        # Wake often enough to keep to the interval, rarely enough to cost nothing.
        while not self._stop.wait(min(self._interval, TERMINAL_INTERVAL)):
            self.draw()
