"""The running system the desk's browser tests share: one `utskick serve` per test process."""

import pytest

from functional.browser.embedded_server import start_embedded_server, stop_embedded_server


@pytest.fixture(scope="session")
def embedded(tmp_path_factory):
    """Utskick as `make run` starts it, with the demo users; shared by the tests of a process.

    Tests that use it must not depend on each other's letters: each sends its own, with a
    subject or case number of its own.
    """
    process, server = start_embedded_server(tmp_path_factory.mktemp("embedded-home"))
    yield server
    stop_embedded_server(process)
