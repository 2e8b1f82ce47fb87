"""What `bench batch` reads about its child processes: memory, CPU and database statements.

- Peak memory: each process's VmHWM in `/proc/<pid>/status`, followed while it runs.
- CPU: utime + stime in `/proc/<pid>/stat` (every thread, in clock ticks), read by the
  benchmark at the moment it sees the last letter's outcome, so that a worker's idle polling
  afterwards is not in it. A process that has ended by then (the submitter) is counted from
  `getrusage(RUSAGE_CHILDREN)` around its reaping, which holds all it spent, start-up and exit
  included.
- Statements: each child counts its own calls to the database driver
  (`utskick.db.engine.StatementLog`, switched on by `UTSKICK_STATEMENT_LOG`) and rewrites
  `<file>.<pid>` every 0.2 s and at exit. The benchmark takes a running process's first
  snapshot written at or after the moment of the last outcome (so at most 0.2 s of idle
  polling is in it), and an ended process's final one.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from utskick.db.engine import STATEMENT_SNAPSHOT_SECONDS
from utskick.reference.runner import ReferenceInfrastructure

# How long a snapshot may take to appear: a few of the child's intervals, on a loaded machine.
SNAPSHOT_WAIT_SECONDS = 20 * STATEMENT_SNAPSHOT_SECONDS
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# utime and stime are fields 14 and 15 of /proc/<pid>/stat; after the command's closing
# parenthesis (field 2, which may hold spaces) comes field 3, so they are the 12th and 13th.
_UTIME_AFTER_COMMAND = 11
REFERENCE_IN_PROCESSES = "processes"
REFERENCE_HERE = "benchmark process"


class Polled(Protocol):
    """A process, or processes, that can be asked whether they have ended."""

    def poll(self) -> int | None:
        """None while running, else the exit status."""
        ...


class WorkerGroup:
    """The worker processes as one: `poll` is None while every one of them runs."""

    def __init__(self, processes: Sequence[subprocess.Popen[bytes]]) -> None:
        self._processes = processes

    def poll(self) -> int | None:
        """None while every worker runs, else the first ended one's exit status."""
        for process in self._processes:
            code = process.poll()
            if code is not None:
                return code
        return None


class ReferenceCpu:
    """Starts the reference, and reads its CPU seconds: of its processes, or of this process.

    `source` says which: `processes` when the reference can run in processes of its own
    (`start_in_processes`, `process_ids`), else `benchmark process`: it then runs on threads
    here, and this whole process's CPU (the benchmark's polling included) stands for it.
    """

    def __init__(self, infrastructure: ReferenceInfrastructure) -> None:
        # Looked up, not called outright: the reference gained these after this benchmark.
        start = getattr(infrastructure, "start_in_processes", None)
        process_ids = getattr(infrastructure, "process_ids", None)
        self._process_ids: Callable[[], object] | None = None
        if callable(start) and callable(process_ids):
            start()
            self._process_ids = process_ids
            self.source = REFERENCE_IN_PROCESSES
        else:
            infrastructure.start_in_thread()
            self.source = REFERENCE_HERE

    def read(self) -> dict[str, float]:
        """CPU seconds so far, by process name."""
        if self._process_ids is None:
            return {f"reference ({REFERENCE_HERE})": time.process_time()}
        pids = self._process_ids()
        if not isinstance(pids, dict):
            raise TypeError(f"process_ids() gav {pids!r}, ingen ordlista")
        return {f"reference-{name}": cpu_seconds(int(pid)) for name, pid in pids.items()}


class PeakMemory:
    """Follow a process's peak resident set (VmHWM) until it exits."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self.peak_kib = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _read(self) -> bool:
        """Take the process's VmHWM into the peak; False once the process is gone."""
        try:
            for line in self._status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            return False
        return True

    def _watch(self) -> None:
        while self._read():
            time.sleep(0.05)

    def peak_mib(self) -> float:
        """The highest resident set seen, in MiB (read once more if the process still runs)."""
        self._read()
        return round(self.peak_kib / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """The CPU seconds (user + system, every thread) a running process has used so far.

    Raises:
        OSError: the process is gone.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    user, system = fields[_UTIME_AFTER_COMMAND], fields[_UTIME_AFTER_COMMAND + 1]
    return (int(user) + int(system)) / _CLOCK_TICKS


def children_cpu_seconds() -> float:
    """CPU seconds of every child this process has reaped so far (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def reap_with_cpu(process: subprocess.Popen[bytes], timeout: float) -> float:
    """Wait up to `timeout` s for the child to end; the CPU seconds it used.

    Only this child may be reaped meanwhile: the difference in `RUSAGE_CHILDREN` is its own.

    Raises:
        subprocess.TimeoutExpired: it still runs.
    """
    before = children_cpu_seconds()
    process.wait(timeout=timeout)
    return children_cpu_seconds() - before


def _snapshot(path: Path) -> dict[str, object] | None:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded if isinstance(loaded, dict) else None


def statements_at(base: Path, pid: int, moment: float) -> tuple[int, dict[str, int]]:
    """The driver calls process `pid` counted up to `moment` (`time.monotonic()`) or its end.

    In all, and by what they did to which table (`INSERT letter_event`).

    The first snapshot written at or after `moment`, or the final one (the process ended).

    Raises:
        RuntimeError: no such snapshot came within `SNAPSHOT_WAIT_SECONDS` (the process does
            not count: `UTSKICK_STATEMENT_LOG` did not reach it, or it has no database).
    """
    path = base.with_name(f"{base.name}.{pid}")
    deadline = time.monotonic() + SNAPSHOT_WAIT_SECONDS
    while True:
        snapshot = _snapshot(path)
        if snapshot is not None and (
            snapshot.get("final") is True or _number(snapshot, "monotonic") >= moment
        ):
            shapes = snapshot.get("by_shape")
            by_shape = (
                {str(k): int(v) for k, v in shapes.items() if isinstance(v, int)}
                if isinstance(shapes, dict)
                else {}
            )
            return int(_number(snapshot, "statements")), by_shape
        if time.monotonic() > deadline:
            raise RuntimeError(f"processen {pid} skrev inget antal databasanrop i {path}")
        time.sleep(STATEMENT_SNAPSHOT_SECONDS / 4)


def _number(snapshot: dict[str, object], key: str) -> float:
    value = snapshot.get(key)
    return float(value) if isinstance(value, int | float) else 0.0
