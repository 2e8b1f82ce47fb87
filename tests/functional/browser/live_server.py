"""The web app served by uvicorn on a free loopback port, in a thread, for browser tests."""

import contextlib
import threading
import time

import pytest
import uvicorn

from utskick.reference.runner import free_loopback_ports

START_SECONDS = 20


@contextlib.contextmanager
def serving(app):
    """Serve `app` until the block ends; yields its base URL."""
    [port] = free_loopback_ports(1)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"the web app did not start within {START_SECONDS} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
