"""XML namespaces of the Mina meddelanden contracts and of the standards they use."""

from typing import Final

_BASE: Final = "http://minameddelanden.gov.se/schema"

MESSAGE: Final = f"{_BASE}/Message"
MESSAGE_V2: Final = f"{_BASE}/Message/v2"
MESSAGE_V3: Final = f"{_BASE}/Message/v3"
SENDER: Final = f"{_BASE}/Sender"
RECIPIENT: Final = f"{_BASE}/Recipient"
RECIPIENT_V2: Final = f"{_BASE}/Recipient/v2"
RECIPIENT_V3: Final = f"{_BASE}/Recipient/v3"
AUTHORITY: Final = f"{_BASE}/Authority"
COMMON: Final = f"{_BASE}/Common"
SERVICE: Final = f"{_BASE}/Service"
SERVICE_V3: Final = f"{_BASE}/Service/v3"
NOTIFICATION_V2: Final = f"{_BASE}/Notification/v2"
NOTIFICATION_V3: Final = f"{_BASE}/Notification/v3"
OFFICIAL_MATTER_V3: Final = f"{_BASE}/OfficialMatter/v3"
COMMON_V3: Final = f"{_BASE}/Common/v3"
# The Authority web service (getSenders, isSenderAccepted): a service namespace outside
# `/schema`, whose children are unqualified (see `mm.far`).
AUTHORITY_SERVICE: Final = "http://minameddelanden.gov.se/Authority"

DSIG: Final = "http://www.w3.org/2000/09/xmldsig#"
SOAP_ENV: Final = "http://schemas.xmlsoap.org/soap/envelope/"

# The prefixes of the prefixed wire form (`mm.soap.WireForm.PREFIXED`), as a JAXB sender with
# named prefixes writes them. Only the wire uses them: what is signed is always prefix-free.
# `ds` is the prefix every XML-signature tool and tutorial uses, so a receiver that looks for
# `ds:Signature` by its qualified name finds it.
WIRE_PREFIXES: Final[dict[str, str]] = {
    SERVICE_V3: "svc",
    MESSAGE_V3: "v3",
    MESSAGE_V2: "v2",
    MESSAGE: "msg",
    SENDER: "snd",
    OFFICIAL_MATTER_V3: "om",
    DSIG: "ds",
}


def qname(namespace: str, local: str) -> str:
    """Clark notation `{namespace}local`, as lxml names elements."""
    return f"{{{namespace}}}{local}"
