"""The reference's servers in child processes: started, watched while starting, stopped.

Each group of servers (`runner.server_groups`: FaR with the rest, each mailbox operator by
itself) runs in `python -m utskick.reference.child <group>`, which rebuilds its context from
the same settings (sent on its stdin) over the data folder the parent prepared. So an
operator's CPU time and lock are its own, apart from the connector's and from FaR's.

A child stops on SIGTERM, and by itself when the parent goes away however it ends (its stdin
closes, or its parent process changes), so nothing is left running after a SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from utskick.reference.settings import ReferenceSettings

CHILD_MODULE = "utskick.reference.child"
# The group of FaR, the population register, the sinks and the diarium; each mailbox
# operator's group is named by its operator key.
FAR_GROUP = "far"
READY = b"1"
START_TIMEOUT_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0
_POLL_SECONDS = 0.05


def settings_payload(settings: ReferenceSettings) -> bytes:
    """The settings as one line of JSON for a child, secrets and an absolute home included."""
    data: dict[str, Any] = settings.model_dump(mode="json")
    for name, value in settings:
        if isinstance(value, SecretStr):
            data[name] = value.get_secret_value()
    data["home"] = str(settings.home.resolve())
    return json.dumps(data).encode() + b"\n"


@dataclass
class _Child:
    group: str
    ports: tuple[int, ...]
    process: subprocess.Popen[bytes]
    ready_fd: int  # the read end of the pipe the child writes READY to, or closes
    ready: bool = False


class ChildProcesses:
    """One child process per group of reference servers.

    Args:
        settings: the reference's settings; every child rebuilds its context from them.
        groups: each group's name and the ports its servers listen on.
        start_timeout: seconds every server gets to listen.
        stop_grace: seconds between SIGTERM and SIGKILL when stopping.
    """

    def __init__(
        self,
        settings: ReferenceSettings,
        groups: Mapping[str, Sequence[int]],
        *,
        start_timeout: float = START_TIMEOUT_SECONDS,
        stop_grace: float = STOP_GRACE_SECONDS,
    ) -> None:
        self.settings = settings
        self.groups = {name: tuple(ports) for name, ports in groups.items()}
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self._children: list[_Child] = []

    def start(self) -> None:
        """Start every group; returns when each child says so and each of its ports answers.

        Raises:
            RuntimeError: (Swedish) a child ended, or did not listen in time; every child
                started is stopped first.
        """
        payload = settings_payload(self.settings)
        try:
            for group, ports in self.groups.items():
                self._children.append(self._spawn(group, ports, payload))
            deadline = time.monotonic() + self.start_timeout
            for child in self._children:
                self._await_ready(child, deadline)
            for child in self._children:
                for port in child.ports:
                    self._await_port(child, port, deadline)
        except BaseException:
            self.stop()
            raise

    def process_ids(self) -> dict[str, int]:
        """Each group's process id, for the children that have not been stopped."""
        return {child.group: child.process.pid for child in self._children}

    def stop(self) -> None:
        """Stop the children, the first last; reap them all.

        Each gets SIGTERM, then SIGKILL if it still runs after the grace. The first group
        (FaR with the sinks) goes last, so that what the operators send while they stop (a
        notice to the SMTP sink) still arrives.
        """
        children, self._children = self._children, []
        for batch in (children[1:], children[:1]):
            for child in batch:
                if child.process.poll() is None:
                    child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + self.stop_grace
            for child in batch:
                try:
                    child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
                _close_quietly(child)

    # --- starting -------------------------------------------------------------------------

    def _spawn(self, group: str, ports: tuple[int, ...], payload: bytes) -> _Child:
        ready_read, ready_write = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [
                    sys.executable,
                    *("-m", CHILD_MODULE, group),
                    *("--parent", str(os.getpid())),
                    *("--ready-fd", str(ready_write)),
                ],
                stdin=subprocess.PIPE,
                pass_fds=(ready_write,),
            )
        except BaseException:
            os.close(ready_read)
            raise
        finally:
            os.close(ready_write)
        child = _Child(group, ports, process, ready_read)
        # The stdin stays open: its end is how the child learns that this process is gone.
        if process.stdin is not None:
            # A child that has ended already breaks the pipe; _await_ready then says so.
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(payload)
                process.stdin.flush()
        return child

    def _await_ready(self, child: _Child, deadline: float) -> None:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise RuntimeError(self._late(child))
            readable, _, _ = select.select([child.ready_fd], [], [], min(remaining, 0.5))
            if readable:
                if os.read(child.ready_fd, 1) == READY:
                    child.ready = True
                    return
                raise RuntimeError(self._ended(child))

    def _await_port(self, child: _Child, port: int, deadline: float) -> None:
        host = _connectable(self.settings.host)
        while True:
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    return
            except OSError:
                pass
            if child.process.poll() is not None:
                raise RuntimeError(self._ended(child))
            if time.monotonic() > deadline:
                raise RuntimeError(self._late(child))
            time.sleep(_POLL_SECONDS)

    def _ended(self, child: _Child) -> str:
        try:
            code = child.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            code = None
        return (
            f"referensens process för {_label(child.group)} avslutades medan den startade "
            f"(slutkod {code}); är en port upptagen ({_ports(child.ports)})? "
            "Se UTSKICK_REFERENCE_*_PORT och felmeddelandet ovan."
        )

    def _late(self, child: _Child) -> str:
        return (
            f"referensens process för {_label(child.group)} lyssnade inte på "
            f"{_ports(child.ports)} inom {self.start_timeout:.0f} s"
        )


def _close_quietly(child: _Child) -> None:
    if child.process.stdin is not None:
        # The child is gone: nothing was left to write.
        with contextlib.suppress(OSError):
            child.process.stdin.close()
    os.close(child.ready_fd)


def _connectable(host: str) -> str:
    """Where to knock for a server listening on `host` (a wildcard is reached on loopback)."""
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104


def _label(group: str) -> str:
    if group == FAR_GROUP:
        return "FaR och de övriga tjänsterna"
    return f"brevlådeoperatören {group}"


def _ports(ports: tuple[int, ...]) -> str:
    return "port " + ", ".join(str(port) for port in ports)
