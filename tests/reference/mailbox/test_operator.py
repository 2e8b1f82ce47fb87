"""The operator's checks in process: their order, pinning to FaR's certificates, idempotency
under concurrency, and the simple path (notify)."""

import datetime as dt
import re
import threading
import uuid

import pytest

from support.world import ANNA, TOLVAN
from utskick.mm import namespaces as ns
from utskick.mm.delivery import (
    Delivery,
    NotificationDelivery,
    SecureMessage,
    SupportInfo,
    build_notification_delivery,
)
from utskick.mm.keys import SigningIdentity
from utskick.mm.notify import notify_request, parse_notify_response
from utskick.mm.signing import append_enveloped_signature, seal_delivery, sign_delivery
from utskick.mm.soap import SoapFault, deliver_secure_request, parse_deliver_secure_response
from utskick.reference.mailbox.operator import MailboxOperator
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN

V3 = f"{{{ns.MESSAGE_V3}}}"
MSG = f"{{{ns.MESSAGE}}}"


@pytest.fixture(scope="module")
def syd(mailbox_context):
    return MailboxOperator(mailbox_context, mailbox_context.operator("syd"))


@pytest.fixture(scope="module")
def certificates(mailbox_context):
    return mailbox_context.pki.certificates


def refused(call, *arguments):
    with pytest.raises(SoapFault) as caught:
        call(*arguments)
    return caught.value


def notification(recipients, *, sender=EXEMPELKOMMUN, email_text=None):
    return notify_request(
        build_notification_delivery(
            NotificationDelivery(
                sender_id="16" + sender,
                sender_name="Exempelkommun",
                recipient_ids=tuple(recipients),
                message=SecureMessage(
                    id=f"notis-{uuid.uuid4().hex}",
                    subject="Vattnet stängs av i morgon",
                    support_info=SupportInfo("Ring 010-123 45 67"),
                    body=b"Vattnet stangs av mellan 9 och 12.",
                ),
                email_from="info@exempelkommun.test" if email_text else None,
                email_subject="Vattenavstängning" if email_text else None,
                email_text=email_text,
            )
        )
    )


class TestOrderOfChecks:
    def test_a_call_without_a_client_certificate_is_refused_with_5002(
        self, syd, letters, stored_rows
    ):
        before = stored_rows()
        fault = refused(syd.deliver_secure, letters.request(), None)
        assert fault.error_code == 5002
        assert "klientcertifikat" in fault.description
        assert stored_rows() == before

    def test_an_unknown_sender_is_told_so_even_when_its_signature_is_also_bad(
        self, syd, letters, certificates
    ):
        stranger, _ = letters.stranger("5566778899", "Utan Brevlåda AB")
        letter = letters.letter(
            TOLVAN, sender="5566778899", sender_name="Utan Brevlåda AB", subject="Erbjudande"
        )
        tampered = letters.request(letter, signer=stranger).replace(b"Erbjudande", b"Erbjudandet")
        fault = refused(syd.deliver_secure, tampered, certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5014

    def test_a_signing_certificate_not_registered_in_far_is_not_trusted(
        self, syd, letters, certificates, stored_rows
    ):
        # Issued by the same CA to the same organisation, but never registered in FaR.
        issued = letters.context.pki.authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun")
        unregistered = SigningIdentity(issued.private_key, issued.certificate)
        before = stored_rows()
        request = letters.request(letters.letter(TOLVAN), signer=unregistered)
        fault = refused(syd.deliver_secure, request, certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5012
        assert "avsändarens signatur" in fault.description
        assert "inte betrott" in fault.description
        assert stored_rows() == before

    def test_a_certificate_that_has_expired_by_the_operators_clock_is_refused(
        self, mailbox_context, letters, certificates
    ):
        later = MailboxOperator(
            mailbox_context,
            mailbox_context.operator("syd"),
            clock=lambda: dt.datetime(2090, 1, 1, tzinfo=dt.UTC),
        )
        fault = refused(later.deliver_secure, letters.request(), certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5012
        assert "gått ut" in fault.description

    def test_a_body_of_another_type_than_text_or_html_is_refused_with_5019(
        self, syd, letters, certificates
    ):
        # Our own builder refuses such a body, so the signed tree is changed and signed again.
        sender = letters.identity(EXEMPELKOMMUN)
        signed = sign_delivery(letters.letter(TOLVAN, body=b"# Beslut"), sender)
        signed.remove(signed[-1])
        signed.find(f"{V3}Delivery/{V3}Message/{V3}Body/{MSG}ContentType").text = "text/markdown"
        append_enveloped_signature(signed, sender)
        sealed = seal_delivery(signed, sender, received_on=dt.datetime.now(dt.UTC).date())
        request = deliver_secure_request(sealed)
        fault = refused(syd.deliver_secure, request, certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5019
        assert "text/markdown" in fault.description

    def test_deliver_secure_refuses_a_notification_with_5001(self, syd, certificates):
        fault = refused(syd.deliver_secure, notification([TOLVAN]), certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5001
        assert "väntade deliverSecure" in fault.description


class TestStoring:
    def test_every_message_of_a_delivery_reaches_the_inbox(
        self, syd, letters, certificates, syd_store
    ):
        first = letters.letter(TOLVAN, subject="Del 1 av 2").messages[0]
        second = letters.letter(TOLVAN, subject="Del 2 av 2").messages[0]
        delivery = Delivery("16" + EXEMPELKOMMUN, "Exempelkommun", TOLVAN, (first, second))
        result = parse_deliver_secure_response(
            syd.deliver_secure(letters.request(delivery), certificates[EXEMPELKOMMUN])
        )
        subjects = sorted(
            entry.subject
            for entry in syd_store.inbox(TOLVAN)
            if syd_store.message(TOLVAN, entry.id).trans_id == result.trans_id
        )
        assert subjects == ["Del 1 av 2", "Del 2 av 2"]

    def test_two_messages_with_the_same_id_in_one_delivery_are_refused(
        self, syd, letters, certificates
    ):
        message = letters.letter(TOLVAN).messages[0]
        delivery = Delivery("16" + EXEMPELKOMMUN, "Exempelkommun", TOLVAN, (message, message))
        fault = refused(syd.deliver_secure, letters.request(delivery), certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5001
        assert "samma Id" in fault.description

    def test_simultaneous_repeats_of_one_delivery_are_stored_once(
        self, syd, letters, certificates, stored_rows
    ):
        request = letters.request(letters.letter(TOLVAN, subject="Samtidigt"))
        before = stored_rows()
        answers, start = [], threading.Barrier(4)

        def send():
            start.wait()
            answers.append(syd.deliver_secure(request, certificates[EXEMPELKOMMUN]))

        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        trans_ids = {parse_deliver_secure_response(answer).trans_id for answer in answers}
        assert len(answers) == 4
        assert len(trans_ids) == 1
        assert stored_rows() == (before[0] + 1, before[1] + 1)


class TestNotify:
    def test_a_notification_is_stored_as_a_simple_message_with_its_forwardable_text(
        self, syd, certificates, syd_store
    ):
        answer = syd.notify(
            notification([TOLVAN, ANNA], email_text="Vattnet stängs av kl 9."),
            certificates[EXEMPELKOMMUN],
        )
        result = parse_notify_response(answer)
        assert [(s.recipient_id, s.delivered) for s in result.statuses] == [
            (TOLVAN, True),
            (ANNA, False),
        ]
        [entry] = [
            e
            for e in syd_store.inbox(TOLVAN)
            if syd_store.message(TOLVAN, e.id).trans_id == result.trans_id
        ]
        assert not entry.secure
        content = syd_store.message(TOLVAN, entry.id)
        assert content.subject == "Vattnet stängs av i morgon"
        assert content.email_text == "Vattnet stängs av kl 9."
        assert content.body_text == "Vattnet stangs av mellan 9 och 12."

    def test_a_repeated_notification_keeps_its_trans_id(self, syd, certificates):
        request = notification([TOLVAN])
        first = parse_notify_response(syd.notify(request, certificates[EXEMPELKOMMUN]))
        again = parse_notify_response(syd.notify(request, certificates[EXEMPELKOMMUN]))
        assert again.trans_id == first.trans_id

    def test_only_the_sender_or_an_approved_intermediary_may_notify_for_a_sender(
        self, syd, certificates, stored_rows
    ):
        before = stored_rows()
        fault = refused(syd.notify, notification([TOLVAN]), certificates[GRANNKOMMUN])
        assert fault.error_code == 6005
        assert stored_rows() == before

    def test_a_notification_from_an_unknown_sender_is_refused_with_5014(self, syd, certificates):
        request = notification([TOLVAN], sender="5566778899")
        fault = refused(syd.notify, request, certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5014

    def test_a_notification_that_breaks_the_schema_is_refused_with_5001(self, syd, certificates):
        request = re.sub(rb"<Subject[^>]*>[^<]*</Subject>", b"", notification([TOLVAN]))
        fault = refused(syd.notify, request, certificates[EXEMPELKOMMUN])
        assert fault.error_code == 5001
        assert "Subject" in fault.description
