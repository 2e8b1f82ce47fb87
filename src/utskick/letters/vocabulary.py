"""The letter's vocabulary, each word named once: states, policies and reasons.

These strings are stored in the database (letters, events, print items), sent to sending
systems (API answers, webhooks) and counted by the statistics, so a value never changes once
released; a new word is added here and nowhere else. Every other module imports the names.

The API's `State` and `Policy` types are `Literal`s, which a type checker can only read when
they are spelled out: a `Literal` cannot be built from a tuple. So each type is written once
here, the tuple beside it is typed with it (mypy refuses a member that is not in the type),
and `tests/unit/letters/test_vocabulary.py` checks that the tuple and the type hold the same
values in the same order (the order the OpenAPI description lists them in).

Job kinds are not here: they are the job queue's vocabulary (`utskick.jobs.queue`), and
include batch jobs that are no letter's business.
"""

from __future__ import annotations

from typing import Final, Literal

State = Literal[
    "received",
    "classified",
    "retrying",
    "delivered",
    "paper",
    "batched",
    "handed_to_print",
    "printed",
    "impossible",
    "not_reachable",
    "failed",
    "cancelled",
]
Policy = Literal["digital-or-paper", "digital-only", "paper-only"]

# --- states: the steps of a letter's life. Terminal ones end it on its channel. -------------

RECEIVED: Final = "received"
CLASSIFIED: Final = "classified"  # channel chosen: digital, paper or none, with a reason
RETRYING: Final = "retrying"  # a delivery attempt failed for a reason that may pass
DELIVERED: Final = "delivered"  # the operator answered Delivered=true (terminal)
PAPER: Final = "paper"  # goes on paper: the print service looks up its address next
BATCHED: Final = "batched"  # addressed, in a print batch (a vendor's, or a local exception list)
HANDED_TO_PRINT: Final = "handed_to_print"  # its batch is in the print vendor's drop (terminal)
PRINTED: Final = "printed"  # printed locally from an exception list (terminal)
IMPOSSIBLE: Final = "impossible"  # cannot go on paper: deceased, emigrated, no address (terminal)
NOT_REACHABLE: Final = "not_reachable"  # digital-only and not reachable: nothing sent (terminal)
FAILED: Final = "failed"  # refused for good and no paper by policy (terminal)
CANCELLED: Final = "cancelled"  # cancelled by the sender before anything went out (terminal)

STATES: Final[tuple[State, ...]] = (
    RECEIVED,
    CLASSIFIED,
    RETRYING,
    DELIVERED,
    PAPER,
    BATCHED,
    HANDED_TO_PRINT,
    PRINTED,
    IMPOSSIBLE,
    NOT_REACHABLE,
    FAILED,
    CANCELLED,
)
TERMINAL_STATES: Final[frozenset[State]] = frozenset(
    {DELIVERED, HANDED_TO_PRINT, PRINTED, IMPOSSIBLE, NOT_REACHABLE, FAILED, CANCELLED}
)
# What a person reads for each state (pages, CLI): a short Swedish phrase.
STATE_TEXTS: Final[dict[str, str]] = {
    RECEIVED: "mottaget",
    CLASSIFIED: "kanal vald",
    RETRYING: "försöker igen",
    DELIVERED: "levererat digitalt",
    PAPER: "skickas på papper",
    BATCHED: "i utskriftsbatch",
    HANDED_TO_PRINT: "lämnat till tryckeriet",
    PRINTED: "utskrivet",
    IMPOSSIBLE: "kan inte skickas på papper",
    NOT_REACHABLE: "inte nåbar (inget skickat)",
    FAILED: "misslyckades",
    CANCELLED: "makulerat",
}
# A letter's channel (Letter.channel) as a person reads it; a letter has none until classified.
CHANNEL_TEXTS: Final[dict[str, str]] = {"digital": "digitalt", "paper": "papper", "none": "ingen"}
# On the way to print: the channel is decided, no digital attempt follows.
PRINT_STATES: Final[frozenset[State]] = frozenset({PAPER, BATCHED})
# Everything past the channel decision: the relay leaves such a letter alone.
SETTLED_STATES: Final[frozenset[State]] = TERMINAL_STATES | PRINT_STATES
# Where a caller waiting for a letter's outcome stops: final, or addressed and in a print batch
# (which is handed over on the print route's schedule, perhaps hours later).
OUTCOME_KNOWN_STATES: Final[frozenset[State]] = TERMINAL_STATES | {BATCHED}

# --- policies: what the sender wants when the recipient cannot be reached digitally. ---------

DIGITAL_OR_PAPER: Final = "digital-or-paper"  # paper instead (the default)
DIGITAL_ONLY: Final = "digital-only"  # nothing: a notification that only makes sense digitally
PAPER_ONLY: Final = "paper-only"  # always paper; FaR is not asked

POLICIES: Final[tuple[Policy, ...]] = (DIGITAL_OR_PAPER, DIGITAL_ONLY, PAPER_ONLY)

# How a letter goes on paper (`Letter.paper_layout`): by default (None) with our address page
# before its paper attachments; a print file's letter whose first page already carries the
# address in the envelope window is printed as it is.
ADDRESS_IN_WINDOW: Final = "address-in-window"
PAPER_LAYOUTS: Final[tuple[str, ...]] = (ADDRESS_IN_WINDOW,)

# --- reasons: why a letter took its channel or ended as it did. ------------------------------
# Stored on letters and events, returned by the precheck; the texts are what an officer or a
# sending system reads next to them.

# The digital-or-paper rule's answer for a recipient (utskick.switch).
REACHABLE: Final = "reachable"
NOT_REGISTERED: Final = "not_registered"
SENDER_NOT_ACCEPTED: Final = "sender_not_accepted"
PENDING: Final = "pending"
NO_OPERATOR: Final = "no_operator"
UNDER_AGE: Final = "under_age"
PROTECTED_IDENTITY: Final = "protected_identity"
OPERATOR_NOT_ALLOWED: Final = "operator_not_allowed"
FAR_ERROR: Final = "far_error"
FAR_UNAVAILABLE: Final = "far_unavailable"  # FaR did not answer: the letter waits (not an outcome)
PAPER_ONLY_POLICY: Final = "paper_only_policy"
# What became of a digital delivery (utskick.relay).
DELIVERY_REFUSED: Final = "delivery_refused"
DEADLINE_PASSED: Final = "deadline_passed"
# A cancelled letter's reason is its state's name, CANCELLED.
# Why a paper letter cannot be printed (found by the print service).
DECEASED: Final = "deceased"
EMIGRATED: Final = "emigrated"
NO_ADDRESS: Final = "no_address"
NOT_FOUND: Final = "not_found"
# What the records work adds to a letter that has ended (an event that changes no state).
REGISTERED: Final = "registered"  # the case or records system registered the letter
REGISTRATION_FILE: Final = "registration_file"  # in the day's registration file for import
# What happened to one of the letter's jobs (an event that changes no state).
JOB_FAILED: Final = "job_failed"  # gave up after job_max_attempts; an operator retries it
JOB_RETRIED: Final = "job_retried"
JOB_CANCELLED: Final = "job_cancelled"

REASONS: Final[tuple[str, ...]] = (
    REACHABLE,
    NOT_REGISTERED,
    SENDER_NOT_ACCEPTED,
    PENDING,
    NO_OPERATOR,
    UNDER_AGE,
    PROTECTED_IDENTITY,
    OPERATOR_NOT_ALLOWED,
    FAR_ERROR,
    FAR_UNAVAILABLE,
    PAPER_ONLY_POLICY,
    DELIVERY_REFUSED,
    DEADLINE_PASSED,
    CANCELLED,
    DECEASED,
    EMIGRATED,
    NO_ADDRESS,
    NOT_FOUND,
    REGISTERED,
    REGISTRATION_FILE,
    JOB_FAILED,
    JOB_RETRIED,
    JOB_CANCELLED,
)
REASON_TEXTS: Final[dict[str, str]] = {
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
    REGISTERED: "Brevet är registrerat i diariet eller verksamhetens ärendesystem.",
    REGISTRATION_FILE: "Brevet finns med i dagens registreringsfil till diariet eller "
    "ärendesystemet.",
    JOB_FAILED: "Ett jobb för brevet gav upp efter för många försök; en administratör behöver "
    "köra om det (utskick jobs retry).",
    JOB_RETRIED: "En administratör körde om ett jobb för brevet som hade gett upp.",
    JOB_CANCELLED: "En administratör avbröt ett jobb för brevet.",
}
# The reasons paper is impossible (a letter's reason when it ends IMPOSSIBLE), with the short
# Swedish names the statistics show.
IMPOSSIBLE_REASONS: Final[dict[str, str]] = {
    DECEASED: "avliden",
    EMIGRATED: "utvandrad",
    NO_ADDRESS: "adress saknas",
    NOT_FOUND: "finns inte i folkbokföringen",
}


def text_for(reason: str) -> str:
    """The Swedish text for a reason code (the code itself for one that is not known)."""
    return REASON_TEXTS.get(reason, reason)


def state_text(state: str) -> str:
    """The Swedish phrase for a state (the code itself for one that is not known)."""
    return STATE_TEXTS.get(state, state)


def channel_text(channel: str | None) -> str:
    """The Swedish word for a letter's channel; "inte vald än" before it is chosen."""
    if channel is None:
        return "inte vald än"
    return CHANNEL_TEXTS.get(channel, channel)
