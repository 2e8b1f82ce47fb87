"""The operator at the edges of trust: signed XML read whole, what real senders write, and
who hands it a letter.

Over real HTTPS with mutual TLS where the point is what a sender sees (the fault); in process
on SQLite and PostgreSQL where the point is that nothing was stored.
"""

import base64
import datetime as dt
import re

import pytest
from lxml import etree
from sqlalchemy import func, select

from support.sha1_signer import resign_sha1
from support.tampering import (
    COMMENT,
    INSTRUCTION,
    enveloped_digest_input,
    exclusive_c14n,
    insert_into_text,
)
from support.world import TOLVAN
from utskick.mm import namespaces as ns
from utskick.mm.signing import append_enveloped_signature, seal_delivery, sign_delivery
from utskick.mm.soap import SoapFault, deliver_secure_request, parse_deliver_secure_response
from utskick.reference.context import (
    ReferenceContext,
    register_organisations,
    seed_world_once,
)
from utskick.reference.far.registry import FarError, FarRegistry
from utskick.reference.mailbox.operator import MailboxOperator
from utskick.reference.store import MailboxDelivery, MailboxMessage
from utskick.reference.world import DEMO_WORLD, EXEMPELKOMMUN, GRANNKOMMUN

from .wire import post, refusal

COMMENT_REASON = "kommentarer är inte tillåtna i signerat innehåll"
INSTRUCTION_REASON = "processinstruktioner är inte tillåtna i signerat innehåll"
DRIFTBOLAGET = "5569990103"  # an intermediary FaR registers for Exempelkommun
ANNAN_FORMEDLARE = "5569990111"  # an intermediary registered for no one
V3 = f"{{{ns.MESSAGE_V3}}}"
DS = f"{{{ns.DSIG}}}"


def _covered(document):
    """What the seal and the sender's signature cover, and both canonical SignedInfos."""
    root = etree.fromstring(document)
    signed = root.find(f"{V3}SignedDelivery")
    return (
        enveloped_digest_input(root),
        enveloped_digest_input(signed),
        exclusive_c14n(root[-1].find(f"{DS}SignedInfo")),
        exclusive_c14n(signed[-1].find(f"{DS}SignedInfo")),
    )


def _bare_and_wire(letters, letter):
    """The sealed delivery as signed (bytes), and the SOAP request a sender posts."""
    sealed = letters.sealed(letter)
    bare = etree.tostring(sealed, encoding="UTF-8")
    return bare, deliver_secure_request(sealed)


@pytest.fixture(scope="module")
def intermediaries(mailbox_context, letters):
    """Driftbolaget, registered as intermediary for Exempelkommun; another one for no one."""
    registry = mailbox_context.registry
    bundles = {}
    for number, name in ((DRIFTBOLAGET, "Driftbolaget AB"), (ANNAN_FORMEDLARE, "Förmedlaren AB")):
        identity, bundle = letters.stranger(number, name)
        registry.add_organisation(number, name, intermediary=True)
        registry.add_certificate(number, identity.certificate)
        bundles[number] = bundle
    registry.register_intermediary_for(DRIFTBOLAGET, EXEMPELKOMMUN)
    return bundles


# --- 1. signed XML over the wire --------------------------------------------------------------


class TestSignedXmlOverTheWire:
    @pytest.mark.parametrize(
        ("element", "text", "markup", "reason"),
        [
            ("Subject", "Beslut om bidrag", COMMENT, COMMENT_REASON),
            ("Subject", "Beslut om bidrag", INSTRUCTION, INSTRUCTION_REASON),
            ("Recipient", TOLVAN, COMMENT, COMMENT_REASON),
            ("Text", "Frågor: ring 010-123 45 67", COMMENT, COMMENT_REASON),
            ("Filename", "beslut.pdf", COMMENT, COMMENT_REASON),
            ("SignaturesOK", "true", COMMENT, COMMENT_REASON),
        ],
    )
    def test_a_comment_in_signed_content_gets_fault_5012_and_nothing_is_stored(
        self, services, client, letters, stored_rows, element, text, markup, reason
    ):
        bare, wire = _bare_and_wire(letters, letters.letter(TOLVAN, subject="Beslut om bidrag"))
        if markup == COMMENT:
            # Both signatures still cover exactly the same bytes: only the refusal stops it.
            tampered = insert_into_text(bare, element, text, "middle", markup)
            assert _covered(tampered) == _covered(bare)
        before = stored_rows()

        tampered = insert_into_text(wire, element, text, "middle", markup)
        fault = refusal(post(client(), services.syd, tampered))

        assert fault.error_code == 5012
        assert reason in fault.description
        assert f"i elementet {element}" in fault.description
        assert stored_rows() == before
        # The same letter without the comment is delivered: the comment alone was refused.
        accepted = post(client(), services.syd, wire)
        assert parse_deliver_secure_response(accepted.content).statuses[0].delivered

    def test_the_truncated_subject_never_reaches_the_inbox(
        self, services, client, letters, syd_store
    ):
        subject = "Din ansökan är INTE beviljad."
        bare, wire = _bare_and_wire(letters, letters.letter(TOLVAN, subject=subject))
        start = bare.index(b"INTE beviljad")
        assert _covered(bare[:start] + COMMENT + bare[start:]) == _covered(bare)
        start = wire.index(b"INTE beviljad")
        fault = refusal(post(client(), services.syd, wire[:start] + COMMENT + wire[start:]))
        assert fault.error_code == 5012
        assert not [e for e in syd_store.inbox(TOLVAN) if e.subject.startswith("Din ansökan är")]


# --- 2. what real senders write -----------------------------------------------------------------


class TestWhatRealSendersWrite:
    def test_a_received_time_with_an_offset_passes_the_schema_and_verifies(
        self, services, client, letters
    ):
        signed = sign_delivery(letters.letter(TOLVAN), letters.identity(EXEMPELKOMMUN))
        sealer = letters.identity(EXEMPELKOMMUN)
        sealed = seal_delivery(signed, sealer, received_on=dt.datetime.now(dt.UTC).date())
        sealed.remove(sealed[-1])
        received = sealed.find(f"{V3}Seal/{{{ns.MESSAGE}}}ReceivedTime")
        received.text += "+02:00"
        append_enveloped_signature(sealed, sealer)
        result = parse_deliver_secure_response(
            post(client(), services.syd, deliver_secure_request(sealed)).content
        )
        assert result.statuses[0].delivered

    def test_a_subject_name_written_as_java_writes_it_is_accepted(self, services, client, letters):
        sealed = letters.sealed(letters.letter(TOLVAN))
        sealed[-1].find(
            f".//{DS}X509SubjectName"
        ).text = "2.5.4.5=#130c313632303231303034373438+CN=Exempelkommun,O=Exempelkommun,C=SE"
        result = parse_deliver_secure_response(
            post(client(), services.syd, deliver_secure_request(sealed)).content
        )
        assert result.statuses[0].delivered


# --- 7. who hands over the letter -------------------------------------------------------------


class TestWhoHandsItOver:
    def test_a_delivery_sealed_by_another_organisation_than_the_caller_is_refused(
        self, services, client, letters, stored_rows
    ):
        # Grannkommun (a registered sender, not an intermediary) hands over a letter that
        # Exempelkommun sealed: it may not.
        letter = letters.letter(TOLVAN, sender=GRANNKOMMUN, sender_name="Grannkommun")
        before = stored_rows()
        fault = refusal(post(client(GRANNKOMMUN), services.syd, letters.request(letter)))
        assert fault.error_code == 6005
        assert "autentiserad som 162021009903" in fault.description
        assert "förseglad av 162021004748" in fault.description
        assert stored_rows() == before

    def test_an_intermediary_registered_for_the_sealer_may_hand_it_over(
        self, services, client, letters, intermediaries, syd_store
    ):
        letter = letters.letter(TOLVAN, subject="Lämnad av Driftbolaget")
        response = post(
            client(bundle=intermediaries[DRIFTBOLAGET]), services.syd, letters.request(letter)
        )
        result = parse_deliver_secure_response(response.content)
        assert result.statuses[0].delivered
        assert [e.subject for e in syd_store.inbox(TOLVAN)].count("Lämnad av Driftbolaget") == 1

    def test_an_intermediary_not_registered_for_the_sealer_is_refused(
        self, services, client, letters, intermediaries, stored_rows
    ):
        before = stored_rows()
        for bundle, sealer in (
            (intermediaries[ANNAN_FORMEDLARE], EXEMPELKOMMUN),
            (intermediaries[DRIFTBOLAGET], GRANNKOMMUN),  # registered for another sealer
        ):
            letter = letters.letter(TOLVAN, sender=sealer, sender_name="Kommunen")
            request = letters.request(letter, sealer=letters.identity(sealer))
            fault = refusal(post(client(bundle=bundle), services.syd, request))
            assert fault.error_code == 6005
            assert f"förseglad av 16{sealer}" in fault.description
            assert "registrera" in fault.description
        assert stored_rows() == before

    def test_the_sealer_itself_may_hand_it_over(self, services, client, letters):
        letter = letters.letter(TOLVAN, sender=GRANNKOMMUN, sender_name="Grannkommun")
        request = letters.request(letter, sealer=letters.identity(GRANNKOMMUN))
        result = parse_deliver_secure_response(
            post(client(GRANNKOMMUN), services.syd, request).content
        )
        assert result.statuses[0].delivered


# --- in process, on SQLite and PostgreSQL -------------------------------------------------------


@pytest.fixture
def on_storage(reference_sessions, mailbox_context, letters):
    """Brevlåda Syd in process over a fresh database: (operator factory, rows counter)."""
    registry = FarRegistry(reference_sessions)
    register_organisations(registry, DEMO_WORLD, mailbox_context.pki, mailbox_context.endpoints)
    seed_world_once(reference_sessions, registry, DEMO_WORLD)
    identity, _bundle = letters.stranger(DRIFTBOLAGET, "Driftbolaget AB")
    registry.add_organisation(DRIFTBOLAGET, "Driftbolaget AB", intermediary=True)
    registry.add_certificate(DRIFTBOLAGET, identity.certificate)

    def operator(**settings):
        context = ReferenceContext(
            mailbox_context.settings.model_copy(update=settings),
            reference_sessions.kw["bind"],
            reference_sessions,
            DEMO_WORLD,
            mailbox_context.pki,
            registry,
            mailbox_context.endpoints,
            mailbox_context.storage_keys,
        )
        return MailboxOperator(context, context.operator("syd"))

    def rows():
        with reference_sessions() as session:
            return (
                session.scalar(select(func.count(MailboxDelivery.id))),
                session.scalar(select(func.count(MailboxMessage.id))),
            )

    return operator, rows, registry, identity.certificate


def _refused(call, request, caller):
    with pytest.raises(SoapFault) as caught:
        call(request, caller)
    return caught.value


class TestStoredNothing:
    def test_a_comment_in_signed_content_stores_nothing(self, on_storage, letters):
        operator, rows, _registry, _ = on_storage
        certificate = letters.identity(EXEMPELKOMMUN).certificate
        _bare, wire = _bare_and_wire(letters, letters.letter(TOLVAN, subject="Beslut om bidrag"))
        tampered = insert_into_text(wire, "Subject", "Beslut om bidrag", "end", COMMENT)
        fault = _refused(operator().deliver_secure, tampered, certificate)
        assert fault.error_code == 5012
        assert COMMENT_REASON in fault.description
        assert rows() == (0, 0)
        operator().deliver_secure(wire, certificate)
        assert rows() == (1, 1)

    def test_a_seal_certificate_whose_subject_cannot_be_read_is_a_fault_and_stores_nothing(
        self, on_storage, letters
    ):
        # cryptography parses a subject lazily: unguarded, this was an HTTP 500 with no fault.
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import Encoding

        operator, rows, _registry, _ = on_storage
        exempel = letters.identity(EXEMPELKOMMUN)
        wire = letters.request(letters.letter(TOLVAN))
        der = exempel.certificate.public_bytes(Encoding.DER)
        name = exempel.certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0]
        at = der.rindex(name.value.encode()) - 2  # the subject's CN value: tag, length, text
        damaged = der[:at] + b"\xd3" + der[at + 1 :]
        x509.load_der_x509_certificate(damaged)  # loads; the subject fails only when read
        text = wire.decode()
        start = text.rindex("X509Certificate>", 0, text.rindex("</ds:X509Certificate>")) + 16
        end = text.rindex("</ds:X509Certificate>")
        forged = (text[:start] + base64.b64encode(damaged).decode() + text[end:]).encode()

        fault = _refused(operator().deliver_secure, forged, exempel.certificate)
        assert fault.error_code == 5012
        assert "sigillets certifikat saknas eller går inte att läsa" in fault.description
        assert rows() == (0, 0)

    def test_sha1_is_refused_by_default_and_accepted_when_the_setting_says_so(
        self, on_storage, letters
    ):
        operator, rows, _registry, _ = on_storage
        exempel = letters.identity(EXEMPELKOMMUN)
        key = (exempel.private_key, exempel.certificate)
        sha1 = deliver_secure_request(resign_sha1(letters.sealed(letters.letter(TOLVAN)), key, key))
        assert b"rsa-sha1" in sha1

        fault = _refused(operator().deliver_secure, sha1, exempel.certificate)
        assert fault.error_code == 5012
        assert "SHA-1 godtas inte" in fault.description
        assert rows() == (0, 0)

        answer = operator(allow_sha1=True).deliver_secure(sha1, exempel.certificate)
        assert parse_deliver_secure_response(answer).statuses[0].delivered
        assert rows() == (1, 1)

    def test_a_caller_other_than_the_sealer_stores_nothing_unless_registered_for_it(
        self, on_storage, letters
    ):
        operator, rows, registry, driftbolaget = on_storage
        request = letters.request(letters.letter(TOLVAN))  # sealed by Exempelkommun
        for caller in (letters.identity(GRANNKOMMUN).certificate, driftbolaget):
            fault = _refused(operator().deliver_secure, request, caller)
            assert fault.error_code == 6005
            assert re.search(r"autentiserad som 16\d{10}, men leveransen", fault.description)
        assert rows() == (0, 0)

        registry.register_intermediary_for(DRIFTBOLAGET, EXEMPELKOMMUN)
        answer = operator().deliver_secure(request, driftbolaget)
        assert parse_deliver_secure_response(answer).statuses[0].delivered
        assert rows() == (1, 1)

    def test_only_an_intermediary_can_be_registered_for_a_sealer(self, on_storage):
        _operator, _rows, registry, _ = on_storage
        with pytest.raises(FarError) as caught:
            registry.register_intermediary_for(GRANNKOMMUN, EXEMPELKOMMUN)
        assert caught.value.code == 6005
        with pytest.raises(FarError) as caught:
            registry.register_intermediary_for(DRIFTBOLAGET, "5566778899")
        assert caught.value.code == 5003

    def test_an_organisation_that_stops_being_an_intermediary_may_no_longer_hand_over(
        self, on_storage, letters
    ):
        operator, rows, registry, driftbolaget = on_storage
        registry.register_intermediary_for(DRIFTBOLAGET, EXEMPELKOMMUN)
        registry.add_organisation(DRIFTBOLAGET, "Driftbolaget AB", intermediary=False)
        fault = _refused(operator().deliver_secure, letters.request(), driftbolaget)
        assert fault.error_code == 6005
        assert rows() == (0, 0)
