"""Both wire forms over real mutual-TLS HTTP to the reference mailbox operator.

The operator verifies by stripping prefixes, as the real ones do, so both forms are
accepted (Delivered=true) and shown in the mailbox. The relay writes each operator's form
from `UTSKICK_OPERATOR_WIRE_FORMS` (prefixed where nothing is set). The exact bytes the
operator accepted are checked again by two verifiers that import nothing from Utskick: the
plain lxml one and the JDK's.
"""

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.connector_world import subjects_with_trans_id
from support.independent_verifier import (
    inner_deliver_secure,
    renamed_to_sealed_delivery,
    standalone,
    strip_prefixes_textually,
    verify_enveloped,
)
from support.world import (
    EXEMPELKOMMUN,
    TOLVAN,
    RecordingOperator,
)
from utskick.entrypoints.worker import Worker
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.mm.delivery import Delivery, SecureMessage, SupportInfo
from utskick.mm.keys import load_signing_identity
from utskick.mm.signing import sign_and_seal
from utskick.mm.soap import WireForm, deliver_secure_request
from utskick.relay.operator import DeliveryRefusedError
from utskick.senders.models import SendingSystem

PREFIXED_SIGNATURE = b"<ds:Signature>"
DEFAULT_SIGNATURE = b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">'


def sealed_letter(context, subject):
    key = load_signing_identity(context.pki.key_and_certificate(EXEMPELKOMMUN))
    delivery = Delivery(
        sender_id="16" + EXEMPELKOMMUN,
        sender_name="Exempelkommun",
        recipient_id=TOLVAN,
        messages=(
            SecureMessage(
                id=uuid.uuid4().hex,
                subject=subject,
                support_info=SupportInfo("Ring kommunens kontaktcenter."),
                body="Hej Tolvan! Ditt beslut är klart.".encode(),
            ),
        ),
    )
    return sign_and_seal(delivery, key, key, received_on=dt.datetime.now(dt.UTC).date())


FORMS = [WireForm.PREFIXED, WireForm.DEFAULT_NAMESPACES]


@pytest.fixture(scope="module")
def accepted(world, http_client):
    """One letter per form, posted to Syd over mutual TLS: form → (subject, request, result)."""
    context, _, _, _ = world
    answers = {}
    for form in FORMS:
        subject = f"Beslut i trådform {form} – åäö"
        request = deliver_secure_request(sealed_letter(context, subject), form)
        result = http_client.deliver(context.endpoints.operators["syd"].service_url, request)
        answers[form] = (subject, request, result)
    return answers


@pytest.mark.parametrize("form", FORMS)
def test_the_reference_operator_accepts_both_forms(accepted, syd_inbox, form):
    subject, request, result = accepted[form]
    signature = PREFIXED_SIGNATURE if form == WireForm.PREFIXED else DEFAULT_SIGNATURE
    assert request.count(signature) == 2

    assert [(s.recipient_id, s.delivered) for s in result.statuses] == [(TOLVAN, True)]
    assert subjects_with_trans_id(syd_inbox, result.trans_id) == [subject]


@pytest.mark.parametrize("form", FORMS)
def test_the_accepted_bytes_verify_in_the_lxml_verifier_after_stripping(accepted, form):
    _, request, _ = accepted[form]
    sealed = renamed_to_sealed_delivery(inner_deliver_secure(strip_prefixes_textually(request)))
    verify_enveloped(sealed)
    verify_enveloped(standalone(sealed[0]))


@pytest.mark.parametrize("form", FORMS)
def test_the_accepted_bytes_verify_in_the_jdk(world, accepted, jdk, form):
    context, _, _, _ = world
    _, request, _ = accepted[form]
    verdict = jdk.verify(request, context.pki.ca_certificate)
    assert verdict.returncode == 0, (verdict.lines, verdict.stderr)
    assert "SERIALNUMBER=162021004748" in verdict.line("SEAL VALID TRUSTED")
    assert "SERIALNUMBER=162021004748" in verdict.line("SENDER VALID TRUSTED")


def test_the_reference_operator_refuses_a_changed_prefixed_delivery(world, http_client, syd_inbox):
    context, _, _, _ = world
    request = deliver_secure_request(sealed_letter(context, "Beslut om bygglov"))
    tampered = request.replace(b"Beslut om bygglov", b"Beslut om rivning")
    before = len(syd_inbox.inbox(TOLVAN))

    with pytest.raises(DeliveryRefusedError) as refused:
        http_client.deliver(context.endpoints.operators["syd"].service_url, tampered)

    assert refused.value.code == 5012
    assert "kontrollsumman stämmer inte" in refused.value.description
    assert len(syd_inbox.inbox(TOLVAN)) == before


def accept_letter(world, subject):
    _, settings, engine, system_id = world
    with Session(engine) as session, session.begin():
        letter, _ = LetterService(session, settings).accept(
            session.get(SendingSystem, system_id),
            LetterInput(
                sender=EXEMPELKOMMUN,
                recipient=TOLVAN,
                subject=subject,
                body="Hej! Ditt bygglov är beviljat.",
                protection_class=2,
                idempotency_key=str(uuid.uuid4()),
            ),
            actor="cli",
        )
        return letter.id


def run_until_delivered(worker, engine, letter_id, rounds=20):
    for _ in range(rounds):
        while worker.run_once():
            pass
        with Session(engine) as session:
            if session.get(Letter, letter_id).state == "delivered":
                return
    pytest.fail(f"letter {letter_id} was not delivered")


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("none", WireForm.PREFIXED),
        ("operator", WireForm.DEFAULT_NAMESPACES),
        ("address", WireForm.DEFAULT_NAMESPACES),
        ("other operator", WireForm.PREFIXED),
    ],
)
def test_the_relay_writes_each_operators_form_and_the_letter_is_delivered(
    world, clean_jobs, http_client, syd_inbox, setting, expected
):
    context, settings, engine, _ = world
    forms = {
        "none": {},
        "operator": {"556999-0012": "default"},
        "address": {context.endpoints.operators["syd"].service_url: "default"},
        "other operator": {"5569990020": "default"},
    }[setting]
    recorder = RecordingOperator(http_client)
    worker = Worker(
        settings.model_copy(update={"operator_wire_forms": forms}),
        engine,
        operator_client=recorder,
        worker_id=f"test-{uuid.uuid4().hex[:6]}",
    )
    subject = f"Bygglov ({setting})"
    letter_id = accept_letter(world, subject)

    run_until_delivered(worker, engine, letter_id)

    [(address, request)] = recorder.requests
    assert address == context.endpoints.operators["syd"].service_url
    signatures = re.findall(rb"<(?:ds:)?Signature[ >]", request)
    assert len(signatures) == 2
    assert (request.count(PREFIXED_SIGNATURE) == 2) == (expected == WireForm.PREFIXED)
    assert (request.count(DEFAULT_SIGNATURE) == 2) == (expected == WireForm.DEFAULT_NAMESPACES)
    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        delivered = session.scalars(
            select(LetterEvent).where(
                LetterEvent.letter_id == letter_id, LetterEvent.state == "delivered"
            )
        ).one()
        assert delivered.data["wire_form"] == str(expected)
        trans_id = letter.trans_id
    assert subjects_with_trans_id(syd_inbox, trans_id) == [subject]
