"""Probes of the admin commands as a careless operator (or a script gone wrong) runs them.

Every refusal must say in Swedish what is wrong, on standard error, end with a non-zero exit
code and leave the database as it was: no traceback, no half-made system, no changed secret.
Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import utskick.entrypoints.cli.senders_key  # noqa: F401 (registers `senders key`)
from functional.admin_cli import SYSTEM, WEBHOOK, installation_of
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli import app
from utskick.mm.devca import DevCertificateAuthority, write_pem_bundle
from utskick.senders.models import ApiKey, SendingSystem
from utskick.senders.repository import SenderRepository

pytestmark = pytest.mark.storage

# The column's length (sending_system.webhook_url) and a little more.
TOO_LONG_WEBHOOK = "https://arende.kommun.test/" + "h" * 1100


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(request, tmp_path_factory):
    with installation_of(request.param, tmp_path_factory.mktemp("cli-probes")) as installation:
        yield installation


def systems_named(installation, name):
    with installation.session() as session:
        return session.query(SendingSystem).filter_by(name=name).count()


def secrets_of(installation, name):
    with installation.session() as session:
        system = session.query(SendingSystem).filter_by(name=name).one()
        return (
            system.webhook_secret,
            system.webhook_secret_previous,
            system.webhook_secret_previous_until,
        )


# --- systems add --webhook keeps the rule systems webhook keeps -----------------------------


@pytest.mark.parametrize(
    "webhook", ["http://10.0.0.5/utskick", "http://arende.kommun.test/utskick"]
)
def test_systems_add_refuses_plain_http_to_another_machine_and_adds_nothing(installation, webhook):
    name = f"System {uuid.uuid4().hex[:8]}"

    installation.refused(
        "systems", "add", name, "--sender", EXEMPELKOMMUN, "--webhook", webhook, says="https://"
    )

    assert systems_named(installation, name) == 0


def test_systems_add_refuses_a_webhook_address_too_long_to_store_and_adds_nothing(installation):
    name = f"System {uuid.uuid4().hex[:8]}"

    installation.refused(
        "systems", "add", name, "--sender", EXEMPELKOMMUN, "--webhook", TOO_LONG_WEBHOOK,
        says="1024",
    )  # fmt: skip

    assert systems_named(installation, name) == 0


# --- systems webhook-secret with an overlap that is no number of hours ----------------------


@pytest.mark.parametrize("overlap", ["nan", "inf", "1e300"])
def test_an_overlap_that_is_no_number_of_hours_is_refused_and_the_secret_kept(
    installation, overlap
):
    before = secrets_of(installation, SYSTEM)

    installation.refused(
        "systems", "webhook-secret", SYSTEM, "--overlap-hours", overlap, says="överlappet"
    )

    assert secrets_of(installation, SYSTEM) == before


# --- jobs retry / cancel with an id no job can have ------------------------------------------


@pytest.mark.parametrize("command", ["retry", "cancel"])
@pytest.mark.parametrize("job_id", ["2147483648", "9223372036854775808", "99999999999999999999999"])
def test_a_job_id_no_job_can_have_is_refused_in_swedish(installation, command, job_id):
    installation.refused("jobs", command, job_id, "--json", says=f"det finns inget jobb {job_id}")


# --- systems revoke with a prefix that fits two keys (held) ---------------------------------


def test_a_prefix_that_fits_two_keys_revokes_neither(installation):
    prefix = "uk_" + uuid.uuid4().hex[:8]
    with installation.session() as session, session.begin():
        for _ in range(2):
            session.add(
                ApiKey(
                    id=str(uuid.uuid4()),
                    sending_system_id=installation.system_id,
                    prefix=prefix,
                    key_hash=uuid.uuid4().hex,
                    created_at=dt.datetime.now(dt.UTC),
                    revoked_at=None,
                )
            )

    installation.refused("systems", "revoke", prefix, says="passar flera nycklar")

    with installation.session() as session:
        keys = session.query(ApiKey).filter_by(prefix=prefix).all()
        assert [key.revoked_at for key in keys] == [None, None]


def test_the_webhook_of_the_installation_is_untouched_by_the_refusals(installation):
    # Runs after the refusals above (module order): the shared system is as it was made.
    with installation.session() as session:
        system = session.query(SendingSystem).filter_by(name=SYSTEM).one()
        assert (system.webhook_url, system.webhook_secret) == (
            WEBHOOK,
            installation.webhook_secret,
        )


# --- senders support with control characters inside the web address ------------------------


def support_url(installation):
    with installation.session() as session:
        return SenderRepository(session).get(GRANNKOMMUN).support_url


@pytest.mark.parametrize(
    "url",
    ["https://grannkommun.test/kontakt\nringoss", "https://grannkommun.test/\tkontakt",
     "https://grannkommun.test/\x1b[2Jkontakt"],
    ids=["newline", "tab", "terminal-escape"],
)  # fmt: skip
def test_a_support_address_with_control_characters_is_refused_and_nothing_changes(
    installation, url
):
    # Every letter carries the address (Supportinfo/URL, printed on paper letters too): a
    # pasted address with a line break inside is no address a recipient can use.
    before = support_url(installation)

    installation.refused("senders", "support", GRANNKOMMUN, "--url", url, says="webbadressen")

    assert support_url(installation) == before


# --- senders key with a damaged PEM file ------------------------------------------------------

DAMAGED_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


def test_senders_key_with_a_damaged_pem_file_is_refused_in_swedish_and_nothing_changes(
    tmp_path, monkeypatch
):
    home = tmp_path / "var"
    monkeypatch.setenv("UTSKICK_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "300")
    monkeypatch.delenv("UTSKICK_DATABASE_URL", raising=False)
    monkeypatch.delenv("UTSKICK_TLS_CA_FILE", raising=False)
    authority = DevCertificateAuthority.load_or_create(home / "pki")
    first = tmp_path / "first.pem"
    write_pem_bundle(first, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
    runner = CliRunner()
    added = runner.invoke(
        app, ["senders", "add", EXEMPELKOMMUN, "--name", "Exempelkommun", "--key", str(first)]
    )
    assert added.exit_code == 0, added.output
    damaged = tmp_path / "renewed.pem"
    damaged.write_text(DAMAGED_PEM)

    done = runner.invoke(app, ["senders", "key", EXEMPELKOMMUN, "--key", str(damaged)])

    assert done.exit_code == 2, (done.exit_code, repr(done.exception))
    assert "Fel:" in done.output
    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    try:
        with Session(engine) as session:
            assert SenderRepository(session).get(EXEMPELKOMMUN).key_path == str(first.resolve())
    finally:
        engine.dispose()
    assert not (home / "keys").exists() or not list((home / "keys").iterdir())
