"""The benchmarks' progress line: what it says, where it goes, and how rarely it is drawn."""

import io
import time

import pytest

from utskick.entrypoints.benchmarks.progress import Progress, format_elapsed


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def progress_on(stream, clock, **options):
    return Progress("bench batch", stream, clock=clock, **options)


class TestTheLine:
    def test_says_the_phase_how_many_of_how_many_and_the_time_since_the_start(self):
        clock = FakeClock()
        progress = progress_on(io.StringIO(), clock)
        progress.phase("arbetar", 400, "brev")
        progress.update(120)
        clock.now += 12.34
        assert progress.line() == "bench batch · arbetar · 120/400 brev · 12.3 s"

    def test_a_phase_that_counts_nothing_shows_its_name_and_the_time(self):
        clock = FakeClock()
        progress = progress_on(io.StringIO(), clock)
        progress.phase("startar referensinfrastrukturen")
        clock.now += 2
        assert progress.line() == "bench batch · startar referensinfrastrukturen · 2.0 s"

    def test_advance_counts_on_and_a_phase_may_start_part_done(self):
        progress = progress_on(io.StringIO(), FakeClock())
        progress.phase("lämnar över", 6, "klara", done=2)
        progress.advance()
        progress.advance(2)
        assert "5/6 klara" in progress.line()

    @pytest.mark.parametrize(
        ("seconds", "text"),
        [(0, "0.0 s"), (8.44, "8.4 s"), (187, "3 min 07 s"), (3725, "1 h 02 min")],
    )
    def test_the_elapsed_time_reads_as_a_person_reads_it(self, seconds, text):
        assert format_elapsed(seconds) == text


class TestOnATerminal:
    def test_the_line_is_rewritten_in_place(self):
        stream, clock = Terminal(), FakeClock()
        progress = progress_on(stream, clock)
        progress.phase("arbetar", 10, "brev")
        progress.update(3)
        clock.now += 1
        progress.draw()
        assert "\n" not in stream.getvalue()
        assert stream.getvalue().count("\r") == 2
        assert stream.getvalue().endswith("3/10 brev · 1.0 s\x1b[K")

    def test_it_is_drawn_at_most_four_times_a_second(self):
        stream, clock = Terminal(), FakeClock()
        progress = progress_on(stream, clock)
        progress.phase("arbetar", 10, "brev")
        for _ in range(64):
            clock.now += 1 / 64  # exact in binary: the last step lands on one second
            progress.draw()
        # One second: the phase's own drawing and one every quarter second.
        assert stream.getvalue().count("\r") == 5

    def test_a_note_clears_the_line_and_stands_on_its_own(self):
        stream, clock = Terminal(), FakeClock()
        progress = progress_on(stream, clock)
        progress.phase("arbetar", 10, "brev")
        progress.note("Tillfällig mapp: /tmp/x")
        assert stream.getvalue().endswith("\r\x1b[KTillfällig mapp: /tmp/x\n")

    def test_the_line_never_wraps(self, monkeypatch):
        monkeypatch.setenv("COLUMNS", "40")
        stream = Terminal()
        progress = progress_on(stream, FakeClock())
        progress.phase("arbetar tills varje brev har ett utfall", 20_000, "brev")
        drawn = stream.getvalue().rsplit("\r", 1)[1].removesuffix("\x1b[K")
        assert len(drawn) <= 39


class TestInALogOrAPipe:
    def test_every_phase_is_a_plain_line_at_once(self):
        stream = io.StringIO()
        progress = progress_on(stream, FakeClock())
        progress.phase("tar emot breven", 40, "brev")
        progress.phase("arbetar", 40, "brev")
        assert stream.getvalue().splitlines() == [
            "bench batch · tar emot breven · 0/40 brev · 0.0 s",
            "bench batch · arbetar · 0/40 brev · 0.0 s",
        ]
        assert "\r" not in stream.getvalue()

    def test_in_between_a_line_comes_every_five_seconds_only(self):
        stream, clock = io.StringIO(), FakeClock()
        progress = progress_on(stream, clock)
        progress.phase("arbetar", 1000, "brev")
        for done in range(1, 101):
            clock.now += 0.1
            progress.update(done)
            progress.draw()
        assert len(stream.getvalue().splitlines()) == 1 + 2  # the phase, after 5 s and 10 s

    def test_the_end_says_how_it_ended_and_the_total_time(self):
        stream, clock = io.StringIO(), FakeClock()
        progress = progress_on(stream, clock)
        progress.start()
        clock.now += 3
        progress.finish("klar")
        assert stream.getvalue().splitlines()[-1] == "bench batch · klar · 3.0 s"


def test_the_drawing_thread_keeps_the_time_moving_and_stops_at_the_end():
    stream = io.StringIO()
    progress = Progress("bench far", stream, interval=0.01)
    progress.start()
    progress.phase("mäter", 6, "delmätningar")
    for _ in range(200):
        if len(stream.getvalue().splitlines()) >= 4:
            break
        time.sleep(0.01)
    progress.finish("klar")
    lines = stream.getvalue().splitlines()
    assert len(lines) >= 4
    assert lines[-1].startswith("bench far · klar · ")
    written = stream.getvalue()
    time.sleep(0.05)
    assert stream.getvalue() == written  # nothing drawn after the end


class ClosedPipe(io.StringIO):
    def write(self, _text):
        raise BrokenPipeError


def test_a_closed_stderr_stops_the_line_and_not_the_benchmark():
    stream = ClosedPipe()
    progress = progress_on(stream, FakeClock())
    progress.phase("arbetar", 10, "brev")
    progress.note("Tillfällig mapp: /tmp/x")
    progress.finish("klar")
    assert progress._closed
