"""Contract tests: every FaR request and response validates against the XSDs and reads back."""

import datetime as dt
import re

import pytest
from lxml import etree

from utskick.mm import far, schemas
from utskick.mm.soap import (
    AccountStatus,
    ServiceSupplier,
    SoapError,
    SoapFault,
    body_element,
    fault_response,
)

SYD = ServiceSupplier(
    id="165569990012",
    name="Brevlåda Syd AB",
    service_address="https://127.0.0.1:8442/service/v3",
    internal_service_address="https://127.0.0.1:8442/service/v3",
    ui_address="http://127.0.0.1:8081/",
)
SIGNATURE = far.SignatureData(
    b"\x01\x02underskrift", "Simulerad e-legitimation för 191212121212", "n-1"
)
EXEMPELKOMMUN = far.Sender("2021004748", "Exempelkommun")
GRANNKOMMUN = far.Sender("2021009903", "Grannkommun")
COMPLETE = far.SignatureAuthorizationResult(
    recipient_id="191212121212",
    status="Complete",
    timestamp=dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC),
    text="Testläge",
)


def valid(document, schema):
    """The body element of a SOAP document, after checking it against the schema."""
    content = body_element(document)
    schemas.validate(content, schema)
    return content


def prefixes(document):
    """Namespace prefixes used anywhere below the SOAP Body (the wire must have none)."""
    body = body_element(document)
    return {element.prefix for element in body.iter() if element.prefix is not None}


class TestIsRegistered:
    def test_request_validates_and_reads_back(self):
        request = far.is_registered_request(["191212121212", "165569990038"])
        valid(request, schemas.recipient_v3())
        assert far.parse_is_registered_request(request) == ["191212121212", "165569990038"]

    def test_response_validates_and_reads_back(self):
        statuses = [
            AccountStatus(
                "191212121212",
                "Secure",
                pending=False,
                service_supplier=SYD,
                last_registration=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            ),
            AccountStatus("199003153146", "Secure", pending=True, service_supplier=SYD),
            AccountStatus("196611090827", "Not", pending=False),
        ]
        response = far.is_registered_response(statuses)
        valid(response, schemas.recipient_v3())
        assert far.parse_is_registered_response(response) == statuses
        assert prefixes(response) == set()

    def test_the_connector_cannot_ask_for_none_or_more_than_a_thousand(self):
        with pytest.raises(ValueError, match="minst en"):
            far.is_registered_request([])
        with pytest.raises(ValueError, match="högst 1000"):
            far.is_registered_request(["191212121212"] * 1001)


class TestGetAccountPreferences:
    def test_request_validates_and_reads_back(self):
        query = far.AccountPreferencesQuery("191212121212", "191212121212")
        request = far.get_account_preferences_request(query)
        valid(request, schemas.recipient_v3())
        assert far.parse_get_account_preferences_request(request) == query

    def test_response_validates_and_reads_back(self):
        preferences = far.AccountPreferences("191212121212", (EXEMPELKOMMUN, GRANNKOMMUN))
        response = far.get_account_preferences_response(preferences)
        content = valid(response, schemas.recipient_v3())
        assert far.parse_get_account_preferences_response(response) == preferences
        # The senders are Sender.xsd elements: Id is 16 + organisationsnummer.
        ids = content.findall(".//{http://minameddelanden.gov.se/schema/Sender}Id")
        assert [i.text for i in ids] == ["162021004748", "162021009903"]

    def test_a_recipient_who_accepts_nobody_has_an_empty_list(self):
        response = far.get_account_preferences_response(far.AccountPreferences("191212121212", ()))
        valid(response, schemas.recipient_v3())
        assert far.parse_get_account_preferences_response(response).accepted_senders == ()


def account_request(kind):
    return far.AccountRequest(
        recipient_id="191212121212",
        request_type=kind,
        agreement_text="Jag vill ta emot digital post.",
        timestamp=dt.date(2026, 3, 1),
        service_supplier="165569990012",
    )


class TestRegister:
    def test_request_validates_and_reads_back(self):
        request_value = far.RegisterRequest(account_request("Create"), "Secure", (SIGNATURE,))
        request = far.register_request(request_value)
        valid(request, schemas.recipient_v3())
        assert far.parse_register_request(request) == request_value
        assert prefixes(request) == set()

    def test_response_validates_and_reads_back(self):
        response = far.register_response(COMPLETE)
        valid(response, schemas.recipient_v3())
        assert far.parse_register_response(response) == COMPLETE

    def test_a_request_without_signature_breaks_the_contract(self):
        request = far.register_request(far.RegisterRequest(account_request("Create"), "Secure", ()))
        with pytest.raises(schemas.SchemaValidationError, match="signature"):
            valid(request, schemas.recipient_v3())


class TestDeregister:
    def test_request_validates_and_reads_back(self):
        request_value = far.DeregisterRequest(account_request("Delete"), (SIGNATURE, SIGNATURE))
        request = far.deregister_request(request_value)
        valid(request, schemas.recipient_v3())
        assert far.parse_deregister_request(request) == request_value

    def test_response_validates_and_reads_back(self):
        minimal = far.SignatureAuthorizationResult()
        for result in (COMPLETE, minimal):
            response = far.deregister_response(result)
            valid(response, schemas.recipient_v3())
            assert far.parse_deregister_response(response) == result


class TestStoreAccountPreferences:
    def test_request_validates_and_reads_back(self):
        request_value = far.StoreAccountPreferencesRequest(
            recipient_id="197501012475",
            user_identity="197501012475",
            preferences=far.AccountPreferences("197501012475", (GRANNKOMMUN,)),
            agreement_text="Jag vill ta emot digital post från de avsändare jag har valt.",
            signatures=(SIGNATURE,),
        )
        request = far.store_account_preferences_request(request_value)
        valid(request, schemas.recipient_v2())
        assert far.parse_store_account_preferences_request(request) == request_value
        assert prefixes(request) == set()

    def test_response_validates_and_reads_back(self):
        response = far.store_account_preferences_response(COMPLETE)
        valid(response, schemas.recipient_v2())
        assert far.parse_store_account_preferences_response(response) == COMPLETE


class TestChangeServiceSupplier:
    def test_request_validates_and_reads_back(self):
        request_value = far.ChangeServiceSupplierRequest(
            recipient_id="191212121212",
            user_identity="191212121212",
            service_supplier="127.0.0.1:8443",
            agreement_text="Jag vill flytta min brevlåda.",
            signatures=(SIGNATURE,),
        )
        request = far.change_service_supplier_request(request_value)
        valid(request, schemas.recipient_v2())
        assert far.parse_change_service_supplier_request(request) == request_value

    def test_response_validates_and_reads_back(self):
        response = far.change_service_supplier_response(COMPLETE)
        valid(response, schemas.recipient_v2())
        assert far.parse_change_service_supplier_response(response) == COMPLETE


class TestAuthority:
    def test_get_senders_request_validates(self):
        request = far.get_senders_request()
        far.read_get_senders_request(valid(request, schemas.authority_service()))

    def test_get_senders_response_validates_and_reads_back(self):
        senders = [EXEMPELKOMMUN, far.Sender("2021009903", "Grann & Söner <kommun>")]
        response = far.get_senders_response(senders)
        valid(response, schemas.authority_service())
        assert far.parse_get_senders_response(response) == senders
        assert prefixes(response) == set()

    def test_return_and_arg0_are_unqualified_as_the_authority_schema_has_them(self):
        content = body_element(far.get_senders_response([EXEMPELKOMMUN]))
        assert content.tag == "{http://minameddelanden.gov.se/Authority}getSendersResponse"
        assert content[0].tag == "return"
        assert content[0][0].tag == "{http://minameddelanden.gov.se/schema/Sender}Id"
        request = body_element(far.is_sender_accepted_request("2021004748"))
        assert request[0].tag == "arg0"
        assert request[0].text == "162021004748"

    def test_is_sender_accepted_request_validates_and_reads_back(self):
        request = far.is_sender_accepted_request("2021009903")
        valid(request, schemas.authority_service())
        assert far.parse_is_sender_accepted_request(request) == "2021009903"

    @pytest.mark.parametrize("accepted", [True, False])
    def test_is_sender_accepted_response_validates_and_reads_back(self, accepted):
        response = far.is_sender_accepted_response(accepted)
        valid(response, schemas.authority_service())
        assert far.parse_is_sender_accepted_response(response) is accepted

    def test_a_personnummer_is_not_a_sender(self):
        request = far.is_sender_accepted_request("1212121212")
        request = request.replace(b"161212121212", b"191212121212")
        with pytest.raises(schemas.SchemaValidationError):
            valid(request, schemas.authority_service())
        with pytest.raises(SoapError, match="inget organisations-id"):
            far.parse_is_sender_accepted_request(request)


class TestReading:
    def test_a_parser_refuses_the_answer_of_another_operation(self):
        with pytest.raises(SoapError, match="väntade registerResponse"):
            far.parse_register_response(far.deregister_response(COMPLETE))

    def test_a_fault_from_far_is_raised_with_its_error_code(self):
        fault = fault_response(SoapFault(5002, "åtkomst nekad", "c" * 32))
        for parse in (
            far.parse_is_registered_response,
            far.parse_get_senders_response,
            far.parse_register_response,
            far.parse_store_account_preferences_response,
        ):
            with pytest.raises(SoapFault) as caught:
                parse(fault)
            assert caught.value.error_code == 5002

    def test_a_signature_that_is_not_base64_is_refused(self):
        request = far.register_request(
            far.RegisterRequest(account_request("Create"), "Secure", (SIGNATURE,))
        )
        broken = re.sub(
            rb"<Signature xmlns=\"[^\"]+\">[^<]+<",
            b'<Signature xmlns="http://minameddelanden.gov.se/schema/Common">***<',
            request,
        )
        assert broken != request
        with pytest.raises(SoapError, match="inte base64"):
            far.parse_register_request(broken)

    def test_requests_are_read_with_the_hardened_parser(self):
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<getSenders xmlns="http://minameddelanden.gov.se/Authority">&lol;</getSenders>'
            b"</soap:Body></soap:Envelope>"
        )
        with pytest.raises(ValueError, match="DOCTYPE"):
            far.parse_is_registered_request(bomb)

    def test_requests_are_utf8_soap_without_a_byte_order_mark(self):
        request = far.register_request(
            far.RegisterRequest(account_request("Create"), "Secure", (SIGNATURE,))
        )
        assert request.startswith(b'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope')
        assert (
            etree.fromstring(request).tag == "{http://schemas.xmlsoap.org/soap/envelope/}Envelope"
        )
