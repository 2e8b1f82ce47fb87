"""The systemd units in deploy/systemd, started and stopped by a real systemd.

PID 1 on the development and CI machines is no systemd, so the test boots one with
systemd-nspawn in a Debian bookworm tree made by debootstrap. Utskick is installed there as on
a server: a venv in /opt/utskick from Debian's Python 3.11 with the hash-locked dependencies
(requirements.lock), the units from deploy/systemd in /etc/systemd/system, an environment file
in /etc/utskick and the user `utskick`. Inside it, `systemctl` starts utskick.service and
utskick-worker.service (utskick-migrate.service runs first), /health answers from outside,
the hardening holds, a restart migrates again, and `systemctl stop` ends both with SIGTERM,
cleanly and well within their TimeoutStopSec.

The tree with the dependencies is kept in /var/tmp/utskick-systemd-test, one per
requirements.lock: the first run makes it (debootstrap and pip, a few minutes, Debian's
mirror and PyPI), later runs only install Utskick itself into it (seconds). Needs root and
the Debian packages debootstrap and systemd-container; without them the test skips and says
so, or fails when UTSKICK_TEST_REQUIRE_SYSTEMD=1 (CI).
"""

import fcntl
import hashlib
import os
import shutil
import signal
import ssl
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from utskick.reference.runner import free_loopback_ports

REPO = Path(__file__).resolve().parents[2]
UNITS = REPO / "deploy" / "systemd"
CACHE = Path("/var/tmp/utskick-systemd-test")
MIRROR = os.environ.get("UTSKICK_TEST_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,ca-certificates,procps"
REQUIRE = os.environ.get("UTSKICK_TEST_REQUIRE_SYSTEMD") == "1"
SERVICES = ("utskick.service", "utskick-worker.service")
BUILD_SECONDS = 1200
STEP_SECONDS = 90


def skip_or_fail(reason):
    if REQUIRE:
        pytest.fail(reason + " (UTSKICK_TEST_REQUIRE_SYSTEMD=1: CI must run it)")
    pytest.skip(reason)


@pytest.fixture
def tree():
    """The Debian tree with Utskick's dependencies (made once), with this checkout in it."""
    if os.geteuid() != 0:
        skip_or_fail("booting systemd with systemd-nspawn needs root")
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "chroot"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is missing: apt-get install debootstrap systemd-container")
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one test at a time per machine uses the tree
        root = prepared_tree()
        install_checkout(root)
        yield root


def prepared_tree():
    """A bookworm tree with systemd, a venv in /opt/utskick and the locked dependencies."""
    lock_file = REPO / "requirements.lock"
    if not lock_file.exists():
        skip_or_fail("requirements.lock is missing: the tree installs the locked dependencies")
    key = hashlib.sha256(lock_file.read_bytes() + PACKAGES.encode()).hexdigest()[:16]
    root = CACHE / key
    if (root / ".complete").exists():
        return root
    for old in CACHE.iterdir():  # trees of older locks: gigabytes nobody will use again
        if old.is_dir():
            shutil.rmtree(old)
    building = CACHE / f"{key}.building"
    run(
        ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", building, MIRROR],
        timeout=BUILD_SECONDS,
    )
    shutil.copy(lock_file, building / "tmp" / "requirements.lock")
    in_tree(building, "python3 -m venv /opt/utskick")
    in_tree(
        building,
        "/opt/utskick/bin/pip install --quiet --no-cache-dir --require-hashes "
        "-r /tmp/requirements.lock",
    )
    in_tree(building, "useradd --system --no-create-home --home-dir /var/lib/utskick utskick")
    building.rename(root)
    (root / ".complete").touch()
    return root


def install_checkout(root):
    """Install this checkout's Utskick into the tree's venv (no dependencies: they are there)."""
    source = root / "tmp" / "utskick-src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    shutil.copytree(REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    in_tree(
        root,
        "/opt/utskick/bin/pip install --quiet --no-cache-dir --no-deps --no-build-isolation "
        "--force-reinstall /tmp/utskick-src",
    )


def in_tree(root, command):
    """Run a shell command in the tree with a clean environment (pip trusts this host's CAs)."""
    bundle = ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt"
    if Path(bundle).is_file():
        shutil.copy(bundle, root / "tmp" / "host-ca.crt")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8"}
    if (root / "tmp" / "host-ca.crt").exists():
        env["PIP_CERT"] = "/tmp/host-ca.crt"
    run(["chroot", str(root), "/bin/sh", "-c", command], env=env, timeout=BUILD_SECONDS)


def run(command, *, env=None, timeout=STEP_SECONDS, check=True):
    completed = subprocess.run(
        [str(part) for part in command],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and completed.returncode != 0:
        pytest.fail(f"{command[0]} failed ({completed.returncode}): {completed.stderr[-3000:]}")
    return completed


def install_units(root, port):
    for unit in UNITS.glob("*.service"):
        shutil.copy(unit, root / "etc" / "systemd" / "system" / unit.name)
    settings = root / "etc" / "utskick"
    settings.mkdir(exist_ok=True)
    # SQLite in the state directory; the connector alone (no FaR is asked without letters).
    (settings / "utskick.env").write_text(f"UTSKICK_HOST=127.0.0.1\nUTSKICK_PORT={port}\n")
    (settings / "utskick.env").chmod(0o640)
    shutil.rmtree(root / "var" / "lib" / "utskick", ignore_errors=True)
    shutil.rmtree(root / "var" / "lib" / "private" / "utskick", ignore_errors=True)


@contextmanager
def booted(root, log_path):
    """systemd as PID 1 of a container on the tree; yields a function running commands in it."""
    machine = f"utskick-test-{os.getpid()}"
    with log_path.open("w") as log:
        nspawn = subprocess.Popen(
            [
                *("systemd-nspawn", "-D", str(root), "--boot", f"--machine={machine}"),
                *("--register=no", "--keep-unit", "--console=pipe"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    leader = None
    try:
        leader = container_leader(nspawn, log_path)

        def inside(*command, check=True):
            return run(["nsenter", "-t", leader, "-a", *command], check=check)

        wait_until_booted(inside, log_path)
        yield inside
    finally:
        shut_down(nspawn, leader)


def shut_down(nspawn, leader):
    """Power the container off (nspawn turns SIGTERM into an orderly shutdown), or kill it."""
    if nspawn.poll() is None:
        nspawn.terminate()
    try:
        nspawn.wait(timeout=STEP_SECONDS)
    except subprocess.TimeoutExpired:
        if leader is not None:
            os.kill(int(leader), signal.SIGKILL)  # ends every process of the container
        nspawn.kill()
        nspawn.wait()


def wait_until_booted(inside, log_path):
    """Wait until the container's systemd has started its units (its bus answers before)."""
    deadline = time.monotonic() + STEP_SECONDS
    while time.monotonic() < deadline:
        state = inside("systemctl", "is-system-running", "--wait", check=False)
        if state.stdout.strip() in ("running", "degraded"):
            return
        time.sleep(0.5)
    pytest.fail(
        f"the container's systemd did not finish booting ({state.stdout}{state.stderr}): "
        + log_path.read_text(errors="replace")[-3000:]
    )


def container_leader(nspawn, log_path):
    """The process id (on this host) of the container's systemd: nspawn's child."""
    deadline = time.monotonic() + STEP_SECONDS
    children = Path(f"/proc/{nspawn.pid}/task/{nspawn.pid}/children")
    while time.monotonic() < deadline:
        assert nspawn.poll() is None, log_path.read_text(errors="replace")[-3000:]
        pids = children.read_text().split() if children.exists() else []
        if pids and Path(f"/proc/{pids[0]}/comm").read_text().strip() == "systemd":
            return pids[0]
        time.sleep(0.2)
    pytest.fail(f"systemd did not start in the container: {log_path.read_text()[-3000:]}")


def property_of(inside, unit, name):
    return inside("systemctl", "show", "--value", f"--property={name}", unit).stdout.strip()


def wait_for_health(url, services_state):
    deadline = time.monotonic() + STEP_SECONDS
    while time.monotonic() < deadline:
        try:
            answer = httpx2.get(url, timeout=2)
            if answer.status_code == 200:
                return answer.json()
        except httpx2.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/health did not answer 200: {services_state()}")


def test_the_units_start_serve_restart_and_stop_cleanly_under_systemd(tree, tmp_path):
    (port,) = free_loopback_ports(1)
    install_units(tree, port)
    with booted(tree, tmp_path / "container.log") as inside:

        def journal():
            return inside("journalctl", "--no-pager", "-n", "60", "-u", "utskick*").stdout

        verified = inside(
            "systemd-analyze",
            "verify",
            *(f"/etc/systemd/system/{unit.name}" for unit in UNITS.glob("*.service")),
            check=False,
        )
        assert (verified.returncode, verified.stdout + verified.stderr) == (0, "")

        inside("systemctl", "start", *SERVICES)
        assert property_of(inside, "utskick-migrate.service", "Result") == "success", journal()
        assert "Databasen är på version" in journal()
        health = wait_for_health(f"http://127.0.0.1:{port}/health", journal)
        assert health["database"]["ok"] is True
        for service in SERVICES:
            assert property_of(inside, service, "ActiveState") == "active", journal()
            assert_hardened(inside, property_of(inside, service, "MainPID"))
        database = inside("stat", "-c", "%a %U", "/var/lib/utskick/utskick.db").stdout.split()
        assert database == ["600", "utskick"]

        migrated = property_of(inside, "utskick-migrate.service", "InvocationID")
        inside("systemctl", "restart", "utskick.service")
        assert property_of(inside, "utskick-migrate.service", "InvocationID") != migrated
        wait_for_health(f"http://127.0.0.1:{port}/health", journal)

        started = time.monotonic()
        inside("systemctl", "stop", *SERVICES)
        stopped_in = time.monotonic() - started
        for service in SERVICES:
            # Result "success" and status 0: ended by its own clean exit on SIGTERM, not killed.
            assert property_of(inside, service, "Result") == "success", journal()
            assert property_of(inside, service, "ExecMainStatus") == "0", journal()
            assert property_of(inside, service, "KillSignal") == "15"
        assert stopped_in < 30, journal()


def assert_hardened(inside, pid):
    """The service runs as `utskick`, without new privileges, on a read-only /usr."""
    status = inside("cat", f"/proc/{pid}/status").stdout
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["CapEff"].strip() == "0000000000000000"
    user = inside("stat", "-c", "%U", f"/proc/{pid}").stdout.strip()
    assert user == "utskick"
    probe = inside("nsenter", "-t", pid, "-m", "touch", "/usr/utskick-probe", check=False)
    assert probe.returncode != 0
    assert "Read-only file system" in probe.stderr
    writable = inside("nsenter", "-t", pid, "-m", "touch", "/var/lib/utskick/.probe", check=False)
    assert writable.returncode == 0, writable.stderr
    inside("rm", "-f", "/var/lib/utskick/.probe")
