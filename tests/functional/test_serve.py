"""`utskick serve` as a user starts it: every service up, every URL printed, /health 200."""

import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from functional.browser.embedded_server import start_embedded_server, stop_embedded_server
from support.world import REFERENCE_PORT_SETTINGS
from utskick.reference.runner import free_loopback_ports as _free_ports

UTSKICK = str(Path(sys.executable).with_name("utskick"))
# The reference's port settings as `UTSKICK_REFERENCE_<NAME>` names them.
REFERENCE_PORTS = tuple(name.upper() for name in REFERENCE_PORT_SETTINGS)
_CHILDREN = re.compile(r"Referensen körs i egna processer \(([^)]*)\)")


def reference_children(output):
    """The reference's child processes `utskick serve` printed, by name ("far", "syd", …)."""
    found = _CHILDREN.search(" ".join("".join(output).split()))
    if found is None:
        return {}
    return {name: int(pid) for name, pid in (part.split() for part in found[1].split(", "))}


def parent_of(pid):
    """The parent process id of a running process; None when it has ended (or is a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return None if fields[0] == "Z" else int(fields[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    process, server = start_embedded_server(tmp_path_factory.mktemp("serve-home"))
    ports = {name.upper(): port for name, port in server.ports.items()}
    yield server.base_url, server.home, ports, server.output
    stop_embedded_server(process)


def test_health_is_200_once_everything_listens_and_the_database_is_migrated(served):
    base, home, *_ = served
    assert httpx2.get(base + "/health").json()["status"] == "ok"
    assert (home / "utskick.db").exists()
    assert (home / "reference.db").exists()


def test_prints_every_url_with_what_it_is(served):
    base, _, ports, lines = served
    output = "".join(lines)
    assert base + "/" in output
    for name in REFERENCE_PORTS:
        if name != "SMTP_PORT":
            assert f":{ports[name]}" in output, f"{name} missing from:\n{output}"
    for what in ("FaR", "Brevlåda Syd AB", "Brevlåda Nord AB", "brevlådan", "Avisering"):
        assert what in output


def test_runs_each_mailbox_operator_in_a_process_of_its_own(served):
    _, home, _, lines = served
    children = reference_children(lines)
    assert set(children) == {"far", "syd", "nord"}
    assert len(set(children.values())) == 3
    [parent] = {parent_of(pid) for pid in children.values()}  # all running, one parent
    command = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    assert b"serve" in command
    assert str(home).encode() in command


def test_writes_the_demo_pki_for_curl(served):
    _, home, ports, _ = served
    pki = home / "pki"
    for name in ("ca.pem", "server.pem", "2021004748.pem", "2021004748.p12", "2021009903.pem"):
        assert (pki / name).exists(), name
    assert oct((pki / "2021004748.pem").stat().st_mode & 0o777) == "0o600"
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    context.load_cert_chain(str(pki / "2021004748.pem"))
    answer = httpx2.get(
        f"https://127.0.0.1:{ports['POPULATION_PORT']}/v1/records/191212121212", verify=context
    )
    assert answer.json()["name"] == "Tolvan Tolvansson"


def test_seeds_a_demo_api_key_and_its_workers_deliver_a_letter_sent_through_the_api(served):
    base, home, _, lines = served
    key_file = home / "demo-api-key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert "demo-api-key" in "".join(lines)
    assert base + "/docs" in "".join(lines)
    key = key_file.read_text().strip()
    assert httpx2.get(base + "/api/v1/letters").status_code == 401
    letter = _send_to_tolvan_and_wait(base, key)
    assert letter["state"] == "delivered", letter
    assert letter["reason"] == "reachable"


@pytest.fixture(scope="module")
def served_with_settings_it_cannot_honour(tmp_path_factory):
    """`utskick serve` under umask 000, given settings the embedded default overrides."""
    home = tmp_path_factory.mktemp("serve-warnings") / "var"
    connector_port, *ports = _free_ports(1 + len(REFERENCE_PORTS))
    env = dict(os.environ, COLUMNS="200")
    env.update(
        {
            f"UTSKICK_REFERENCE_{name}": str(port)
            for name, port in zip(REFERENCE_PORTS, ports, strict=True)
        }
    )
    env.update(
        {
            "UTSKICK_FAR_URL": "https://far.kommun.example/far",
            "UTSKICK_TLS_CA_FILE": "/etc/utskick/ca.pem",
            "UTSKICK_REFERENCE_HOME": str(home.parent / "annan-mapp"),
            # This run keeps the reference in the serve process (the other runs split it).
            "UTSKICK_REFERENCE_SEPARATE_PROCESSES": "false",
        }
    )
    process = subprocess.Popen(
        [
            *("/bin/sh", "-c", 'umask 000; exec "$@"', "sh"),
            *(UTSKICK, "serve", "--home", str(home), "--port", str(connector_port)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stdout: list[str] = []
    stderr: list[str] = []
    readers = [
        threading.Thread(target=lambda: stdout.extend(process.stdout), daemon=True),
        threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True),
    ]
    for reader in readers:
        reader.start()
    base = f"http://127.0.0.1:{connector_port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx2.TransportError:
            pass
        if process.poll() is not None:
            pytest.fail(f"utskick serve stopped: {''.join(stdout)}{''.join(stderr)}")
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("utskick serve did not answer /health with 200 within 60 s")
    yield base, home, ports[0], stdout, stderr
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_serve_warns_on_stderr_for_each_setting_it_cannot_honour(
    served_with_settings_it_cannot_honour,
):
    _, home, far_port, stdout, stderr = served_with_settings_it_cannot_honour
    warnings = " ".join("".join(stderr).split())  # rich may wrap long lines
    assert (
        "UTSKICK_FAR_URL=https://far.kommun.example/far används inte: utskick serve kör den "
        "inbyggda referensinfrastrukturen och använder referensens FaR "
        f"(https://127.0.0.1:{far_port}/far); sätt UTSKICK_EMBEDDED_REFERENCE=false" in warnings
    )
    assert "UTSKICK_TLS_CA_FILE=/etc/utskick/ca.pem används inte" in warnings
    assert f"demo-CA:n i {home}/pki/ca.pem" in warnings
    assert "UTSKICK_REFERENCE_HOME=" in warnings
    assert "UTSKICK_POPULATION_URL" not in warnings  # not given: nothing to say
    assert "används inte" not in "".join(stdout)


def test_serve_can_keep_the_reference_in_its_own_process(served_with_settings_it_cannot_honour):
    _, _, far_port, stdout, _ = served_with_settings_it_cannot_honour
    assert reference_children(stdout) == {}
    assert "Referensen körs i egna processer" not in "".join(stdout)
    assert f":{far_port}/far" in "".join(stdout)


def test_serve_uses_the_reference_far_instead_and_health_says_far_is_ok(
    served_with_settings_it_cannot_honour,
):
    base, home, *_ = served_with_settings_it_cannot_honour
    key = (home / "demo-api-key").read_text().strip()
    letter = _send_to_tolvan_and_wait(base, key)
    assert letter["state"] == "delivered", letter
    health = httpx2.get(base + "/health").json()
    assert (health["status"], health["far"]["status"]) == ("ok", "ok")


def test_serve_under_umask_000_writes_nothing_others_can_read(
    served_with_settings_it_cannot_honour,
):
    _, home, *_ = served_with_settings_it_cannot_honour
    written = [home, *home.rglob("*")]
    assert {"utskick.db", "reference.db", "demo-api-key", "ca-key.pem"} <= {
        path.name for path in written
    }
    loose = [
        f"{path} {path.stat().st_mode & 0o777:03o}"
        for path in written
        if path.stat().st_mode & 0o777 != (0o700 if path.is_dir() else 0o600)
    ]
    assert loose == []


def _send_to_tolvan_and_wait(base, key):
    """Send a kallelse to Tolvan through the API; the letter once delivered, or after 30 s."""
    answer = httpx2.post(
        base + "/api/v1/letters",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "sender": "202100-4748",
            "recipient": "19121212-1212",
            "subject": "Kallelse till möte",
            "body": "Välkommen.",
            "message_type": "kallelse",
        },
    )
    assert answer.status_code in (200, 201, 202), answer.text
    letter_url = f"{base}/api/v1/letters/{answer.json()['id']}"
    deadline = time.monotonic() + 30
    while True:
        letter = httpx2.get(letter_url, headers={"Authorization": f"Bearer {key}"}).json()
        if letter["state"] == "delivered" or time.monotonic() > deadline:
            return letter
        time.sleep(0.2)


def test_stops_at_once_on_ctrl_c_after_the_connector_has_asked_far(tmp_path):
    """An idle keep-alive TLS connection to FaR used to hold the reference's FaR for 30 s.

    Stopping also stops the reference's child processes: none outlives `utskick serve`.
    """
    process, server = start_embedded_server(tmp_path / "var")
    try:
        key = (server.home / "demo-api-key").read_text().strip()
        answer = httpx2.post(
            server.base_url + "/api/v1/precheck",
            json={"sender": "202100-4748", "recipients": ["19121212-1212"]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert answer.json()["decisions"][0]["channel"] == "digital"
        children = reference_children(server.output)
        assert set(children) == {"far", "syd", "nord"}
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        process.wait(timeout=25)
        assert time.monotonic() - started < 10
        # The children are stopped and reaped by serve before it ends: none is left.
        assert [pid for pid in children.values() if parent_of(pid) is not None] == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_the_reference_ends_when_serve_is_killed(tmp_path):
    """A SIGKILL leaves serve no time to stop its children: they notice and end by themselves."""
    process, server = start_embedded_server(tmp_path / "var")
    try:
        children = reference_children(server.output)
        assert set(children) == {"far", "syd", "nord"}
        process.kill()
        process.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            left = [pid for pid in children.values() if parent_of(pid) is not None]
            if not left:
                break
            time.sleep(0.1)
        assert left == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
