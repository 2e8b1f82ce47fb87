"""/health through the app: degraded (still 200) with the part that says why: FaR down, a
certificate within a warning threshold, expired or unreadable, a print drop that cannot be
reached (a local folder, or an SFTP server that gives no SSH banner). Run on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import socket
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, fresh_organisation_number
from utskick.entrypoints.app import create_app
from utskick.jobs.dependencies import FAR, record_outcome
from utskick.migrations import migrate
from utskick.mm.devca import write_pem_bundle
from utskick.reference.runner import free_loopback_ports
from utskick.senders.models import SenderOrganisation
from utskick.settings import PrintVendor, Settings

pytestmark = pytest.mark.storage


class SshBannerServer:
    """A TCP server that greets like an SSH server and counts who connected."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.sendall(b"SSH-2.0-Tryckeriet_1.0\r\n")

    def stop(self):
        self.listener.close()
        self.thread.join(timeout=5)


@pytest.fixture
def ssh_server():
    server = SshBannerServer()
    yield server
    server.stop()


@pytest.fixture
def engine(empty_engine):
    migrate.upgrade(empty_engine)
    return empty_engine


def add_sender(engine, number, name, key_path, *, intermediary=False):
    with Session(engine) as session, session.begin():
        session.add(
            SenderOrganisation(
                organisation_number=number,
                name=name,
                key_path=str(key_path),
                intermediary=intermediary,
                support_text="Frågor besvaras av kommunen.",
                created_at=dt.datetime.now(dt.UTC),
            )
        )


def issue_key(authority, tmp_path, number, name, *, days_left):
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=100)
    ends = dt.datetime.now(dt.UTC) + dt.timedelta(days=days_left, hours=1)
    issued = authority.issue_organisation(number, name, days=(ends - start).days, valid_from=start)
    path = tmp_path / f"{number}.pem"
    write_pem_bundle(path, issued)
    return path


def test_health_is_degraded_and_says_which_certificate_far_and_drop(
    engine, authority, ssh_server, tmp_path
):
    add_sender(engine, EXEMPELKOMMUN, "Exempelkommun",
               issue_key(authority, tmp_path, EXEMPELKOMMUN, "Exempelkommun", days_left=20),
               intermediary=True)  # fmt: skip
    add_sender(engine, GRANNKOMMUN, "Grannkommun",
               issue_key(authority, tmp_path, GRANNKOMMUN, "Grannkommun", days_left=400))  # fmt: skip
    expired_number = fresh_organisation_number()
    add_sender(engine, expired_number, "Gamla nämnden",
               issue_key(authority, tmp_path, expired_number, "Gamla nämnden", days_left=-3))  # fmt: skip
    broken_number = fresh_organisation_number()
    add_sender(engine, broken_number, "Trasiga nämnden", tmp_path / "borta.p12")
    record_outcome(engine, FAR, "anslutningen nekades", dt.datetime.now(dt.UTC))
    [closed] = free_loopback_ports(1)
    settings = Settings(
        home=tmp_path / "var",
        print_vendors=[
            PrintVendor(name="tryckeriet", drop=tmp_path / "drop"),
            PrintVendor(name="sftp-tryckeriet", sftp_url=f"sftp://print@127.0.0.1:{ssh_server.port}/in"),
            PrintVendor(name="nere", sftp_url=f"sftp://print@127.0.0.1:{closed}/in"),
        ],
    )  # fmt: skip

    answer = TestClient(create_app(settings, engine)).get("/health")

    assert answer.status_code == 200
    health = answer.json()
    assert health["status"] == "degraded"
    assert health["database"]["ok"] is True
    assert (health["far"]["status"], health["far"]["reason"]) == (
        "degraded",
        "anslutningen nekades",
    )
    shown = {entry["organisation_number"]: entry for entry in health["certificates"]}
    assert {number: entry["status"] for number, entry in shown.items()} == {
        EXEMPELKOMMUN: "warning",
        GRANNKOMMUN: "ok",
        expired_number: "expired",
        broken_number: "unreadable",
    }
    assert shown[EXEMPELKOMMUN]["role"] == "intermediary"
    assert shown[EXEMPELKOMMUN]["days_left"] == pytest.approx(20.0, abs=0.1)
    assert dt.datetime.fromisoformat(shown[EXEMPELKOMMUN]["not_after"]) > dt.datetime.now(dt.UTC)
    assert shown[expired_number]["days_left"] < 0
    assert "borta.p12" in shown[broken_number]["detail"]
    assert [(d["name"], d["kind"], d["status"]) for d in health["print_drop"]] == [
        ("tryckeriet", "folder", "ok"),
        ("sftp-tryckeriet", "sftp", "ok"),
        ("nere", "sftp", "unreachable"),
    ]
    assert f"127.0.0.1:{closed}" in health["print_drop"][2]["detail"]


def test_health_is_ok_when_every_part_is(engine, authority, tmp_path):
    add_sender(engine, EXEMPELKOMMUN, "Exempelkommun",
               issue_key(authority, tmp_path, EXEMPELKOMMUN, "Exempelkommun", days_left=300),
               intermediary=True)  # fmt: skip
    record_outcome(engine, FAR, None, dt.datetime.now(dt.UTC))
    settings = Settings(home=tmp_path / "var")

    health = TestClient(create_app(settings, engine)).get("/health").json()

    assert health["status"] == "ok"
    assert [c["status"] for c in health["certificates"]] == ["ok"]
    # The default drop does not exist yet: the first batch makes it.
    [drop] = health["print_drop"]
    assert (drop["status"], drop["detail"]) == ("ok", "mappen skapas vid första batchen")


def test_a_drop_that_is_a_file_makes_health_degraded(engine, tmp_path):
    not_a_folder = tmp_path / "drop"
    not_a_folder.write_text("en fil, ingen mapp")
    settings = Settings(
        home=tmp_path / "var", print_vendors=[PrintVendor(name="tryckeriet", drop=not_a_folder)]
    )

    health = TestClient(create_app(settings, engine)).get("/health").json()

    assert health["status"] == "degraded"
    assert health["print_drop"][0]["status"] == "unreachable"
    assert "ingen mapp" in health["print_drop"][0]["detail"]


def test_an_sftp_server_is_asked_at_most_once_a_minute(engine, ssh_server, tmp_path):
    settings = Settings(
        home=tmp_path / "var",
        print_vendors=[
            PrintVendor(name="sftp", sftp_url=f"sftp://print@127.0.0.1:{ssh_server.port}/in")
        ],
    )
    client = TestClient(create_app(settings, engine))

    statuses = [client.get("/health").json()["print_drop"][0]["status"] for _ in range(3)]

    assert statuses == ["ok", "ok", "ok"]
    assert ssh_server.connections == 1
