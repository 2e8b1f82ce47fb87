"""The test world: who is in it, the reference infrastructure it runs on, and the fakes that
stand in for the connector's ports.

Persons and organisations are the demo world's (`utskick.reference.world`,
docs/test-identities.md), by the 12-digit ids the wire and the database use; fresh persons
are made here too, valid and unlike any demo person. The reference runs on free loopback
ports with a home of its own. The fakes answer as FaR, a mailbox operator, the population
register, the precheck and a clock would, without a network.
"""

from __future__ import annotations

import datetime as dt
import itertools
import ssl
from contextlib import contextmanager

import httpx2
from lxml import etree

from utskick.identity import luhn_check_digit
from utskick.letters import vocabulary
from utskick.mm import namespaces as ns
from utskick.mm.soap import DeliveryResult, DeliveryStatus, ReachabilityStatus
from utskick.printing.addresses import AddressSourceUnavailableError
from utskick.reference import world as demo
from utskick.reference.context import build_context
from utskick.reference.runner import ReferenceInfrastructure, free_loopback_ports
from utskick.reference.settings import ReferenceSettings
from utskick.senders.models import SenderOrganisation
from utskick.switch.far import FarUnavailableError, Reachability
from utskick.switch.precheck import Decision

# --- organisations (10 digits) and persons (12 digits) --------------------------------------

EXEMPELKOMMUN = demo.EXEMPELKOMMUN  # sender and intermediary
GRANNKOMMUN = demo.GRANNKOMMUN  # sender
SYD = demo.SYD  # mailbox operator Brevlåda Syd
NORD = demo.NORD  # mailbox operator Brevlåda Nord

TOLVAN = "191212121212"  # Syd, accepts all
ANNA = "198004232388"  # Nord; signatory of Exempelbolaget
BERTIL = "197501012475"  # Syd, opted out of Exempelkommun
CECILIA = "199003153146"  # Syd, pending
DAVID = "196611090827"  # not registered; has a postal address
EVA = "198512304166"  # protected identity
FILIP = "201206143230"  # Syd, under 18
GUSTAV = "197001632392"  # samordningsnummer, Nord
HANNA = "195807183529"  # deceased
JONAS = "197604122387"  # emigrated
LENA = "198807192466"  # no postal address
IDA = "199302281465"  # Syd
KARIN = "198101052382"  # Syd; the recipient of the real signed sample
EXEMPELBOLAGET = "165569990038"  # company mailbox at Nord
UTAN_BREVLADA = "165566778899"  # a company without a mailbox

# The fixed moment of tests that do not care which day it is.
NOW = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)

_SENDER_NAMES = {EXEMPELKOMMUN: "Exempelkommun", GRANNKOMMUN: "Grannkommun"}


def sender_organisation(number=EXEMPELKOMMUN, **fields):
    """A demo sender as the connector's database holds it (no key file unless given)."""
    name = _SENDER_NAMES[number]
    values = {"support_text": f"Frågor? Ring {name}s kontaktcenter.", "created_at": NOW}
    return SenderOrganisation(organisation_number=number, name=name, **{**values, **fields})


# Fresh ids count up from one per process: unique in it, clear of every demo id.
_fresh = itertools.count(1)
_FIRST_FRESH_BIRTH = dt.date(1945, 5, 5)


def with_check_digit(nine_digits: str) -> str:
    """The nine digits followed by their Luhn check digit."""
    return nine_digits + str(luhn_check_digit(nine_digits))


def fresh_personnummer() -> str:
    """A valid personnummer (12 digits) of an adult no demo person or earlier call has."""
    number = next(_fresh)
    born = _FIRST_FRESH_BIRTH + dt.timedelta(days=number // 900)
    ten = with_check_digit(f"{born:%y%m%d}{100 + number % 900:03d}")
    return f"{born.year // 100}{ten}"


def fresh_organisation_number() -> str:
    """A valid organisationsnummer (10 digits) that no demo organisation has."""
    return with_check_digit(f"55698{next(_fresh) % 10_000:04d}")


# --- the reference infrastructure on free ports --------------------------------------------

# Every port the reference listens on (FaR, the population register, each operator's service
# and mailbox, the sinks), by its setting's name.
REFERENCE_PORT_SETTINGS = tuple(
    name for name in ReferenceSettings.model_fields if name.endswith("_port")
)


def reference_settings(home, **overrides) -> ReferenceSettings:
    """The reference's settings: `home` of its own and every service on a free loopback port."""
    free = free_loopback_ports(len(REFERENCE_PORT_SETTINGS))
    ports = dict(zip(REFERENCE_PORT_SETTINGS, free, strict=True))
    return ReferenceSettings(home=home, **{**ports, **overrides})


def start_reference(home, **overrides):
    """Build the demo world and start every reference service in threads.

    Returns:
        (context, running infrastructure); the caller stops the infrastructure.
    """
    context = build_context(reference_settings(home, **overrides))
    infrastructure = ReferenceInfrastructure(context)
    infrastructure.start_in_thread()
    return context, infrastructure


@contextmanager
def running_reference(home, **overrides):
    """A whole reference infrastructure of its own while the block runs; yields its context."""
    context, infrastructure = start_reference(home, **overrides)
    try:
        yield context
    finally:
        infrastructure.stop()


def mtls_client(context, organisation=EXEMPELKOMMUN, *, certificate=True, bundle=None):
    """An HTTPS client trusting the demo CA, presenting an organisation's demo certificate
    (or the PEM `bundle` given, or none)."""
    tls = ssl.create_default_context(cafile=str(context.pki.ca_certificate))
    if bundle is not None:
        tls.load_cert_chain(str(bundle))
    elif certificate:
        tls.load_cert_chain(str(context.pki.key_and_certificate(organisation)))
    return httpx2.Client(verify=tls, timeout=30)


# --- fakes of the connector's ports --------------------------------------------------------


class Clock:
    """A clock the test moves: a datetime (a wall clock) or seconds (a monotonic clock)."""

    def __init__(self, now=None):
        self.now = dt.datetime.now(dt.UTC) if now is None else now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        """Let `seconds` pass."""
        if isinstance(self.now, dt.datetime):
            self.now += dt.timedelta(seconds=seconds)
        else:
            self.now += seconds


class FakeFar:
    """FaR's isReachable for the switch, keeping every question in `asked`.

    Eva has a protected identity and David's id comes back with an error; everyone else has
    a secure mailbox that accepts the sender. While `down`, or for each of `failures` in turn
    (one a call), it raises instead of answering, and nothing is asked.
    """

    def __init__(self, *failures, down=False):
        self.failures = list(failures)
        self.down = down
        self.asked = []

    def is_reachable(self, sender_number, recipient_ids):
        if self.down:
            raise FarUnavailableError("FaR (https://far.test) svarar inte: ConnectError")
        if self.failures:
            raise self.failures.pop(0)
        self.asked.append((sender_number, list(recipient_ids)))
        return {recipient: _reachability(recipient) for recipient in recipient_ids}


def _reachability(recipient):
    if recipient == EVA:
        return Reachability(recipient, None, vocabulary.PROTECTED_IDENTITY)
    if recipient == DAVID:
        return Reachability(recipient, None, vocabulary.FAR_ERROR)
    status = ReachabilityStatus(recipient, "Secure", pending=False, sender_accepted=True)
    return Reachability(recipient, status)


class FakeOperator:
    """A mailbox operator answering from a script, one step a delivery: an exception to raise,
    "not delivered" for Delivered=false, a function to call first (something that happens
    while the request is on the wire), or "ok" (the default once the script runs out) for
    Delivered=true. Keeps every request it was sent."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests = []

    def deliver(self, service_address, request):
        self.requests.append((service_address, request))
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, Exception):
            raise step
        if callable(step):
            step()
        recipient = etree.fromstring(request).findtext(f".//{{{ns.MESSAGE_V2}}}Recipient")
        delivered = step != "not delivered"
        return DeliveryResult(
            f"trans-{len(self.requests)}", (DeliveryStatus(recipient, delivered=delivered),)
        )


class RecordingOperator:
    """A real operator client, keeping each request exactly as it was posted."""

    def __init__(self, client):
        self.client = client
        self.requests = []

    def deliver(self, service_address, request):
        self.requests.append((service_address, request))
        return self.client.deliver(service_address, request)


class DownPopulationRegister:
    """The population register when it cannot be asked."""

    def lookup(self, _ids):
        raise AddressSourceUnavailableError("folkbokföringen svarar inte: ConnectTimeout")


class FakePrecheck:
    """Answers like the switch: Tolvan is digital at Kivra, everyone else paper; with
    `far_down` set it fails as the switch does when FaR does not answer."""

    def __init__(self):
        self.far_down = False
        self.asked = []

    def check(self, sender_number, recipient_ids, *, policy="digital-or-paper"):
        self.asked.append((sender_number, list(recipient_ids), policy))
        if self.far_down:
            raise FarUnavailableError("anslutningen till FaR bröts")
        return [
            Decision(
                rid, "digital", "reachable", "5566778899", "Kivra", "https://kivra.example/svc"
            )
            if rid == TOLVAN
            else Decision(rid, "paper", "not_registered")
            for rid in recipient_ids
        ]
