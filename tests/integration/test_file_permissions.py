"""Every file Utskick writes is its owner's alone (0600, folders 0700), whatever the umask.

Each test runs a real component (the database after a write in WAL mode, the embedded demo
setup, a hand-over to a folder drop, `utskick dev-ca`, an export) under umask 000 and 022 and
then looks at every file it left with os.stat. Loose files from an older version are
tightened at start, and the log names them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from support.print_drop import VENDOR, connector_database, seed_closed_batch
from utskick.db.engine import create_database_engine, session_factory
from utskick.db.home import prepare_home
from utskick.entrypoints.cli import app
from utskick.entrypoints.embedded import prepare_embedded_run, write_secret
from utskick.migrations import migrate
from utskick.mm.devca import write_pem_bundle
from utskick.mm.private_files import write_private_file
from utskick.printing.drops import MANIFEST_JSON, WORK_FOLDER
from utskick.printing.handover import LOCK_FOLDER, handover_batch
from utskick.reference.store import create_reference_engine, create_schema
from utskick.senders.repository import SenderRepository
from utskick.settings import PrintVendor, Settings

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(params=[0o000, 0o022], ids=["umask000", "umask022"])
def umask(request):
    """The process umask for the test (000: nothing taken away), restored afterwards."""
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def loose_entries(root: Path) -> list[str]:
    """Every file not 0600 and folder not 0700 under `root` (and `root` itself)."""
    wrong = []
    for path in [root, *root.rglob("*")]:
        expected = 0o700 if path.is_dir() else 0o600
        if not path.is_symlink() and mode(path) != expected:
            wrong.append(f"{path.relative_to(root.parent)} {mode(path):03o}")
    return wrong


# --- databases -------------------------------------------------------------------------------


def test_the_sqlite_database_and_its_wal_and_shm_are_the_owners_alone_after_a_write(
    umask, tmp_path
):
    database = tmp_path / "ny" / "utskick.db"
    engine = create_database_engine(f"sqlite:///{database}")
    try:
        migrate.upgrade(engine)
        with Session(engine) as session, session.begin():
            SenderRepository(session).add("202100-4748", "Exempelkommun", key_path="k", now=NOW)
        with engine.connect() as connection:
            # While a connection is open the write-ahead log and shared memory exist.
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            files = {p.name: mode(p) for p in database.parent.iterdir()}
    finally:
        engine.dispose()
    assert files == {"utskick.db": 0o600, "utskick.db-wal": 0o600, "utskick.db-shm": 0o600}
    assert mode(database.parent) == 0o700


def test_the_reference_database_is_its_owners_alone(umask, tmp_path):
    database = tmp_path / "reference.db"
    engine = create_reference_engine(f"sqlite:///{database}")
    try:
        create_schema(engine)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO far_protected_identity VALUES ('191212121212')"))
        with engine.connect():
            files = {p.name: mode(p) for p in tmp_path.iterdir()}
    finally:
        engine.dispose()
    assert files == {"reference.db": 0o600, "reference.db-wal": 0o600, "reference.db-shm": 0o600}


def test_a_database_an_older_version_left_readable_is_tightened_and_the_log_says_so(
    tmp_path, caplog
):
    database = tmp_path / "utskick.db"
    for path in (database, tmp_path / "utskick.db-wal", tmp_path / "utskick.db-shm"):
        path.write_bytes(b"")
        path.chmod(0o644)
    caplog.set_level(logging.WARNING)

    engine = create_database_engine(f"sqlite:///{database}")
    engine.dispose()

    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {
        "utskick.db": 0o600,
        "utskick.db-wal": 0o600,
        "utskick.db-shm": 0o600,
    }
    logged = caplog.text
    assert f"{database} was readable by others (mode 644" in logged
    assert f"{database}-wal was readable by others" in logged


# --- the embedded demo -------------------------------------------------------------------------


def test_the_embedded_demo_setup_leaves_nothing_others_can_read(umask, tmp_path):
    home = tmp_path / "var"
    settings = Settings(home=home, worker_threads=0)
    prepare_home(settings)
    engine = create_database_engine(settings.resolved_database_url())
    try:
        migrate.upgrade(engine)
        run = prepare_embedded_run(settings, engine)
        run.reference.context.engine.dispose()  # type: ignore[union-attr]
    finally:
        engine.dispose()

    written = {path.relative_to(home).as_posix() for path in home.rglob("*")}
    for name in (
        "utskick.db",
        "reference.db",
        "demo-api-key",
        "demo-users.txt",
        "session-secret",
        "pki/ca-key.pem",
        "pki/ca.pem",
        "pki/server.pem",
        "pki/2021004748.pem",
        "pki/2021004748.p12",
        "pki/2021004748.crt",
        "reference-keys/syd.key",
    ):
        assert name in written, f"{name} missing from {sorted(written)}"
    assert loose_entries(home) == []


def test_a_home_an_older_version_left_readable_is_tightened_at_start_and_logged(tmp_path, caplog):
    home = tmp_path / "var"
    (home / "pki").mkdir(parents=True)
    (home / "reference-keys").mkdir()
    loose = {
        home / "demo-api-key": b"utk_gammal\n",
        home / "pki" / "ca-key.pem": b"-----BEGIN PRIVATE KEY-----\n",
        home / "reference-keys" / "syd.key": b"bnljZWw=",
    }
    for path, content in loose.items():
        path.write_bytes(content)
        path.chmod(0o644)
    for folder in (home, home / "pki", home / "reference-keys"):
        folder.chmod(0o755)
    caplog.set_level(logging.WARNING)

    prepare_home(Settings(home=home))

    assert loose_entries(home) == []
    for path in [*loose, home, home / "pki"]:
        assert f"{path} was readable by others" in caplog.text, path
    assert all(path.read_bytes() == content for path, content in loose.items())


def test_a_secret_rewritten_over_a_readable_file_is_never_readable_by_others(tmp_path):
    path = tmp_path / "demo-api-key"
    path.write_text("utk_gammal\n")
    path.chmod(0o644)
    old_inode = path.stat().st_ino

    write_secret(path, "utk_ny")

    # A new file, 0600 from its first byte, renamed over the old one.
    assert path.stat().st_ino != old_inode
    assert (path.read_text(), mode(path)) == ("utk_ny\n", 0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["demo-api-key"]


def test_a_private_file_is_never_written_through_a_planted_symbolic_link(tmp_path):
    victim = tmp_path / "annans-fil"
    victim.write_text("orörd")
    link = tmp_path / "demo-api-key"
    link.symlink_to(victim)

    write_private_file(link, b"hemlig")

    assert victim.read_text() == "orörd"
    assert not link.is_symlink()
    assert (link.read_bytes(), mode(link)) == (b"hemlig", 0o600)


def test_a_strict_umask_does_not_leave_a_private_file_unreadable_to_its_owner(tmp_path):
    previous = os.umask(0o277)
    try:
        write_private_file(tmp_path / "ny" / "nyckel.pem", b"nyckel")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "ny") == 0o700
    assert mode(tmp_path / "ny" / "nyckel.pem") == 0o600


# --- the print drop ----------------------------------------------------------------------------


@pytest.mark.storage
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_hand_over_to_a_folder_drop_leaves_the_letters_readable_by_the_owner_only(
    umask, kind, tmp_path
):
    home = tmp_path / "var"
    with connector_database(kind, home) as (url, engine):
        batch_id = seed_closed_batch(engine, 3, now=NOW)
        settings = Settings(home=home, database_url=url, print_vendors=[PrintVendor(name=VENDOR)])
        outcome = handover_batch(
            batch_id,
            sessions=session_factory(engine),
            settings=settings,
            clock=lambda: NOW,
            actor="test",
        )

    drop = home / "print-drop"
    assert (outcome.folder / MANIFEST_JSON).is_file()
    assert len(list((outcome.folder / "brev").glob("*.pdf"))) == 3
    assert (drop / VENDOR / LOCK_FOLDER).is_dir()
    assert (drop / VENDOR / WORK_FOLDER).is_dir()
    assert loose_entries(drop) == []


def test_a_configured_drop_is_left_as_the_administrator_made_it_and_the_batch_is_private(
    umask, tmp_path
):
    drop = tmp_path / "srv-print"
    drop.mkdir()
    drop.chmod(0o755)  # the administrator's folder, perhaps for a pickup agent
    home = tmp_path / "var"
    with connector_database("sqlite", home) as (url, engine):
        batch_id = seed_closed_batch(engine, 2, now=NOW)
        settings = Settings(
            home=home, database_url=url, print_vendors=[PrintVendor(name=VENDOR, drop=drop)]
        )
        prepare_home(settings)
        outcome = handover_batch(
            batch_id,
            sessions=session_factory(engine),
            settings=settings,
            clock=lambda: NOW,
            actor="test",
        )

    assert mode(drop) == 0o755
    for ours in (outcome.folder, drop / WORK_FOLDER, drop / LOCK_FOLDER):
        assert loose_entries(ours) == []


def test_batches_an_older_version_left_readable_in_a_configured_drop_are_tightened(
    tmp_path, caplog
):
    drop = tmp_path / "srv-print"
    batch = drop / "20261207-0900_tryckeriet_alla_abcdef12"
    (batch / "brev").mkdir(parents=True)
    (batch / MANIFEST_JSON).write_text("{}")
    (batch / "brev" / "00001_x.pdf").write_bytes(b"%PDF-1.4")
    other = drop / "annat"  # not Utskick's: left alone
    other.mkdir()
    for path in (drop, batch, batch / "brev", other):
        path.chmod(0o755)
    for path in (batch / MANIFEST_JSON, batch / "brev" / "00001_x.pdf"):
        path.chmod(0o644)
    caplog.set_level(logging.WARNING)

    prepare_home(
        Settings(home=tmp_path / "var", print_vendors=[PrintVendor(name=VENDOR, drop=drop)])
    )

    assert loose_entries(batch) == []
    assert (mode(drop), mode(other)) == (0o755, 0o755)
    assert f"{batch / 'brev' / '00001_x.pdf'} was readable by others" in caplog.text


# --- dev-ca and exports ------------------------------------------------------------------------


def test_dev_ca_writes_every_key_and_certificate_for_the_owner_only(umask, tmp_path):
    ca_dir = tmp_path / "ca"
    out = tmp_path / "ut"
    issued = [
        [
            *("dev-ca", "issue", "--org", "2021004748", "--name", "Exempelkommun"),
            *("--out", str(out / "org.pem"), "--ca-dir", str(ca_dir)),
            *("--certificate-out", str(out / "org.crt")),
        ],
        [
            *("dev-ca", "issue", "--org", "2021009903", "--name", "Grannkommun"),
            *("--out", str(out / "org.p12"), "--ca-dir", str(ca_dir)),
            *("--passphrase-env", "TEST_PASSPHRASE"),
        ],
        ["dev-ca", "server", "--out", str(out / "server.pem"), "--ca-dir", str(ca_dir)],
    ]
    for arguments in issued:
        result = CliRunner().invoke(app, arguments, env={"TEST_PASSPHRASE": "hemligt"})
        assert result.exit_code == 0, result.output

    assert sorted(p.name for p in ca_dir.iterdir()) == ["ca-key.pem", "ca.pem"]
    assert sorted(p.name for p in (tmp_path / "ut").iterdir()) == [
        "org.crt",
        "org.p12",
        "org.pem",
        "server.pem",
    ]
    assert loose_entries(ca_dir) == []
    assert loose_entries(tmp_path / "ut") == []


def test_an_exported_print_batch_pdf_is_the_owners_alone(umask, tmp_path):
    home = tmp_path / "var"
    with connector_database("sqlite", home) as (_url, engine):
        batch_id = seed_closed_batch(engine, 2, now=NOW)
    out = tmp_path / "export" / "batch.pdf"
    out.parent.mkdir()
    out.write_bytes(b"an older export, readable by others")
    out.chmod(0o644)

    result = CliRunner().invoke(
        app,
        ["print", "download", batch_id, "--out", str(out), "--home", str(home)],
        env={"UTSKICK_EMBEDDED_REFERENCE": "false", "UTSKICK_DATABASE_URL": ""},
    )

    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    assert mode(out) == 0o600
    assert loose_entries(home) == []


def test_a_sealed_request_written_by_mm_seal_is_the_owners_alone(umask, tmp_path, authority):
    key = tmp_path / "sender.pem"
    write_pem_bundle(key, authority.issue_organisation("2021004748", "Exempelkommun"))
    out = tmp_path / "request.xml"

    result = CliRunner().invoke(
        app,
        [
            *("mm", "seal", "--key", str(key), "--sender-org", "202100-4748"),
            *("--sender-name", "Exempelkommun", "--recipient", "19121212-1212"),
            *("--subject", "Beslut om bygglov", "--body", "Beviljat.", "--out", str(out)),
        ],
    )

    assert result.exit_code == 0, result.output
    assert b"191212121212" in out.read_bytes()
    assert (mode(key), mode(out)) == (0o600, 0o600)
