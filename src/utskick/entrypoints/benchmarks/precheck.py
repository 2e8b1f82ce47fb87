"""Precheck latency for one recipient through the REST API of a running `utskick serve`.

`utskick serve` is started in a temporary home on free ports (the embedded reference with
it), and `POST /api/v1/precheck` is called for one recipient with the demo API key: once with
the FaR cache on (every call after the first is answered from the cache) and once with a
cache time of zero (every call asks FaR over mutual TLS).
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from utskick.entrypoints.benchmarks.cleanup import benchmark_run, start_process, temporary_folder
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.reference.runner import free_loopback_ports as _free_ports
from utskick.reference.settings import ReferenceSettings

# Every port the reference infrastructure listens on, so that none is left at its default
# (a running `make run`, or a second benchmark, holds those).
_REFERENCE_PORTS = tuple(
    name.upper() for name in ReferenceSettings.model_fields if name.endswith("_port")
)
STARTUP_SECONDS = 90.0
# Ctrl-C (SIGINT) is how an operator stops `utskick serve`; it takes about a second, but after
# prechecks the reference FaR waits out asyncio's 30 s TLS shutdown of the connector's FaR
# connection, which stays open. The temporary installation has nothing worth that wait.
STOP_SECONDS = 5.0
RECIPIENT = "191212121212"


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _serve(
    stack: contextlib.ExitStack, home: Path, port: int, cache_seconds: float
) -> subprocess.Popen[bytes]:
    """`utskick serve` in `home` on `port`, the reference on free ports, no worker threads.

    It is stopped as an operator stops it (Ctrl-C) when `stack` closes.
    """
    env = dict(
        os.environ,
        UTSKICK_REACHABILITY_CACHE_SECONDS=str(cache_seconds),
        UTSKICK_WORKER_THREADS="0",
    )
    ports = _free_ports(len(_REFERENCE_PORTS))
    env.update(
        {
            f"UTSKICK_REFERENCE_{name}": str(number)
            for name, number in zip(_REFERENCE_PORTS, ports, strict=True)
        }
    )
    utskick = str(Path(sys.executable).with_name("utskick"))
    return start_process(
        stack,
        [utskick, "serve", "--home", str(home), "--port", str(port)],
        signal_number=signal.SIGINT,
        grace=STOP_SECONDS,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _call(base: str, key: str, calls: int, progress: Progress) -> list[float]:
    """Milliseconds of each of `calls` prechecks over one keep-alive client, after a warm-up."""
    timings = []
    with httpx2.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        body = {"sender": "2021004748", "recipients": [RECIPIENT]}
        client.post(base + "/api/v1/precheck", json=body).raise_for_status()  # warm-up
        for done in range(1, calls + 1):
            started = time.perf_counter()
            answer = client.post(base + "/api/v1/precheck", json=body)
            timings.append((time.perf_counter() - started) * 1000)
            answer.raise_for_status()
            progress.update(done)
    return timings


def _measure(
    cache_seconds: float, calls: int, variant: str, progress: Progress
) -> dict[str, float]:
    """p50 and p99 of `calls` prechecks against a fresh `utskick serve` in a temporary home."""
    with (
        temporary_folder(progress, "utskick-bench-precheck-") as home,
        contextlib.ExitStack() as stack,
    ):
        progress.phase(f"startar utskick serve ({variant})")
        port = _free_ports(1)[0]
        server = _serve(stack, home, port, cache_seconds)
        base = f"http://127.0.0.1:{port}"
        _wait_until_healthy(base, server)
        key = (home / "demo-api-key").read_text(encoding="utf-8").strip()
        progress.phase(f"förhandskontroller ({variant})", calls, "anrop")
        timings = _call(base, key, calls, progress)
        progress.phase(f"stoppar utskick serve ({variant})")
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p99_ms": round(_percentile(timings, 0.99), 2),
        "calls": calls,
    }


def _wait_until_healthy(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("utskick serve stannade innan den var redo")
        try:
            if httpx2.get(base + "/health", timeout=1).status_code == httpx2.codes.OK:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"utskick serve svarade inte på /health inom {STARTUP_SECONDS:.0f} s")


def run_precheck_benchmark(calls: int = 1000) -> dict[str, object]:
    """p50 and p99 of `POST /api/v1/precheck` for one recipient, with and without the cache.

    Args:
        calls: measured calls per variant (after one warm-up call).
    """
    with benchmark_run("bench precheck") as progress:
        cached = _measure(300.0, calls, "med cache", progress)
        uncached = _measure(0.0, calls, "utan cache", progress)
    return {
        "recipient": RECIPIENT,
        "cached_p50_ms": cached["p50_ms"],
        "cached_p99_ms": cached["p99_ms"],
        "uncached_p50_ms": uncached["p50_ms"],
        "uncached_p99_ms": uncached["p99_ms"],
        "calls_per_variant": calls,
        "cpus": os.cpu_count(),
    }
