"""Reason codes for every channel outcome, with the Swedish text a user reads.

The codes are stored on letters and events and returned by the precheck; the texts are what
an officer or a sending system sees next to them.
"""

from __future__ import annotations

REACHABLE = "reachable"
NOT_REGISTERED = "not_registered"
SENDER_NOT_ACCEPTED = "sender_not_accepted"
PENDING = "pending"
NO_OPERATOR = "no_operator"
UNDER_AGE = "under_age"
PROTECTED_IDENTITY = "protected_identity"
OPERATOR_NOT_ALLOWED = "operator_not_allowed"
FAR_ERROR = "far_error"
FAR_UNAVAILABLE = "far_unavailable"  # FaR did not answer: the letter waits (not an outcome)
PAPER_ONLY_POLICY = "paper_only_policy"
DELIVERY_REFUSED = "delivery_refused"
DEADLINE_PASSED = "deadline_passed"
CANCELLED = "cancelled"
# Why a paper letter cannot be printed (found by the print service).
DECEASED = "deceased"
EMIGRATED = "emigrated"
NO_ADDRESS = "no_address"
NOT_FOUND = "not_found"

TEXTS: dict[str, str] = {
    REACHABLE: "Mottagaren har en digital brevlåda som tar emot brev från avsändaren.",
    NOT_REGISTERED: "Mottagaren har ingen digital brevlåda.",
    SENDER_NOT_ACCEPTED: "Mottagaren har valt att inte ta emot digital post från avsändaren.",
    PENDING: "Mottagarens digitala brevlåda är inte aktiverad ännu.",
    NO_OPERATOR: "FaR anger ingen brevlådeoperatör med tjänsteadress för mottagaren.",
    UNDER_AGE: "Mottagaren är yngre än den lägsta åldern för digital post.",
    PROTECTED_IDENTITY: "Mottagaren har skyddad identitet; brevet går på papper via Skatteverket.",
    OPERATOR_NOT_ALLOWED: "Mottagarens brevlådeoperatör finns inte bland de tillåtna operatörerna.",
    FAR_ERROR: "FaR svarade med ett fel för mottagaren.",
    FAR_UNAVAILABLE: "FaR svarar inte just nu; brevet väntar och kanalen väljs när FaR "
    "svarar igen.",
    PAPER_ONLY_POLICY: "Brevet ska enligt avsändaren bara skickas på papper.",
    DELIVERY_REFUSED: "Brevlådeoperatören tog inte emot brevet.",
    DEADLINE_PASSED: "Brevet kunde inte levereras digitalt i tid och skickas på papper.",
    CANCELLED: "Avsändaren makulerade brevet innan något skickades.",
    DECEASED: "Mottagaren är avliden enligt folkbokföringen; brevet skrivs inte ut.",
    EMIGRATED: "Mottagaren är utvandrad enligt folkbokföringen; brevet skrivs inte ut.",
    NO_ADDRESS: "Folkbokföringen har ingen postadress för mottagaren och brevet saknar adress.",
    NOT_FOUND: "Mottagaren finns inte i folkbokföringen och brevet saknar adress.",
}


def text_for(reason: str) -> str:
    """The Swedish text for a reason code (the code itself for one that is not known)."""
    return TEXTS.get(reason, reason)
