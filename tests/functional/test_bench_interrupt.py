"""A benchmark stopped half-way leaves nothing behind, and says how far it got on stderr.

Each benchmark is run as a user runs it (`utskick bench ... --json` in a subprocess). Once its
progress line shows it is at work, it gets Ctrl-C (SIGINT) or SIGTERM, as from a terminal or
a service manager; it must then exit within seconds, with its temporary folder gone and no
process it started (worker, submitter, `utskick serve`, hand-over) still running.
"""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

UTSKICK = str(Path(sys.executable).with_name("utskick"))
FOLDER = re.compile(r"^Tillfällig mapp: (\S+) ")
STARTUP_SECONDS = 180
PROMPT_EXIT_SECONDS = 20


class Benchmark:
    """`utskick bench <arguments> --json` with its stderr read line by line as it comes."""

    def __init__(self, *arguments):
        self.process = subprocess.Popen(
            [UTSKICK, "bench", *arguments, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.stderr = []
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stderr:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, text, timeout=STARTUP_SECONDS):
        """Read stderr until a line holds `text`; fail with what was read if it does not come."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the benchmark ended before {text!r}:\n" + "\n".join(self.stderr))
            self.stderr.append(line)
            if text in line:
                return
        pytest.fail(f"no {text!r} within {timeout} s:\n" + "\n".join(self.stderr))

    def temporary_folders(self):
        return [match[1] for line in self.stderr if (match := FOLDER.match(line))]

    def stop(self, signal_number):
        """Send the signal; the seconds until the benchmark exited and its stdout."""
        sent = time.monotonic()
        self.process.send_signal(signal_number)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail("the benchmark did not exit within 60 s of the signal")
        seconds = time.monotonic() - sent
        self.wait_for_end_of_stderr()
        return seconds, self.process.stdout.read()

    def wait_for_end_of_stderr(self):
        while (line := self._lines.get(timeout=10)) is not None:
            self.stderr.append(line)


@pytest.fixture
def start_benchmark():
    """Start benchmarks; one a failed test leaves running is stopped (and so cleans up)."""
    started = []

    def start(*arguments):
        started.append(Benchmark(*arguments))
        return started[-1]

    yield start
    for benchmark in started:
        if benchmark.process.poll() is None:
            benchmark.process.terminate()
            try:
                benchmark.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                benchmark.process.kill()
                benchmark.process.wait()
        benchmark.process.stdout.close()


def processes_using(folder):
    """Processes whose command line or environment names `folder` (the test's own excepted)."""
    found = []
    needle = folder.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:  # gone meanwhile, or another user's
            continue
        if needle in seen:
            found.append(int(entry.name))
    return found


def assert_left_nothing_behind(benchmark, signal_number, folders):
    seconds, stdout = benchmark.stop(signal_number)
    stderr = "\n".join(benchmark.stderr)
    for folder in folders:
        assert not Path(folder).exists(), f"{folder} is left:\n{stderr}"
        deadline = time.monotonic() + 5
        while processes_using(folder) and time.monotonic() < deadline:
            time.sleep(0.1)  # a process killed at the end may take a moment to be gone
        assert processes_using(folder) == [], f"processes in {folder} are left:\n{stderr}"
    assert seconds < PROMPT_EXIT_SECONDS, stderr
    if signal_number == signal.SIGTERM:
        assert benchmark.process.returncode == 128 + signal.SIGTERM
        assert any("avbruten (SIGTERM), har städat upp" in line for line in benchmark.stderr)
    else:
        assert benchmark.process.returncode != 0
        assert any("avbruten (Ctrl-C), har städat upp" in line for line in benchmark.stderr)
    assert stdout == ""  # no result for a run that did not end


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_bench_batch_stopped_while_it_submits_stops_its_processes_and_removes_its_folder(
    signal_number, start_benchmark
):
    benchmark = start_benchmark("batch", "--letters", "5000", "--worker-threads", "2")
    benchmark.wait_for("tar emot breven")
    [folder] = benchmark.temporary_folders()
    assert Path(folder).is_dir()
    assert processes_using(folder), "the worker and the submitter run with the folder as home"
    assert_left_nothing_behind(benchmark, signal_number, [folder])


def test_bench_precheck_stopped_while_it_calls_stops_utskick_serve_and_removes_its_home(
    start_benchmark,
):
    benchmark = start_benchmark("precheck", "--calls", "1000000")
    benchmark.wait_for("förhandskontroller (med cache)")
    [folder] = benchmark.temporary_folders()
    assert processes_using(folder), "utskick serve runs with the folder as home"
    assert_left_nothing_behind(benchmark, signal.SIGINT, [folder])


def test_bench_print_stopped_during_a_handover_stops_the_handover_and_removes_its_folder(
    start_benchmark,
):
    benchmark = start_benchmark("print", "--batch", "3000", "--render-letters", "5")
    benchmark.wait_for("lämnar över 3000 brev till tryckeriet, en PDF per brev")
    [folder] = benchmark.temporary_folders()
    assert Path(folder).is_dir()
    assert_left_nothing_behind(benchmark, signal.SIGTERM, [folder])


@pytest.mark.parametrize(
    ("arguments", "phase", "signal_number"),
    [
        (("deliver", "--seconds", "600"), "mäter mottagning", signal.SIGINT),
        (("far", "--seconds", "600"), "mäter isReachable", signal.SIGTERM),
    ],
    ids=["deliver-SIGINT", "far-SIGTERM"],
)
def test_an_in_process_benchmark_stopped_while_it_measures_removes_its_folder(
    arguments, phase, signal_number, start_benchmark
):
    benchmark = start_benchmark(*arguments)
    benchmark.wait_for(phase)
    [folder] = benchmark.temporary_folders()
    assert Path(folder).is_dir()
    assert_left_nothing_behind(benchmark, signal_number, [folder])


def test_the_progress_goes_to_stderr_and_the_result_alone_to_stdout():
    result = subprocess.run(
        [UTSKICK, "bench", "sign", "--seconds", "0.3", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["messages_per_s"] > 0
    lines = result.stderr.splitlines()
    assert "bench sign · mäter signering · 0/21 delmätningar · " in "\n".join(lines)
    assert lines[-1].startswith("bench sign · klar · ")
    assert "\r" not in result.stderr  # not a terminal: plain lines
