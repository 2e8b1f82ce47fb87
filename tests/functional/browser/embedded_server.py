"""Utskick as `make run` starts it (`utskick serve`: the embedded reference and the connector),
in a process of its own on free loopback ports, for the browser tests of the officer's desk.
"""

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from support.world import REFERENCE_PORT_SETTINGS
from utskick.reference.runner import free_loopback_ports

UTSKICK = str(Path(sys.executable).with_name("utskick"))
START_SECONDS = 90


@dataclasses.dataclass
class EmbeddedServer:
    """A running `utskick serve`: its URL, home folder, ports and the demo users' passwords."""

    base_url: str
    home: Path
    ports: dict[str, int]
    passwords: dict[str, str]
    output: list[str]

    def mailbox_url(self, operator: str) -> str:
        """The citizen mailbox on the web of an operator (`syd` or `nord`)."""
        return f"http://127.0.0.1:{self.ports[f'{operator}_ui_port']}"


def _demo_passwords(home: Path) -> dict[str, str]:
    text = (home / "demo-users.txt").read_text(encoding="utf-8")
    return {
        line.split()[0]: line.split()[1]
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    }


def start_embedded_server(home: Path, extra_env: dict[str, str] | None = None):
    """Start `utskick serve` with `home`; returns (process, EmbeddedServer) once /health is 200."""
    connector_port, *ports = free_loopback_ports(1 + len(REFERENCE_PORT_SETTINGS))
    port_of = dict(zip(REFERENCE_PORT_SETTINGS, ports, strict=True))
    env = dict(os.environ, COLUMNS="200", **(extra_env or {}))
    env.update({f"UTSKICK_REFERENCE_{name.upper()}": str(port) for name, port in port_of.items()})
    process = subprocess.Popen(
        [UTSKICK, "serve", "--home", str(home), "--port", str(connector_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    output: list[str] = []
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    base = f"http://127.0.0.1:{connector_port}"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        try:
            if httpx2.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx2.TransportError:
            pass
        if process.poll() is not None:
            time.sleep(0.5)
            pytest.fail(f"utskick serve stopped: {''.join(output)}")
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"utskick serve did not answer /health within {START_SECONDS} s")
    return process, EmbeddedServer(base, home, port_of, _demo_passwords(home), output)


def stop_embedded_server(process) -> None:
    """Stop `utskick serve` as Ctrl-C does (kill it if it does not stop)."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
