import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from utskick.settings import Settings
from utskick.web.app import create_app


def test_start_page_and_health_on_a_migrated_database(migrated_engine, tmp_path):
    client = TestClient(create_app(Settings(home=tmp_path), migrated_engine))
    page = client.get("/")
    assert page.status_code == 200
    assert "Tjänsten är igång" in page.text
    assert 'lang="sv"' in page.text
    health = client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def test_health_says_what_to_do_when_the_database_is_not_migrated(empty_engine, tmp_path):
    client = TestClient(create_app(Settings(home=tmp_path), empty_engine))
    health = client.get("/health")
    assert health.status_code == 503
    assert "kör utskick db upgrade" in health.json()["database"]["detail"]


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_utskick_serve_starts_migrates_and_answers(tmp_path):
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("utskick")),
        "serve",
        "--home",
        str(tmp_path / "var"),
        "--port",
        str(port),
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("UTSKICK_")}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"utskick serve did not answer: {process.stdout.read() if process.stdout else ''}"
                    )
                time.sleep(0.2)
        assert response.status_code == 200
        assert (tmp_path / "var" / "utskick.db").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in output
