"""What a benchmark starts it also stops: on success, on an error, on Ctrl-C and on SIGTERM.

A benchmark runs inside `benchmark_run`, which shows its progress line (`Progress`) and, for
the length of the run, turns SIGTERM into an exception as Python already does with Ctrl-C
(SIGINT). Either way the benchmark's `finally` blocks and exit stacks then run: they stop the
processes it started (`start_process`) and servers, and remove its temporary folders
(`temporary_folder`, which says on stderr where the folder is, so that anyone can check).

What outlives the benchmark's own process (a child process, a folder) is created and
registered for cleaning up, and later cleaned up, with the interrupts held back
(`held_interrupts`): an interrupt arriving between starting a child and registering it would
otherwise leave the child running and writing into a folder that is being removed.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from types import FrameType
from typing import Any

from utskick.entrypoints.benchmarks.progress import Progress

STOP_GRACE_SECONDS = 10.0
_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)

_active: ContextVar[Progress | None] = ContextVar("active_benchmark_progress", default=None)


class BenchmarkTerminatedError(SystemExit):
    """SIGTERM arrived during a benchmark: unwinds like Ctrl-C, exits with status 143."""


class _Held:
    """How deep in `held_interrupts` the main thread is, and the interrupt that waits."""

    depth = 0
    pending: BaseException | None = None


def _interrupt(signal_number: int, frame: FrameType | None) -> None:
    del frame  # the interrupted frame is the exception's traceback already
    if signal_number == signal.SIGINT:
        error: BaseException = KeyboardInterrupt()
    else:
        error = BenchmarkTerminatedError(128 + signal_number)
    if _Held.depth:
        _Held.pending = _Held.pending or error
        return
    raise error


@contextlib.contextmanager
def held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block ends, then raise the first that came."""
    _Held.depth += 1
    try:
        yield
    except BaseException:
        _Held.depth -= 1
        if not _Held.depth:
            _Held.pending = None  # the run unwinds already
        raise
    _Held.depth -= 1
    if not _Held.depth and _Held.pending is not None:
        error, _Held.pending = _Held.pending, None
        raise error


@contextlib.contextmanager
def _interrupts_as_exceptions() -> Iterator[None]:
    # Only the main thread may set a handler; a benchmark run elsewhere keeps the defaults.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _interrupt) for number in _INTERRUPTS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def benchmark_run(title: str) -> Iterator[Progress]:
    """Run a benchmark with a progress line on stderr, SIGTERM raising like Ctrl-C.

    A benchmark run inside another (`bench batch` measures signing too) shares the outer
    run's line and handlers.
    """
    active = _active.get()
    if active is not None:
        yield active
        return
    progress = Progress(title)
    token = _active.set(progress)
    outcome = "avbruten"
    try:
        with _interrupts_as_exceptions():
            progress.start()
            try:
                yield progress
                outcome = "klar"
            except KeyboardInterrupt:
                outcome = "avbruten (Ctrl-C), har städat upp"
                raise
            except BenchmarkTerminatedError:
                outcome = "avbruten (SIGTERM), har städat upp"
                raise
            except Exception:
                outcome = "misslyckades"
                raise
            finally:
                progress.finish(outcome)
    finally:
        _active.reset(token)


@contextlib.contextmanager
def temporary_folder(progress: Progress, prefix: str) -> Iterator[Path]:
    """A new temporary folder, announced on stderr and removed when the block ends."""
    with contextlib.ExitStack() as stack:
        with held_interrupts():
            folder = Path(tempfile.mkdtemp(prefix=prefix))
            stack.callback(_remove, folder, progress)
        progress.note(f"Tillfällig mapp: {folder} (tas bort när mätningen slutar)")
        yield folder


def _remove(folder: Path, progress: Progress) -> None:
    with held_interrupts():
        # Never raise here: that would hide why the block ended. Say what is left instead.
        shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        progress.note(f"Kunde inte ta bort den tillfälliga mappen {folder}")


def start_process(
    stack: contextlib.ExitStack,
    arguments: Sequence[str],
    *,
    signal_number: int = signal.SIGTERM,
    grace: float = STOP_GRACE_SECONDS,
    **options: Any,
) -> subprocess.Popen[bytes]:
    """Start a child process that is stopped (`stop_process`) when `stack` closes.

    `options` go to `subprocess.Popen`.
    """
    with held_interrupts():
        # The benchmarks start their own commands only.
        process: subprocess.Popen[bytes] = subprocess.Popen(arguments, **options)  # noqa: S603
        stack.enter_context(process)  # closes its pipes and reaps it, once stopped
        stack.callback(_stop_held, process, signal_number, grace)
    return process


def _stop_held(process: subprocess.Popen[bytes], signal_number: int, grace: float) -> None:
    with held_interrupts():
        stop_process(process, signal_number=signal_number, grace=grace)


def stop_process(
    process: subprocess.Popen[bytes],
    *,
    signal_number: int = signal.SIGTERM,
    grace: float = STOP_GRACE_SECONDS,
) -> None:
    """Ask a child process to stop with `signal_number`, and kill it if it has not in `grace` s."""
    if process.poll() is not None:
        return
    process.send_signal(signal_number)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
