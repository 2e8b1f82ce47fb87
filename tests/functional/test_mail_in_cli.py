"""`utskick mail-in` and `utskick users email` as an operator runs them.

`mail-in` is run through its own Typer app (`utskick.entrypoints.cli.mail_in`), as the root
command will run it once registered: a process that listens until SIGTERM.
"""

import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli.users import users_app
from utskick.mm.devca import DevCertificateAuthority, write_certificate, write_pem_bundle
from utskick.reference.runner import free_loopback_ports
from utskick.web.users import WebUser

RUN_MAIL_IN = "from utskick.entrypoints.cli.mail_in import mail_in_commands; mail_in_commands()"


def run_mail_in(home, env_extra, *args):
    env = {key: value for key, value in os.environ.items() if not key.startswith("UTSKICK_")} | {
        "UTSKICK_HOME": str(home),
        "UTSKICK_EMBEDDED_REFERENCE": "false",
        **env_extra,
    }
    return subprocess.Popen(
        [sys.executable, "-c", RUN_MAIL_IN, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_mail_in_listens_with_starttls_until_sigterm(tmp_path):
    authority = DevCertificateAuthority.create()
    write_pem_bundle(tmp_path / "mail.pem", authority.issue_tls_server(["localhost"]))
    write_certificate(tmp_path / "ca.pem", authority.certificate)
    [port] = free_loopback_ports(1)
    process = run_mail_in(
        tmp_path,
        {
            "UTSKICK_MAIL_IN_TLS_CERT_FILE": str(tmp_path / "mail.pem"),
            "UTSKICK_MAIL_IN_TLS_KEY_FILE": str(tmp_path / "mail.pem"),
        },
        "--port",
        str(port),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = smtplib.SMTP("localhost", port, timeout=10)
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "utskick mail-in did not listen"
                time.sleep(0.2)
        client.starttls(context=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")))
        client.ehlo()
        assert client.has_extn("auth")
        assert "PLAIN" in client.esmtp_features["auth"]
        client.quit()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"E-post in lyssnar på smtp://127.0.0.1:{port}" in " ".join(stderr.split())
    assert "UTSKICK_MAIL_OUT_URL är inte satt" in " ".join(stderr.split())  # told, not silent


def test_mail_in_without_a_port_says_how_to_give_one(tmp_path):
    process = run_mail_in(tmp_path, {})
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "UTSKICK_MAIL_IN_PORT" in stderr


def test_users_get_an_email_address_on_add_and_later(tmp_path):
    runner = CliRunner()
    home = ["--home", str(tmp_path)]
    added = runner.invoke(
        users_app,
        ["add", "hans", "--role", "admin", "--email", "Hans@Exempelkommun.SE",
         "--password-stdin", *home],
        input="ett-långt-lösenord\n",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "e-post hans@exempelkommun.se" in added.output
    taken = runner.invoke(
        users_app,
        ["add", "greta", "--role", "admin", "--email", "hans@exempelkommun.se",
         "--password-stdin", *home],
        input="ett-långt-lösenord\n",
    )  # fmt: skip
    assert taken.exit_code == 2
    assert "används redan" in taken.output
    bad = runner.invoke(users_app, ["email", "hans", "inte en adress", *home])
    assert bad.exit_code == 2
    assert "namn@kommun.se" in bad.output
    changed = runner.invoke(users_app, ["email", "hans", "hans.h@exempelkommun.se", *home])
    assert changed.exit_code == 0, changed.output
    assert email_of(tmp_path, "hans") == "hans.h@exempelkommun.se"
    listed = runner.invoke(users_app, ["list", *home])
    assert "hans.h@exempelkommun.se" in listed.output
    removed = runner.invoke(users_app, ["email", "hans", "--ta-bort", *home])
    assert removed.exit_code == 0, removed.output
    assert email_of(tmp_path, "hans") is None
    neither = runner.invoke(users_app, ["email", "hans", *home])
    assert neither.exit_code == 2


def email_of(home: Path, username):
    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    try:
        with Session(engine) as session:
            return session.scalar(select(WebUser.email).where(WebUser.username == username))
    finally:
        engine.dispose()


@pytest.fixture(autouse=True)
def _no_utskick_environment(monkeypatch):
    for key in list(os.environ):
        if key.startswith("UTSKICK_"):
            monkeypatch.delenv(key)
