"""What a benchmark starts it stops: its temporary folder, SIGTERM as an interrupt, children."""

import contextlib
import io
import os
import signal
import subprocess
import sys
import threading

import pytest

from utskick.entrypoints.benchmarks import cleanup
from utskick.entrypoints.benchmarks.cleanup import (
    BenchmarkTerminatedError,
    benchmark_run,
    held_interrupts,
    start_process,
    stop_process,
    temporary_folder,
)
from utskick.entrypoints.benchmarks.progress import Progress


def quiet_progress():
    return Progress("bench test", io.StringIO())


class TestTemporaryFolder:
    def test_says_where_it_is_and_is_gone_after_the_block(self):
        progress = quiet_progress()
        with temporary_folder(progress, "utskick-bench-test-") as folder:
            (folder / "utskick.db").write_bytes(b"data")
            (folder / "drop" / "batch").mkdir(parents=True)
        assert not folder.exists()
        assert f"Tillfällig mapp: {folder}" in progress._stream.getvalue()

    @pytest.mark.parametrize("interruption", [KeyboardInterrupt, BenchmarkTerminatedError])
    def test_is_gone_after_an_interrupt_too(self, interruption):
        folders = []

        def interrupted_benchmark():
            with temporary_folder(quiet_progress(), "utskick-bench-test-") as folder:
                folders.append(folder)
                (folder / "utskick.db").write_bytes(b"data")
                raise interruption(143)

        with pytest.raises(interruption):
            interrupted_benchmark()
        assert folders
        assert not folders[0].exists()


@pytest.fixture
def main_thread_only():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers can only be set in the main thread")


@pytest.mark.usefixtures("main_thread_only")
class TestBenchmarkRun:
    def test_sigterm_unwinds_the_benchmark_like_ctrl_c_and_exits_with_143(self, capsys):
        before = signal.getsignal(signal.SIGTERM)
        unwound = []

        def benchmark_sent_sigterm():
            with benchmark_run("bench test"):
                # Only send it once the run's handler is in place: the default would end pytest.
                assert signal.getsignal(signal.SIGTERM) is cleanup._interrupt
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                    threading.Event().wait(5)  # the handler raises long before this ends
                finally:
                    unwound.append(True)

        with pytest.raises(BenchmarkTerminatedError) as raised:
            benchmark_sent_sigterm()
        assert unwound == [True]
        assert raised.value.code == 143
        assert signal.getsignal(signal.SIGTERM) is before
        assert "bench test · avbruten (SIGTERM), har städat upp" in capsys.readouterr().err

    def test_ctrl_c_is_reported_and_passed_on(self, capsys):
        def benchmark_interrupted():
            with benchmark_run("bench test"):
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            benchmark_interrupted()
        assert "bench test · avbruten (Ctrl-C), har städat upp" in capsys.readouterr().err

    def test_a_benchmark_inside_another_shares_its_progress_line(self, capsys):
        with benchmark_run("bench batch") as outer:
            with benchmark_run("bench sign") as inner:
                assert inner is outer
            assert signal.getsignal(signal.SIGTERM) is cleanup._interrupt
        err = capsys.readouterr().err
        assert "bench sign" not in err
        assert err.count("bench batch · klar") == 1


@pytest.mark.usefixtures("main_thread_only")
class TestHeldInterrupts:
    def test_ctrl_c_in_a_held_block_waits_for_its_end(self):
        steps = []

        def benchmark_interrupted_while_starting_a_child():
            with benchmark_run("bench test"), held_interrupts():
                os.kill(os.getpid(), signal.SIGINT)
                steps.append("child started and registered")
            steps.append("never reached")

        with pytest.raises(KeyboardInterrupt):
            benchmark_interrupted_while_starting_a_child()
        assert steps == ["child started and registered"]

    def test_a_held_interrupt_is_dropped_when_the_block_fails_anyway(self):
        def benchmark_failing_while_held():
            with benchmark_run("bench test"), held_interrupts():
                os.kill(os.getpid(), signal.SIGTERM)
                raise RuntimeError("Popen failed")

        with pytest.raises(RuntimeError):
            benchmark_failing_while_held()
        with benchmark_run("bench test"), held_interrupts():
            pass  # nothing left over from before to raise here

    def test_a_child_started_is_stopped_when_the_run_is_interrupted(self):
        children = []

        def benchmark_interrupted_with_a_child_running():
            with benchmark_run("bench test"), contextlib.ExitStack() as stack:
                children.append(
                    start_process(stack, [sys.executable, "-c", "import time; time.sleep(60)"])
                )
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            benchmark_interrupted_with_a_child_running()
        assert children[0].returncode == -signal.SIGTERM


def test_stop_process_kills_a_child_that_does_not_stop_when_asked():
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import signal, sys, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "print('ready', flush=True)\n"
                "time.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
    )
    assert child.stdout.readline() == b"ready\n"
    stop_process(child, grace=0.5)
    assert child.returncode == -signal.SIGKILL
    child.stdout.close()


def test_stop_process_leaves_a_child_that_stops_when_asked_its_own_exit():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(child, grace=10)
    assert child.returncode == -signal.SIGTERM
