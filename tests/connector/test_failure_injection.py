"""The reference operator's failure injection, seen through the connector's operator client.

Each kind of failure must look transient to the connector, and the operator must end up
holding the letter exactly once when the connector tries again with the same message Id.
"""

import dataclasses
import datetime as dt
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select

from support.world import (
    EXEMPELKOMMUN,
    TOLVAN,
)
from utskick.mm.delivery import Delivery, SecureMessage, SupportInfo
from utskick.mm.keys import load_signing_identity
from utskick.mm.signing import sign_and_seal
from utskick.mm.soap import deliver_secure_request
from utskick.reference.mailbox import service as operator_service
from utskick.reference.runner import free_loopback_ports as free_ports
from utskick.reference.store import MailboxMessage
from utskick.reference.tls import ServerGroup, server_config
from utskick.relay.operator import HttpMailboxOperatorClient, TransientDeliveryError
from utskick.senders.keys import client_tls_context
from utskick.senders.models import SenderOrganisation

LATE_SECONDS = 1.5


@pytest.fixture(scope="module")
def failing_syd(world):
    """Syd's Service v3 on extra ports, each failing every call in one way."""
    context, _, _, _ = world
    syd = context.operator("syd")
    urls, configs, counts = {}, [], {}
    ports = free_ports(len(operator_service.FAILURE_KINDS))
    for kind, port in zip(operator_service.FAILURE_KINDS, ports, strict=True):
        counts[kind] = Counter()
        app = operator_service.FailureInjection(
            operator_service.create_operator_service_app(context, syd),
            rate=1.0,
            delay_seconds=LATE_SECONDS,
            counts=counts[kind],
            kinds=(kind,),
        )
        configs.append(server_config(app, "127.0.0.1", port, context.pki.server_tls))
        urls[kind] = f"https://127.0.0.1:{port}/service/v3"
    group = ServerGroup(configs)
    group.start_in_thread()
    yield urls, counts
    group.stop()


@pytest.fixture(scope="module")
def client(world):
    context, settings, _, _ = world
    intermediary = SenderOrganisation(
        organisation_number=EXEMPELKOMMUN,
        name="Exempelkommun",
        key_path=str(context.pki.key_and_certificate(EXEMPELKOMMUN)),
    )
    http = HttpMailboxOperatorClient(
        client_tls_context(intermediary, settings.tls_ca_file), read_timeout_seconds=0.5
    )
    yield http
    http.close()


def signed_request(context, message_id):
    key = load_signing_identity(context.pki.key_and_certificate(EXEMPELKOMMUN))
    delivery = Delivery(
        sender_id="16" + EXEMPELKOMMUN,
        sender_name="Exempelkommun",
        recipient_id=TOLVAN,
        messages=(
            SecureMessage(
                id=message_id,
                subject="Prov av omförsök",
                support_info=SupportInfo("Ring kundcenter."),
                body=b"Hej Tolvan!",
            ),
        ),
    )
    return deliver_secure_request(
        sign_and_seal(delivery, key, key, received_on=dt.datetime.now(dt.UTC).date())
    )


def stored(context, message_id):
    with context.sessions() as session:
        return session.scalar(
            select(func.count())
            .select_from(MailboxMessage)
            .where(MailboxMessage.message_id == message_id)
        )


def wait_until_stored(context, message_id, timeout=LATE_SECONDS + 5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored(context, message_id):
            return
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("kind", "stores"),
    [
        (operator_service.ANSWER_500, False),
        (operator_service.DROP_CONNECTION, False),
        (operator_service.ANSWER_LATE, True),
        (operator_service.STORE_THEN_500, True),
        (operator_service.STORE_THEN_DROP, True),
    ],
)
def test_each_failure_is_transient_and_the_retry_is_stored_once(
    world, failing_syd, client, kind, stores
):
    context, _, _, _ = world
    urls, counts = failing_syd
    message_id = uuid.uuid4().hex
    request = signed_request(context, message_id)

    with pytest.raises(TransientDeliveryError):
        client.deliver(urls[kind], request)
    assert counts[kind][kind] == 1
    if stores:
        wait_until_stored(context, message_id)
    assert stored(context, message_id) == (1 if stores else 0)

    first = client.deliver(context.endpoints.operators["syd"].service_url, request)
    again = client.deliver(context.endpoints.operators["syd"].service_url, request)

    assert first.statuses[0].delivered
    assert again.trans_id == first.trans_id
    assert stored(context, message_id) == 1


def test_the_setting_puts_the_injection_in_front_of_the_operator(world):
    context, _, _, _ = world
    failing = dataclasses.replace(
        context, settings=context.settings.model_copy(update={"failure_rate": 0.3})
    )

    app = operator_service.create_operator_service_app(failing, context.operator("syd"))
    plain = operator_service.create_operator_service_app(context, context.operator("syd"))

    assert [m.cls for m in app.user_middleware] == [operator_service.FailureInjection]
    assert plain.user_middleware == []


def test_the_failure_rate_must_be_a_share():
    from pydantic import ValidationError

    from utskick.reference.settings import ReferenceSettings

    with pytest.raises(ValidationError):
        ReferenceSettings(failure_rate=1.5)
