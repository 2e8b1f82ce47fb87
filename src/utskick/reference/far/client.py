"""A FaR client over mutual TLS, for the reference mailbox operators (and the tests).

Each method sends one SOAP request with `mm.far` / `mm.soap` and reads the answer; a fault
from FaR is raised as `mm.soap.SoapFault` with its ErrorCode, Description and CallId.

Test mode: the account operations carry the citizen's e-ID signature. The reference mailbox
logs citizens in with a simulated e-ID, so `simulated_signature` stands in for it: a digest
of the agreement text and the user's identity, with a certificate text that says it is a
simulation. The reference FaR requires a signature but does not verify it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from types import TracebackType
from typing import Self

import httpx2

from utskick.mm import far
from utskick.mm.soap import (
    SOAP_HEADERS,
    ReachabilityStatus,
    SoapError,
    is_reachable_request,
    parse_is_reachable_response,
)
from utskick.reference.context import ReferenceContext

_HTTP_OK = 200
_HTTP_FAULT = 500

REGISTER_AGREEMENT = (
    "Jag vill ta emot digital post från myndigheter, kommuner och regioner i min brevlåda."
)
DEREGISTER_AGREEMENT = "Jag vill avsluta min brevlåda och inte längre ta emot digital post i den."
PREFERENCES_AGREEMENT = "Jag vill ta emot digital post från de avsändare jag har valt."


def simulated_signature(agreement_text: str, user_identity: str) -> far.SignatureData:
    """The simulated e-ID signature of a user over an agreement text (test mode only)."""
    digest = hashlib.sha256(f"{user_identity}\n{agreement_text}".encode()).digest()
    return far.SignatureData(
        signature=digest,
        certificate=f"Simulerad e-legitimation för {user_identity} (testläge, ingen riktig "
        "underskrift)",
    )


def organisation_id(number: str) -> str:
    """The wire id (16 + 10 digits) of an organisationsnummer given with or without 16."""
    value = number.strip().replace("-", "")
    return value if len(value) == len(far.ORGANISATION_PREFIX) + 10 else "16" + value


class FarClient:
    """Calls FaR's SOAP service at `url` with the organisation's TLS client certificate.

    Args:
        url: FaR's SOAP address (`context.endpoints.far_url`).
        ssl_context: trusts FaR's server certificate and holds the client certificate.
        operator_number: the calling operator's organisationsnummer, written into account
            requests as their ServiceSupplier (FaR itself goes by the client certificate).
        timeout: seconds to wait for FaR.
    """

    def __init__(
        self,
        url: str,
        ssl_context: ssl.SSLContext,
        *,
        operator_number: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self._operator_id = organisation_id(operator_number) if operator_number else ""
        self._http = httpx2.Client(verify=ssl_context, timeout=timeout)

    def close(self) -> None:
        """Close the connection to FaR."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _call(self, request: bytes) -> bytes:
        """Send one SOAP request; the answer's bytes (a fault is left for the parser to raise).

        Raises:
            SoapError: FaR answered with an HTTP status that carries no SOAP answer.
            httpx2.HTTPError: the connection failed.
        """
        response = self._http.post(self.url, content=request, headers=SOAP_HEADERS)
        if response.status_code not in (_HTTP_OK, _HTTP_FAULT):
            raise SoapError(f"FaR svarade HTTP {response.status_code}: {response.text[:200]}")
        return response.content

    # --- sender side ----------------------------------------------------------------------

    def is_reachable(
        self, sender_number: str, recipient_ids: list[str]
    ) -> list[ReachabilityStatus]:
        """Whether each recipient can get digital mail from this sender (≤ 1,000 ids)."""
        request = is_reachable_request(organisation_id(sender_number), recipient_ids)
        return parse_is_reachable_response(self._call(request))

    def is_registered(self, recipient_ids: list[str]) -> list[far.AccountStatus]:
        """Each recipient's account, whoever the sender (≤ 1,000 ids)."""
        return far.parse_is_registered_response(
            self._call(far.is_registered_request(recipient_ids))
        )

    def get_senders(self) -> list[far.Sender]:
        """Every sender registered in FaR (Authority getSenders)."""
        return far.parse_get_senders_response(self._call(far.get_senders_request()))

    def is_sender_accepted(self, sender_number: str) -> bool:
        """Whether the organisation is a registered sender (Authority isSenderAccepted)."""
        number = organisation_id(sender_number)[len(far.ORGANISATION_PREFIX) :]
        return far.parse_is_sender_accepted_response(
            self._call(far.is_sender_accepted_request(number))
        )

    # --- operator side --------------------------------------------------------------------

    def get_account_preferences(self, recipient_id: str, user_identity: str) -> list[far.Sender]:
        """The senders the recipient accepts mail from (an account at the calling operator)."""
        query = far.AccountPreferencesQuery(recipient_id, user_identity)
        answer = far.parse_get_account_preferences_response(
            self._call(far.get_account_preferences_request(query))
        )
        return list(answer.accepted_senders)

    def store_account_preferences(
        self, recipient_id: str, user_identity: str, accepted_sender_numbers: list[str]
    ) -> None:
        """Accept exactly these senders (organisationsnummer); all others are opted out."""
        # The contract sends each sender with its name: take the names FaR publishes.
        names = {sender.number: sender.name for sender in self.get_senders()}
        numbers = [
            organisation_id(n)[len(far.ORGANISATION_PREFIX) :] for n in accepted_sender_numbers
        ]
        senders = tuple(far.Sender(n, names.get(n, organisation_id(n))) for n in numbers)
        request = far.StoreAccountPreferencesRequest(
            recipient_id=recipient_id,
            user_identity=user_identity,
            preferences=far.AccountPreferences(recipient_id, senders),
            agreement_text=PREFERENCES_AGREEMENT,
            signatures=(simulated_signature(PREFERENCES_AGREEMENT, user_identity),),
        )
        far.parse_store_account_preferences_response(
            self._call(far.store_account_preferences_request(request))
        )

    def register(self, recipient_id: str, user_identity: str) -> None:
        """Open the recipient's account at the calling operator, or activate a pending one."""
        request = far.RegisterRequest(
            account_request=self._account_request(recipient_id, "Create", REGISTER_AGREEMENT),
            account_type="Secure",
            signatures=(simulated_signature(REGISTER_AGREEMENT, user_identity),),
        )
        far.parse_register_response(self._call(far.register_request(request)))

    def deregister(self, recipient_id: str, user_identity: str) -> None:
        """Close the recipient's account at the calling operator."""
        request = far.DeregisterRequest(
            account_request=self._account_request(recipient_id, "Delete", DEREGISTER_AGREEMENT),
            signatures=(simulated_signature(DEREGISTER_AGREEMENT, user_identity),),
        )
        far.parse_deregister_response(self._call(far.deregister_request(request)))

    def change_service_supplier(
        self, recipient_id: str, user_identity: str, new_operator_domain_or_number: str
    ) -> None:
        """Move the recipient's account to another operator.

        The new operator is named by its organisationsnummer or by the host and port of its
        address (the contract's "internet domain").
        """
        agreement = f"Jag vill flytta min brevlåda till {new_operator_domain_or_number}."
        request = far.ChangeServiceSupplierRequest(
            recipient_id=recipient_id,
            user_identity=user_identity,
            service_supplier=new_operator_domain_or_number,
            agreement_text=agreement,
            signatures=(simulated_signature(agreement, user_identity),),
        )
        far.parse_change_service_supplier_response(
            self._call(far.change_service_supplier_request(request))
        )

    def _account_request(
        self, recipient_id: str, request_type: str, agreement: str
    ) -> far.AccountRequest:
        return far.AccountRequest(
            recipient_id=recipient_id,
            request_type=request_type,
            agreement_text=agreement,
            timestamp=dt.datetime.now(dt.UTC).date(),
            service_supplier=self._operator_id,
        )


def mutual_tls_context(context: ReferenceContext, organisation_number: str) -> ssl.SSLContext:
    """An SSL context trusting the demo CA and presenting the organisation's certificate."""
    ssl_context = ssl.create_default_context(cafile=str(context.pki.ca_certificate))
    ssl_context.load_cert_chain(str(context.pki.key_and_certificate(organisation_number)))
    return ssl_context


def far_client_for(context: ReferenceContext, organisation_number: str) -> FarClient:
    """A FaR client that calls as this demo organisation (its certificate from the demo PKI)."""
    organisation = context.registry.organisation(organisation_number)
    operator_number = (
        organisation_number if organisation is not None and organisation.operator else None
    )
    return FarClient(
        context.endpoints.far_url,
        mutual_tls_context(context, organisation_number),
        operator_number=operator_number,
    )
