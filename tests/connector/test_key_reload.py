"""A renewed PKCS#12 takes effect without a restart.

A worker (with the process's adapters) delivers a letter to the reference operator over
mutual TLS, signed and sealed with Exempelkommun's key A. Then `utskick senders key` installs
key B, a new certificate for the same organisation from the same CA, registered in FaR, and
the operator stops accepting A. The same running worker delivers the next letter: its sealed
XML carries B's certificate in both signatures, and the operator accepted the TLS connection,
which only B can now open.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest
from cryptography import x509
from lxml import etree
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import utskick.entrypoints.cli.senders_key  # noqa: F401 (registers `senders key`)
from support.connector_world import connector_environment, connector_settings, prepare_connector
from support.world import EXEMPELKOMMUN, TOLVAN, start_reference
from utskick.entrypoints import bootstrap
from utskick.entrypoints.bootstrap import Adapters
from utskick.entrypoints.cli import app as cli
from utskick.entrypoints.worker import Worker
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter
from utskick.letters.service import LetterService
from utskick.mm.devca import write_pkcs12
from utskick.mm.keys import load_signing_identity
from utskick.reference.far.registry import fingerprint
from utskick.reference.store import FarCertificate
from utskick.relay.operator import HttpMailboxOperatorClient
from utskick.senders.certificates import certificate_expiries
from utskick.senders.models import SendingSystem
from utskick.switch import precheck

DS = "http://www.w3.org/2000/09/xmldsig#"
PASSPHRASE_ENV = "UTSKICK_TEST_RENEWED_KEY_PASSPHRASE"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(reference context, connector settings, engine, sending system id) of this module only:
    the test changes the intermediary's key, which no other test may see."""
    context, infrastructure = start_reference(
        tmp_path_factory.mktemp("reference"), run_smtp_sink=False, lookup_cache_seconds=0
    )
    settings = connector_settings(
        tmp_path_factory.mktemp("connector"),
        context,
        retry_base_seconds=0.01,
        retry_max_seconds=0.02,
        operator_read_timeout_seconds=10,
        reachability_cache_seconds=0,  # every letter asks FaR, with the key of the moment
    )
    engine, system_id = prepare_connector(settings, context)
    yield context, settings, engine, system_id
    engine.dispose()
    precheck._REGISTERS.clear()  # the process-wide FaR clients hold this engine
    infrastructure.stop()


@pytest.fixture
def sent_requests(monkeypatch):
    """Every request the real operator client posts, with the client that posted it."""
    sent = []
    deliver = HttpMailboxOperatorClient.deliver

    def recording(client, service_address, request):
        sent.append((client, request))
        return deliver(client, service_address, request)

    monkeypatch.setattr(HttpMailboxOperatorClient, "deliver", recording)
    return sent


def accept(settings, engine, system_id):
    with Session(engine) as session, session.begin():
        letter, _ = LetterService(session, settings).accept(
            session.get(SendingSystem, system_id),
            LetterInput(
                sender=EXEMPELKOMMUN,
                recipient=TOLVAN,
                subject="Beslut om bygglov",
                body="Ditt bygglov är beviljat.",
                protection_class=2,
                idempotency_key=str(uuid.uuid4()),
            ),
            actor="api:test",
        )
        return letter.id


def run_due(worker: Worker, until=lambda: False):
    """Run due jobs until none is due, or `until()` holds."""
    while not until() and worker.run_once():
        pass


def state_of(engine, letter_id):
    with Session(engine) as session:
        return session.get(Letter, letter_id).state


def certificates_in(request: bytes) -> set[x509.Certificate]:
    document = etree.fromstring(request)
    return {
        x509.load_der_x509_certificate(base64.b64decode("".join(node.text.split())))
        for node in document.iter(f"{{{DS}}}X509Certificate")
    }


def test_a_renewed_key_signs_seals_and_connects_from_the_next_letter(
    world, sent_requests, monkeypatch, tmp_path
):
    context, settings, engine, system_id = world
    monkeypatch.setattr(bootstrap, "TLS_CHECK_SECONDS", 0.0)
    key_a = load_signing_identity(context.pki.key_and_certificate(EXEMPELKOMMUN)).certificate
    adapters = Adapters(settings, engine)
    worker = Worker(settings, engine, adapters=adapters, worker_id="reload-test")
    try:
        first = accept(settings, engine, system_id)
        run_due(worker)
        assert state_of(engine, first) == "delivered"
        [(client_a, request_a)] = sent_requests
        assert certificates_in(request_a) == {key_a}

        renewed = context.pki.authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")
        key_b = renewed.certificate
        new_file = tmp_path / "exempelkommun-2027.p12"
        write_pkcs12(new_file, renewed, b"fornyat", "Exempelkommun")
        context.registry.add_certificate(EXEMPELKOMMUN, key_b)
        for variable, value in {**connector_environment(settings),
                                PASSPHRASE_ENV: "fornyat"}.items():  # fmt: skip
            monkeypatch.setenv(variable, value)
        installed = CliRunner().invoke(
            cli, ["senders", "key", EXEMPELKOMMUN, "--key", str(new_file),
                  "--passphrase-env", PASSPHRASE_ENV],
        )  # fmt: skip
        assert installed.exit_code == 0, installed.output

        second = accept(settings, engine, system_id)
        run_due(worker, until=lambda: state_of(engine, second) != "received")
        # The operator no longer knows A: only B can open the connection from here on.
        with context.sessions.begin() as session:
            session.delete(session.get(FarCertificate, fingerprint(key_a)))
        run_due(worker)

        assert state_of(engine, second) == "delivered"
        (client_b, request_b) = sent_requests[-1]
        assert certificates_in(request_b) == {key_b}
        assert client_b is not client_a
    finally:
        worker.close()
        adapters.close()


def test_far_is_asked_with_the_renewed_certificate_too(world, monkeypatch, tmp_path):
    context, settings, engine, system_id = world
    monkeypatch.setattr(bootstrap, "TLS_CHECK_SECONDS", 0.0)
    adapters = Adapters(settings, engine)
    worker = Worker(settings, engine, adapters=adapters, worker_id="reload-far-test")
    try:
        first = accept(settings, engine, system_id)
        run_due(worker)
        assert state_of(engine, first) == "delivered"
        with Session(engine) as session:
            [in_use] = [
                e
                for e in certificate_expiries(session, dt.datetime.now(dt.UTC))
                if e.organisation_number == EXEMPELKOMMUN
            ]
        renewed = context.pki.authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")
        new_file = tmp_path / "exempelkommun-far.p12"
        write_pkcs12(new_file, renewed, b"fornyat", "Exempelkommun")
        context.registry.add_certificate(EXEMPELKOMMUN, renewed.certificate)
        for variable, value in {**connector_environment(settings),
                                PASSPHRASE_ENV: "fornyat"}.items():  # fmt: skip
            monkeypatch.setenv(variable, value)
        installed = CliRunner().invoke(
            cli, ["senders", "key", EXEMPELKOMMUN, "--key", str(new_file),
                  "--passphrase-env", PASSPHRASE_ENV],
        )  # fmt: skip
        assert installed.exit_code == 0, installed.output
        # FaR and the operators no longer know the certificate in use until now.
        with context.sessions.begin() as session:
            session.delete(session.get(FarCertificate, in_use.fingerprint))

        second = accept(settings, engine, system_id)
        run_due(worker)

        assert state_of(engine, second) == "delivered"
    finally:
        worker.close()
        adapters.close()
