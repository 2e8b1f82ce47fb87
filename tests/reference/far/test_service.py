"""The reference FaR over real HTTPS with mutual TLS: the demo world, every rejection, the
operator operations.

Tests that change the register use personnummer of their own (`fresh_person`), or put back
what they changed: the other tests of the session read the demo world.
"""

import datetime as dt
import ssl

import httpx2
import pytest
from lxml import etree

from support.world import (
    ANNA,
    BERTIL,
    CECILIA,
    DAVID,
    EVA,
    EXEMPELBOLAGET,
    FILIP,
    GUSTAV,
    HANNA,
    TOLVAN,
    UTAN_BREVLADA,
    fresh_personnummer,
)
from utskick.mm import far, schemas
from utskick.mm.devca import write_pem_bundle
from utskick.mm.soap import (
    SOAP_HEADERS,
    SoapFault,
    body_element,
    is_reachable_request,
    parse_is_reachable_response,
)
from utskick.reference.far.client import FarClient, far_client_for
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN, NORD, SYD

UNREGISTERED_ORGANISATION = "5561234567"  # valid check digit, not in FaR

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<isReachable xmlns="http://minameddelanden.gov.se/schema/Recipient/v3">
<senderOrgNr>162021004748</senderOrgNr><recipientId>&lol3;</recipientId></isReachable>
</soap:Body></soap:Envelope>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<isReachable xmlns="http://minameddelanden.gov.se/schema/Recipient/v3">
<senderOrgNr>162021004748</senderOrgNr><recipientId>&secret;</recipientId></isReachable>
</soap:Body></soap:Envelope>"""


@pytest.fixture(scope="module")
def far_as(reference):
    """A factory for FaR clients calling as a demo organisation."""
    clients = {}

    def make(number):
        if number not in clients:
            clients[number] = far_client_for(reference, number)
        return clients[number]

    yield make
    for client in clients.values():
        client.close()


def post(client, reference, document):
    return client.post(reference.endpoints.far_url, content=document, headers=SOAP_HEADERS)


def fault_of(response):
    """The ExceptionInformation of a fault answer, after checking it is a proper SOAP fault."""
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    detail = body_element_detail(response.content)
    schemas.validate(detail, schemas.common_v3())
    with pytest.raises(SoapFault) as caught:
        body_element(response.content)
    assert 20 <= len(caught.value.call_id) <= 50
    return caught.value


def body_element_detail(document):
    detail = etree.fromstring(document).find(
        ".//{http://minameddelanden.gov.se/schema/Common/v3}applicationFault"
    )
    assert detail is not None, document
    return detail


def reachability(far_as, sender, recipient_id):
    return far_as(sender).is_reachable(sender, [recipient_id])[0]


class TestDemoWorldAsExempelkommun:
    def test_tolvan_is_reachable_at_syd_and_deliveries_go_to_syds_service(self, reference, far_as):
        status = reachability(far_as, EXEMPELKOMMUN, TOLVAN)
        assert (status.account_type, status.pending, status.sender_accepted) == (
            "Secure",
            False,
            True,
        )
        assert status.service_supplier.id == "16" + SYD
        assert status.service_supplier.name == "Brevlåda Syd AB"
        assert (
            status.service_supplier.service_address
            == reference.endpoints.operators["syd"].service_url
        )
        assert status.service_supplier.ui_address == reference.endpoints.operators["syd"].ui_url

    def test_anna_and_gustav_with_a_samordningsnummer_are_at_nord(self, reference, far_as):
        for recipient in (ANNA, GUSTAV):
            status = reachability(far_as, EXEMPELKOMMUN, recipient)
            assert status.account_type == "Secure"
            assert status.sender_accepted is True
            assert (
                status.service_supplier.service_address
                == reference.endpoints.operators["nord"].service_url
            )

    def test_bertil_refuses_exempelkommun_but_accepts_grannkommun(self, far_as):
        assert reachability(far_as, EXEMPELKOMMUN, BERTIL).sender_accepted is False
        assert reachability(far_as, GRANNKOMMUN, BERTIL).sender_accepted is True

    def test_cecilia_waits_for_activation(self, far_as):
        status = reachability(far_as, EXEMPELKOMMUN, CECILIA)
        assert (status.account_type, status.pending) == ("Secure", True)

    def test_david_hanna_and_a_company_without_mailbox_are_not_registered(self, far_as):
        for recipient in (DAVID, HANNA, UTAN_BREVLADA):
            status = reachability(far_as, EXEMPELKOMMUN, recipient)
            assert status.account_type == "Not"
            assert status.sender_accepted is False
            assert status.service_supplier is None

    def test_filip_under_18_is_reachable_far_knows_no_age(self, far_as):
        status = reachability(far_as, EXEMPELKOMMUN, FILIP)
        assert (status.account_type, status.sender_accepted) == ("Secure", True)

    def test_exempelbolaget_has_a_company_mailbox_at_nord(self, far_as):
        status = reachability(far_as, EXEMPELKOMMUN, EXEMPELBOLAGET)
        assert status.account_type == "Secure"
        assert status.service_supplier.id == "16" + NORD

    def test_eva_with_protected_identity_is_a_6006_fault(self, reference, mtls_client):
        response = post(
            mtls_client(EXEMPELKOMMUN),
            reference,
            is_reachable_request("16" + EXEMPELKOMMUN, [TOLVAN, EVA]),
        )
        fault = fault_of(response)
        assert fault.error_code == 6006
        assert EVA in fault.description

    def test_the_answer_validates_and_keeps_the_asked_order(self, reference, mtls_client):
        asked = [HANNA, TOLVAN, EXEMPELBOLAGET, DAVID, CECILIA]
        response = post(
            mtls_client(EXEMPELKOMMUN), reference, is_reachable_request("16" + EXEMPELKOMMUN, asked)
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        schemas.validate(body_element(response.content), schemas.recipient_v3())
        assert [s.recipient_id for s in parse_is_reachable_response(response.content)] == asked

    def test_an_intermediary_may_ask_for_another_sender(self, far_as):
        # Exempelkommun is a registered intermediary: it asks for Grannkommun's letters.
        assert far_as(EXEMPELKOMMUN).is_reachable(GRANNKOMMUN, [BERTIL])[0].sender_accepted is True


class TestOtherQuestions:
    def test_is_registered_answers_accounts_and_validates(self, reference, mtls_client, far_as):
        response = post(
            mtls_client(GRANNKOMMUN), reference, far.is_registered_request([TOLVAN, DAVID])
        )
        schemas.validate(body_element(response.content), schemas.recipient_v3())
        tolvan, david = far.parse_is_registered_response(response.content)
        assert (tolvan.account_type, tolvan.service_supplier.id) == ("Secure", "16" + SYD)
        assert (david.account_type, david.service_supplier) == ("Not", None)
        assert far_as(EXEMPELKOMMUN).is_registered([CECILIA])[0].pending is True

    def test_is_registered_refuses_a_protected_identity(self, far_as):
        with pytest.raises(SoapFault) as caught:
            far_as(EXEMPELKOMMUN).is_registered([EVA])
        assert caught.value.error_code == 6006

    def test_get_senders_lists_the_senders_and_no_operator(self, reference, mtls_client):
        response = post(mtls_client(SYD), reference, far.get_senders_request())
        schemas.validate(body_element(response.content), schemas.authority_service())
        senders = far.parse_get_senders_response(response.content)
        assert senders == [
            far.Sender(EXEMPELKOMMUN, "Exempelkommun"),
            far.Sender(GRANNKOMMUN, "Grannkommun"),
        ]

    def test_is_sender_accepted_is_true_only_for_registered_senders(
        self, reference, mtls_client, far_as
    ):
        response = post(mtls_client(NORD), reference, far.is_sender_accepted_request(GRANNKOMMUN))
        schemas.validate(body_element(response.content), schemas.authority_service())
        assert far.parse_is_sender_accepted_response(response.content) is True
        assert far_as(NORD).is_sender_accepted(SYD) is False
        assert far_as(NORD).is_sender_accepted(UNREGISTERED_ORGANISATION) is False

    def test_the_wsdl_names_this_far_and_its_schemas_resolve(self, reference, mtls_client):
        client = mtls_client(EXEMPELKOMMUN)
        wsdl = client.get(reference.endpoints.far_url + "?wsdl")
        assert wsdl.status_code == 200
        assert f'location="{reference.endpoints.far_url}"' in wsdl.text
        assert 'schemaLocation="schema/v3/Recipient.xsd"' in wsdl.text
        base = reference.endpoints.far_url.removesuffix("/far")
        xsd = client.get(base + "/schema/v3/Recipient.xsd")
        assert xsd.status_code == 200
        assert b'name="isReachable"' in xsd.content
        assert client.get(base + "/schema/../../settings.py").status_code == 404
        assert client.get(base + "/schema/%2e%2e/Recipient.wsdl").status_code == 404


class TestRejections:
    def test_a_certificate_of_an_organisation_not_in_far_is_refused(self, reference, tmp_path):
        issued = reference.pki.authority.issue_organisation(UNREGISTERED_ORGANISATION, "Okänd AB")
        bundle = tmp_path / "unknown.pem"
        write_pem_bundle(bundle, issued)
        context = ssl.create_default_context(cafile=str(reference.pki.ca_certificate))
        context.load_cert_chain(str(bundle))
        with (
            FarClient(reference.endpoints.far_url, context) as client,
            pytest.raises(SoapFault) as caught,
        ):
            client.is_reachable(UNREGISTERED_ORGANISATION, [TOLVAN])
        assert caught.value.error_code == 5002
        assert "ingen organisation som är registrerad i FaR" in caught.value.description

    def test_no_client_certificate_fails_before_any_answer(self, reference, mtls_client):
        client = mtls_client(certificate=False)
        with pytest.raises(httpx2.TransportError):
            post(client, reference, is_reachable_request("16" + EXEMPELKOMMUN, [TOLVAN]))

    def test_more_than_a_thousand_recipients_is_5005(self, reference, mtls_client):
        ids = "".join(f"<recipientId>{TOLVAN}</recipientId>" for _ in range(1001))
        request = (
            '<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            '<soap:Body><isReachable xmlns="http://minameddelanden.gov.se/schema/Recipient/v3">'
            f"<senderOrgNr>16{EXEMPELKOMMUN}</senderOrgNr>{ids}</isReachable></soap:Body></soap:Envelope>"
        ).encode()
        fault = fault_of(post(mtls_client(EXEMPELKOMMUN), reference, request))
        assert fault.error_code == 5005
        assert "1001 mottagare" in fault.description

    def test_exactly_a_thousand_recipients_are_answered(self, far_as):
        assert len(far_as(EXEMPELKOMMUN).is_reachable(EXEMPELKOMMUN, [TOLVAN] * 1000)) == 1000

    @pytest.mark.parametrize(
        "document", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"]
    )
    def test_entities_are_refused_as_invalid_input(self, reference, mtls_client, document):
        fault = fault_of(post(mtls_client(EXEMPELKOMMUN), reference, document))
        assert fault.error_code == 5001
        assert "DOCTYPE" in fault.description
        assert "root:" not in fault.description

    def test_an_unknown_sender_is_5014(self, far_as):
        with pytest.raises(SoapFault) as caught:
            far_as(EXEMPELKOMMUN).is_reachable(UNREGISTERED_ORGANISATION, [TOLVAN])
        assert caught.value.error_code == 5014
        assert "16" + UNREGISTERED_ORGANISATION in caught.value.description

    def test_a_sender_may_not_ask_on_behalf_of_another(self, far_as):
        with pytest.raises(SoapFault) as caught:
            far_as(GRANNKOMMUN).is_reachable(EXEMPELKOMMUN, [TOLVAN])
        assert caught.value.error_code == 5002
        assert "Grannkommun får inte fråga för avsändaren 162021004748" in caught.value.description

    @pytest.mark.parametrize(
        ("recipient_id", "message"),
        [
            ("19121212121", "följer inte schemat"),  # eleven digits
            ("1912121212AB", "följer inte schemat"),
            ("191212121213", "fel kontrollsiffra"),
        ],
    )
    def test_a_malformed_recipient_id_is_5001(self, far_as, recipient_id, message):
        with pytest.raises(SoapFault) as caught:
            far_as(EXEMPELKOMMUN).is_reachable(EXEMPELKOMMUN, [TOLVAN, recipient_id])
        assert caught.value.error_code == 5001
        assert message in caught.value.description

    def test_something_that_is_not_soap_is_5001(self, reference, mtls_client):
        fault = fault_of(
            post(mtls_client(EXEMPELKOMMUN), reference, b"<html><body>hej</body></html>")
        )
        assert fault.error_code == 5001
        assert "SOAP" in fault.description

    def test_an_operation_far_does_not_offer_is_5001_and_names_those_it_does(
        self, reference, mtls_client
    ):
        request = (
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<getPendingAccountRequest xmlns="http://minameddelanden.gov.se/schema/Recipient/v3">'
            b"<userIdentity>191212121212</userIdentity></getPendingAccountRequest></soap:Body></soap:Envelope>"
        )
        fault = fault_of(post(mtls_client(SYD), reference, request))
        assert fault.error_code == 5001
        assert "isReachable" in fault.description

    def test_a_request_over_two_megabytes_is_5001(self, reference, mtls_client):
        padding = b"<!--" + b"x" * (2 * 1024 * 1024) + b"-->"
        request = is_reachable_request("16" + EXEMPELKOMMUN, [TOLVAN]).replace(
            b"<soap:Body>", b"<soap:Body>" + padding
        )
        fault = fault_of(post(mtls_client(EXEMPELKOMMUN), reference, request))
        assert fault.error_code == 5001
        assert "större än 2 MB" in fault.description


class TestOperatorOperations:
    def test_syd_registers_david_then_deregisters_him(self, far_as):
        syd = far_as(SYD)
        syd.register(DAVID, DAVID)
        try:
            status = reachability(far_as, EXEMPELKOMMUN, DAVID)
            assert (status.account_type, status.pending, status.sender_accepted) == (
                "Secure",
                False,
                True,
            )
            assert status.service_supplier.id == "16" + SYD
        finally:
            syd.deregister(DAVID, DAVID)
        assert reachability(far_as, EXEMPELKOMMUN, DAVID).account_type == "Not"

    def test_register_activates_a_pending_account(self, reference, far_as):
        person = fresh_personnummer()
        reference.registry.register(SYD, person, pending=True)
        assert reachability(far_as, EXEMPELKOMMUN, person).pending is True
        far_as(SYD).register(person, person)
        assert reachability(far_as, EXEMPELKOMMUN, person).pending is False

    def test_register_answers_a_complete_signature_that_validates(self, reference, mtls_client):
        person = fresh_personnummer()
        request = far.register_request(
            far.RegisterRequest(
                far.AccountRequest(
                    person,
                    "Create",
                    "Jag vill ha digital post.",
                    dt.datetime.now(dt.UTC).date(),
                    "16" + SYD,
                ),
                "Secure",
                (far.SignatureData(b"sig", f"Simulerad e-legitimation för {person}"),),
            )
        )
        response = post(mtls_client(SYD), reference, request)
        assert response.status_code == 200
        schemas.validate(body_element(response.content), schemas.recipient_v3())
        result = far.parse_register_response(response.content)
        assert (result.recipient_id, result.status) == (person, "Complete")
        assert result.timestamp is not None

    def test_syd_may_not_deregister_an_account_at_nord(self, far_as):
        with pytest.raises(SoapFault) as caught:
            far_as(SYD).deregister(ANNA, ANNA)
        assert caught.value.error_code == 5003
        assert reachability(far_as, EXEMPELKOMMUN, ANNA).account_type == "Secure"

    def test_syd_may_not_read_the_preferences_of_an_account_at_nord(self, far_as):
        with pytest.raises(SoapFault) as caught:
            far_as(SYD).get_account_preferences(ANNA, ANNA)
        assert caught.value.error_code == 5003

    def test_syd_may_not_open_an_account_held_by_nord(self, far_as):
        with pytest.raises(SoapFault) as caught:
            far_as(SYD).register(ANNA, ANNA)
        assert caught.value.error_code == 5002
        assert "changeServiceSupplier" in caught.value.description

    @pytest.mark.parametrize("sender", [EXEMPELKOMMUN, GRANNKOMMUN])
    def test_a_sender_may_not_call_operator_operations(self, far_as, sender):
        person = fresh_personnummer()
        client = far_as(sender)
        for call in (
            lambda: client.register(person, person),
            lambda: client.deregister(TOLVAN, TOLVAN),
            lambda: client.get_account_preferences(TOLVAN, TOLVAN),
            lambda: client.change_service_supplier(TOLVAN, TOLVAN, NORD),
        ):
            with pytest.raises(SoapFault) as caught:
                call()
            assert caught.value.error_code == 5002
            assert "ingen brevlådeoperatör" in caught.value.description
        assert reachability(far_as, EXEMPELKOMMUN, person).account_type == "Not"

    def test_stored_preferences_decide_whom_the_recipient_accepts(self, far_as):
        person = fresh_personnummer()
        syd = far_as(SYD)
        syd.register(person, person)
        assert {s.number for s in syd.get_account_preferences(person, person)} == {
            EXEMPELKOMMUN,
            GRANNKOMMUN,
        }
        syd.store_account_preferences(person, person, [GRANNKOMMUN])
        refused = reachability(far_as, EXEMPELKOMMUN, person)
        assert refused.sender_accepted is False
        assert refused.last_sender_accept_change is not None
        assert reachability(far_as, GRANNKOMMUN, person).sender_accepted is True
        assert syd.get_account_preferences(person, person) == [
            far.Sender(GRANNKOMMUN, "Grannkommun")
        ]

    def test_preferences_naming_an_unknown_sender_are_5014(self, far_as):
        person = fresh_personnummer()
        syd = far_as(SYD)
        syd.register(person, person)
        with pytest.raises(SoapFault) as caught:
            syd.store_account_preferences(person, person, [GRANNKOMMUN, UNREGISTERED_ORGANISATION])
        assert caught.value.error_code == 5014
        assert reachability(far_as, EXEMPELKOMMUN, person).sender_accepted is True

    def test_change_service_supplier_moves_the_account_and_its_deliveries(self, reference, far_as):
        person = fresh_personnummer()
        far_as(SYD).register(person, person)
        far_as(SYD).change_service_supplier(person, person, NORD)
        moved = reachability(far_as, EXEMPELKOMMUN, person)
        assert (
            moved.service_supplier.service_address
            == reference.endpoints.operators["nord"].service_url
        )
        # The operator the account moves to may carry the wish too, naming the operator by
        # the host and port of its address.
        syd_location = reference.endpoints.operators["syd"].service_url.split("/")[2]
        far_as(SYD).change_service_supplier(person, person, syd_location)
        back = reachability(far_as, EXEMPELKOMMUN, person)
        assert back.service_supplier.id == "16" + SYD

    def test_change_to_an_operator_far_does_not_know_is_8004(self, far_as):
        person = fresh_personnummer()
        far_as(SYD).register(person, person)
        for name in (EXEMPELKOMMUN, "brevlada.example:443"):
            with pytest.raises(SoapFault) as caught:
                far_as(SYD).change_service_supplier(person, person, name)
            assert caught.value.error_code == 8004

    def test_a_third_operator_may_not_move_an_account(self, far_as):
        person = fresh_personnummer()
        far_as(SYD).register(person, person)
        with pytest.raises(SoapFault) as caught:
            far_as(NORD).change_service_supplier(person, person, SYD)
        assert caught.value.error_code == 5003
