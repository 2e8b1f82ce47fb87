"""The reference in child processes: each operator in its own, started, used, stopped, and
never left behind, not even when its parent is killed."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.world import EXEMPELKOMMUN, SYD, fresh_personnummer, mtls_client, reference_settings
from utskick.mm.soap import SOAP_HEADERS, SoapFault, parse_deliver_secure_response
from utskick.reference.context import build_context
from utskick.reference.mailbox.accounts import MailboxAccounts
from utskick.reference.runner import ReferenceInfrastructure

from .mailbox.wire import Letters

GONE_WITHIN_SECONDS = 15


def running(pid):
    """Whether the process runs (a zombie waiting for its parent counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def children_of(parent_pid):
    """The pids of running reference children started by this parent (from their command)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"utskick.reference.child" in command
            and f"{parent_pid}".encode() in command
            and running(int(entry.name))
        ):
            found.append(int(entry.name))
    return found


def wait_until_gone(pids, seconds=GONE_WITHIN_SECONDS):
    deadline = time.monotonic() + seconds
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if running(pid)]


class FarByRegistry:
    def __init__(self, registry):
        self.registry = registry

    def register(self, recipient_id, _user_identity):
        self.registry.register(SYD, recipient_id)

    def deregister(self, recipient_id, _user_identity):
        self.registry.deregister(SYD, recipient_id)


@pytest.fixture(scope="module")
def in_processes(tmp_path_factory):
    """The whole reference in child processes over a home of its own."""
    context = build_context(reference_settings(tmp_path_factory.mktemp("processes-home")))
    infrastructure = ReferenceInfrastructure(context)
    infrastructure.start_in_processes()
    yield context, infrastructure
    infrastructure.stop()


class TestRunning:
    def test_each_operator_runs_in_a_process_of_its_own_beside_far(self, in_processes):
        _context, infrastructure = in_processes
        pids = infrastructure.process_ids()
        assert set(pids) == {"far", "syd", "nord"}
        assert len(set(pids.values())) == 3
        assert os.getpid() not in pids.values()
        assert all(running(pid) for pid in pids.values())
        assert sorted(children_of(os.getpid())) == sorted(pids.values())

    def test_every_server_answers(self, in_processes):
        context, _ = in_processes
        with mtls_client(context) as http:
            answer = http.get(context.endpoints.population_url + "v1/records/191212121212")
            assert answer.json()["name"] == "Tolvan Tolvansson"
            for operator in context.endpoints.operators.values():
                assert http.get(operator.service_url + "?wsdl").status_code == 200
                assert http.get(operator.ui_url, follow_redirects=True).status_code == 200
            for page in (context.endpoints.sink_page_url, context.endpoints.diarium_page_url):
                assert http.get(page).status_code == 200

    def test_a_delivery_to_syd_is_verified_and_stored_by_the_syd_process(
        self, in_processes, tmp_path_factory
    ):
        context, _ = in_processes
        letters = Letters(context, tmp_path_factory)
        with mtls_client(context) as http:
            answer = http.post(
                context.endpoints.operators["syd"].service_url,
                content=letters.request(letters.letter("191212121212")),
                headers=SOAP_HEADERS,
            )
        assert parse_deliver_secure_response(answer.content).statuses[0].delivered

    def test_a_mailbox_closed_here_is_refused_at_once_by_the_operator_process(
        self, in_processes, tmp_path_factory
    ):
        context, _ = in_processes
        letters = Letters(context, tmp_path_factory)
        accounts = MailboxAccounts(context.sessions, SYD)
        person = fresh_personnummer()
        accounts.open_mailbox(person, "Test Testsson", FarByRegistry(context.registry))
        url = context.endpoints.operators["syd"].service_url
        with mtls_client(context, EXEMPELKOMMUN) as http:

            def send():
                request = letters.request(letters.letter(person))
                return http.post(url, content=request, headers=SOAP_HEADERS).content

            assert parse_deliver_secure_response(send()).statuses[0].delivered
            assert parse_deliver_secure_response(send()).statuses[0].delivered  # now kept
            accounts.deactivate(person, person, FarByRegistry(context.registry))
            with pytest.raises(SoapFault) as caught:
                parse_deliver_secure_response(send())
        assert caught.value.error_code == 5003


def test_stopping_ends_and_reaps_every_child(tmp_path):
    context = build_context(reference_settings(tmp_path))
    others = set(children_of(os.getpid()))  # another test's, if any
    infrastructure = ReferenceInfrastructure(context)
    infrastructure.start_in_processes()
    pids = list(infrastructure.process_ids().values())
    infrastructure.stop()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reaped already: no zombie left
        assert not running(pid)
    assert infrastructure.process_ids() == {}
    assert set(children_of(os.getpid())) == others


def test_a_child_that_cannot_listen_is_reported_in_swedish_and_none_is_left(tmp_path):
    context = build_context(reference_settings(tmp_path))
    others = set(children_of(os.getpid()))  # another test's, if any
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind((context.settings.host, context.settings.syd_service_port))
    taken.listen()
    try:
        infrastructure = ReferenceInfrastructure(context)
        with pytest.raises(RuntimeError) as caught:
            infrastructure.start_in_processes()
    finally:
        taken.close()
    message = str(caught.value)
    assert "brevlådeoperatören syd" in message
    assert str(context.settings.syd_service_port) in message
    assert "avslutades medan den startade" in message
    assert infrastructure.process_ids() == {}
    assert set(children_of(os.getpid())) == others


PARENT = """
import json, sys, time
from utskick.reference.context import open_context
from utskick.reference.runner import ReferenceInfrastructure
from utskick.reference.settings import ReferenceSettings

infrastructure = ReferenceInfrastructure(open_context(ReferenceSettings(**json.loads(sys.argv[1]))))
infrastructure.start_in_processes()
print(json.dumps(infrastructure.process_ids()), flush=True)
time.sleep(600)
"""


def test_the_children_end_when_their_parent_is_killed(tmp_path):
    context = build_context(reference_settings(tmp_path))
    settings = context.settings.model_dump(mode="json")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, json.dumps(settings)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pids = json.loads(parent.stdout.readline())
        assert set(pids) == {"far", "syd", "nord"}
        assert all(running(pid) for pid in pids.values())
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert wait_until_gone(list(pids.values())) == []
        assert children_of(parent.pid) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
