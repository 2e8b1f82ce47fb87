"""One group of reference servers in a process of its own: `python -m utskick.reference.child`.

Started by `children.ChildProcesses`: the first line on stdin is the reference's settings
(JSON); the context is opened over the data folder the parent prepared, the group's servers
(and, for the FaR group, the SMTP sink) start, and the child writes one byte to `--ready-fd`
once every server listens. It serves until SIGTERM, or until the parent is gone (stdin
reaches its end, or the parent process id changes), then stops its servers; if they do not
stop in time the process ends anyway. Ctrl-C in the terminal is left to the parent, which
stops its children when it is done.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import select
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

import uvicorn

from utskick.reference.children import FAR_GROUP, READY
from utskick.reference.context import open_context
from utskick.reference.runner import group_configs
from utskick.reference.settings import ReferenceSettings
from utskick.reference.sink import SmtpSink

PARENT_CHECK_SECONDS = 0.5
# How long a stopping server waits for its connections: an idle keep-alive client over TLS
# never answers the server's close, and would hold it for the 30 s of asyncio's TLS shutdown.
GRACEFUL_STOP_SECONDS = 2
# After being told to stop, how long the servers get before the process ends regardless.
HARD_STOP_SECONDS = 10.0


class _Server(uvicorn.Server):
    """A uvicorn server that leaves the signals to this module (one handler for all)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Install nothing: SIGTERM stops every server of the process at once."""
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one group of reference servers until told to stop or orphaned."""
    parser = argparse.ArgumentParser(prog="python -m utskick.reference.child")
    parser.add_argument("group")
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    arguments = parser.parse_args(argv)
    # The parent stops its children when it is done with them; Ctrl-C is for the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings = ReferenceSettings(**json.loads(sys.stdin.buffer.readline()))
    context = open_context(settings)
    configs = group_configs(context, arguments.group)
    for config in configs:
        config.timeout_graceful_shutdown = GRACEFUL_STOP_SECONDS
    servers = [_Server(config) for config in configs]
    stopping = threading.Event()

    def stop() -> None:
        if stopping.is_set():
            return
        stopping.set()
        for server in servers:
            server.should_exit = True
        deadline = threading.Timer(HARD_STOP_SECONDS, os._exit, args=(1,))
        deadline.daemon = True  # a clean stop ends the process without waiting for it
        deadline.start()

    signal.signal(signal.SIGTERM, lambda _signal, _frame: stop())
    watch_parent(arguments.parent, stop)
    sink = SmtpSink(context) if arguments.group == FAR_GROUP and settings.run_smtp_sink else None
    try:
        if sink is not None:
            sink.start()
        asyncio.run(_serve(servers, arguments.ready_fd))
    finally:
        if sink is not None:
            sink.stop()
        context.engine.dispose()
    return 0


def watch_parent(parent_pid: int, on_gone: Callable[[], None]) -> None:
    """Call `on_gone` (from a daemon thread) once the parent process has gone."""

    def watch() -> None:
        stdin = sys.stdin.fileno()
        while os.getppid() == parent_pid:
            readable, _, _ = select.select([stdin], [], [], PARENT_CHECK_SECONDS)
            if readable and not os.read(stdin, 4096):
                break  # the parent's end of the pipe closed: it has ended
        on_gone()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


async def _serve(servers: list[_Server], ready_fd: int) -> None:
    """Run the servers; write READY to `ready_fd` once all of them listen."""
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    try:
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.02)
        else:
            os.write(ready_fd, READY)
    finally:
        os.close(ready_fd)
    await asyncio.gather(*tasks)


def _run_and_exit() -> None:
    code = main()
    # Everything is closed: the servers, the sink, the database. Leave without the
    # interpreter's teardown of the whole service stack, which takes seconds on a busy
    # machine and would hold up whoever waits for the reference to stop.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _run_and_exit()
