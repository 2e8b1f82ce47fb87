"""`utskick senders key` as an administrator runs it on a renewed PKCS#12: checked (passphrase,
organisation, validity, chain to the CA), copied into the home's key folder with mode 0600,
the sender pointed at it, and told in Swedish that no restart is needed."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import utskick.entrypoints.cli.senders_key  # noqa: F401 (registers `senders key`)
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli import app
from utskick.mm.devca import DevCertificateAuthority, write_pem_bundle, write_pkcs12
from utskick.mm.keys import load_signing_identity
from utskick.senders.repository import SenderRepository

SERVICE_PASSPHRASE_ENV = "UTSKICK_TEST_SERVICE_KEY_PASSPHRASE"
NEW_PASSPHRASE_ENV = "UTSKICK_TEST_NEW_KEY_PASSPHRASE"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A home whose demo CA (`pki/`) is the trusted CA, with Exempelkommun as a sender."""
    home = tmp_path / "var"
    monkeypatch.setenv("UTSKICK_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("UTSKICK_DATABASE_URL", raising=False)
    monkeypatch.delenv("UTSKICK_TLS_CA_FILE", raising=False)
    authority = DevCertificateAuthority.load_or_create(home / "pki")
    first = tmp_path / "first.pem"
    write_pem_bundle(first, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
    added = cli("senders", "add", EXEMPELKOMMUN, "--name", "Exempelkommun", "--key", str(first))
    assert added.exit_code == 0, added.output
    return home, authority


def cli(*args):
    return CliRunner().invoke(app, list(args))


def sender_row(home: Path):
    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    try:
        with Session(engine) as session:
            sender = SenderRepository(session).get(EXEMPELKOMMUN)
            return sender.key_path, sender.passphrase_env
    finally:
        engine.dispose()


def renewed_p12(authority, tmp_path, passphrase=b"nytt-losen", **issue):
    issued = authority.issue_organisation(
        issue.pop("number", EXEMPELKOMMUN), issue.pop("name", "Exempelkommun"), **issue
    )
    path = tmp_path / "nytt.p12"
    write_pkcs12(path, issued, passphrase, "Exempelkommun")
    return path, issued


def one_line(output):
    return " ".join(output.split())


def test_a_renewed_key_is_checked_copied_and_takes_effect_without_a_restart(
    home, tmp_path, monkeypatch
):
    home, authority = home
    new_key, issued = renewed_p12(authority, tmp_path)
    monkeypatch.setenv(NEW_PASSPHRASE_ENV, "nytt-losen")

    done = cli("senders", "key", EXEMPELKOMMUN, "--key", str(new_key),
               "--passphrase-env", NEW_PASSPHRASE_ENV)  # fmt: skip

    assert done.exit_code == 0, done.output
    output = one_line(done.output)
    assert "Den nya nyckeln för Exempelkommun (202100-4748) är installerad" in output
    # A variable the sender had not: the service may not have it in its environment.
    assert f"lösenfrasen i {NEW_PASSPHRASE_ENV}" in output
    assert "har de inte redan variabeln satt, starta om dem med den" in output
    key_path, passphrase_env = sender_row(home)
    stored = Path(key_path)
    assert stored.parent == home / "keys"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert passphrase_env == NEW_PASSPHRASE_ENV
    assert load_signing_identity(stored, b"nytt-losen").certificate == issued.certificate


def test_the_copy_is_protected_with_the_passphrase_the_service_already_has(
    home, tmp_path, monkeypatch
):
    home, authority = home
    monkeypatch.setenv(SERVICE_PASSPHRASE_ENV, "tjanstens-losen")
    _set_passphrase_env(home, SERVICE_PASSPHRASE_ENV)
    new_key, issued = renewed_p12(authority, tmp_path)
    monkeypatch.setenv(NEW_PASSPHRASE_ENV, "nytt-losen")

    done = cli("senders", "key", EXEMPELKOMMUN, "--key", str(new_key),
               "--passphrase-env", NEW_PASSPHRASE_ENV, "--json")  # fmt: skip

    assert done.exit_code == 0, done.output
    installed = json.loads(done.output)
    assert installed["restart_needed"] is False
    assert installed["passphrase_env"] == SERVICE_PASSPHRASE_ENV
    assert installed["organisation_number"] == EXEMPELKOMMUN
    assert dt.datetime.fromisoformat(installed["not_after"]) == (
        issued.certificate.not_valid_after_utc
    )
    stored = Path(installed["key_path"])
    assert sender_row(home) == (str(stored), SERVICE_PASSPHRASE_ENV)
    assert load_signing_identity(stored, b"tjanstens-losen").certificate == issued.certificate


def test_the_same_passphrase_variable_says_no_restart_is_needed(home, tmp_path, monkeypatch):
    home, authority = home
    monkeypatch.setenv(SERVICE_PASSPHRASE_ENV, "nytt-losen")
    _set_passphrase_env(home, SERVICE_PASSPHRASE_ENV)
    new_key, _ = renewed_p12(authority, tmp_path)

    done = cli("senders", "key", EXEMPELKOMMUN, "--key", str(new_key))

    assert done.exit_code == 0, done.output
    assert "läser in den nya nyckeln vid nästa brev; ingen omstart behövs" in one_line(done.output)


def _set_passphrase_env(home, variable):
    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    with Session(engine) as session:
        SenderRepository(session).get(EXEMPELKOMMUN).passphrase_env = variable
        session.commit()
    engine.dispose()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("another organisation", "certifikatet i"),
        ("expired", "gick ut"),
        ("another CA", "är inte utfärdat av någon CA i"),
        ("wrong passphrase", "gick inte att öppna som PKCS#12: fel lösenfras"),
    ],
)
def test_a_key_that_cannot_be_used_is_refused_and_the_sender_kept(
    home, tmp_path, monkeypatch, case, message
):
    home, authority = home
    monkeypatch.setenv(NEW_PASSPHRASE_ENV, "nytt-losen")
    issue: dict[str, object] = {}
    if case == "another organisation":
        issue = {"number": GRANNKOMMUN, "name": "Grannkommun"}
    elif case == "expired":
        issue = {"days": 10, "valid_from": dt.datetime.now(dt.UTC) - dt.timedelta(days=20)}
    elif case == "another CA":
        authority = DevCertificateAuthority.create("En annan CA")
    new_key, _ = renewed_p12(
        authority, tmp_path, b"annat" if case == "wrong passphrase" else b"nytt-losen", **issue
    )
    before = sender_row(home)

    done = cli("senders", "key", EXEMPELKOMMUN, "--key", str(new_key),
               "--passphrase-env", NEW_PASSPHRASE_ENV)  # fmt: skip

    assert done.exit_code == 2
    assert message in one_line(done.output)
    assert sender_row(home) == before


def test_an_organisation_that_is_not_a_sender_is_told_how_to_add_it(home, tmp_path):
    home, authority = home
    new_key, _ = renewed_p12(authority, tmp_path, number=GRANNKOMMUN, name="Grannkommun")

    done = cli("senders", "key", GRANNKOMMUN, "--key", str(new_key))

    assert done.exit_code == 2
    assert "202100-9903 finns inte som avsändare; lägg till den med utskick senders add" in (
        one_line(done.output)
    )
