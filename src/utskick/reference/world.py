"""The demo world: the organisations and people the reference infrastructure knows.

`make run` seeds it and the tests use it as fixtures; `docs/test-identities.md` describes it.
The numbers are valid personnummer, samordningsnummer and organisationsnummer (check digit
and date) chosen for testing; none belongs to a real person.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

SYD = "5569990012"
NORD = "5569990020"
EXEMPELKOMMUN = "2021004748"
GRANNKOMMUN = "2021009903"


@dataclass(frozen=True)
class Address:
    """A postal address as the population register gives it."""

    street: str
    postal_code: str
    city: str
    care_of: str | None = None


@dataclass(frozen=True)
class Organisation:
    """An organisation in FaR: a sender, an intermediary, a mailbox operator, or a company."""

    number: str  # organisationsnummer, 10 digits
    name: str
    sender: bool = False
    intermediary: bool = False
    operator: bool = False
    # Mailbox operators: the short name used in URLs and settings ("syd", "nord").
    operator_key: str | None = None

    @property
    def recipient_id(self) -> str:
        """The 12-digit id FaR and the wire use for an organisation."""
        return "16" + self.number


@dataclass(frozen=True)
class Person:
    """A person the population register knows, with what FaR and the mailbox know of them."""

    id: str  # 12 digits: personnummer or samordningsnummer with century
    given_name: str
    surname: str
    address: Address | None
    mailbox_at: str | None = None  # operator organisationsnummer
    pending: bool = False
    opted_out_of: tuple[str, ...] = ()  # sender organisationsnummer
    protected: bool = False
    deceased_on: dt.date | None = None
    emigrated_on: dt.date | None = None
    email: str | None = None
    phone: str | None = None
    note: str = ""

    @property
    def name(self) -> str:
        """Given name and surname."""
        return f"{self.given_name} {self.surname}"


@dataclass(frozen=True)
class Company:
    """A company as the population (company) register knows it, with its mailbox if any."""

    number: str  # organisationsnummer, 10 digits
    name: str
    address: Address
    mailbox_at: str | None = None
    signatories: tuple[str, ...] = ()  # person ids who may administer its mailbox
    note: str = ""

    @property
    def recipient_id(self) -> str:
        """The 12-digit id FaR and the wire use for an organisation."""
        return "16" + self.number


@dataclass(frozen=True)
class World:
    """Everything the reference infrastructure is seeded with."""

    organisations: tuple[Organisation, ...]
    persons: tuple[Person, ...]
    companies: tuple[Company, ...]
    # Delegations (medgivande) already granted: (owner id, delegate id).
    delegations: tuple[tuple[str, str], ...] = field(default=())

    def person(self, person_id: str) -> Person:
        """The person with this 12-digit id."""
        return next(p for p in self.persons if p.id == person_id)

    def operator(self, key: str) -> Organisation:
        """The mailbox operator with this short name ("syd", "nord")."""
        return next(o for o in self.organisations if o.operator_key == key)

    @property
    def operators(self) -> tuple[Organisation, ...]:
        """The mailbox operators."""
        return tuple(o for o in self.organisations if o.operator)


def _address(street: str, postal_code: str, city: str) -> Address:
    return Address(street=street, postal_code=postal_code, city=city)


DEMO_WORLD = World(
    organisations=(
        Organisation(EXEMPELKOMMUN, "Exempelkommun", sender=True, intermediary=True),
        Organisation(GRANNKOMMUN, "Grannkommun", sender=True),
        Organisation(SYD, "Brevlåda Syd AB", operator=True, operator_key="syd"),
        Organisation(NORD, "Brevlåda Nord AB", operator=True, operator_key="nord"),
    ),
    persons=(
        Person(
            "191212121212",
            "Tolvan",
            "Tolvansson",
            _address("Tolvvägen 12", "123 45", "Exempelstad"),
            mailbox_at=SYD,
            email="tolvan@exempel.test",
            phone="0701234512",
            note="brevlåda hos Syd, tar emot från alla",
        ),
        Person(
            "198004232388",
            "Anna",
            "Andersson",
            _address("Storgatan 1", "111 22", "Norrby"),
            mailbox_at=NORD,
            email="anna@exempel.test",
            phone="0701234523",
            note="brevlåda hos Nord, tar emot från alla; firmatecknare för Exempelbolaget AB",
        ),
        Person(
            "197501012475",
            "Bertil",
            "Bengtsson",
            _address("Bäckvägen 3", "123 46", "Exempelstad"),
            mailbox_at=SYD,
            opted_out_of=(EXEMPELKOMMUN,),
            email="bertil@exempel.test",
            note="brevlåda hos Syd, har valt bort Exempelkommun (tar emot från Grannkommun)",
        ),
        Person(
            "199003153146",
            "Cecilia",
            "Carlsson",
            _address("Cedergatan 5", "123 47", "Exempelstad"),
            mailbox_at=SYD,
            pending=True,
            note="brevlåda hos Syd, väntar på aktivering",
        ),
        Person(
            "196611090827",
            "David",
            "Dahl",
            _address("Dalvägen 7", "123 48", "Exempelstad"),
            note="inte ansluten; har postadress",
        ),
        Person(
            "198512304166",
            "Eva",
            "Ek",
            None,
            protected=True,
            note="skyddad identitet: ingen adress lämnas ut",
        ),
        Person(
            "201206143230",
            "Filip",
            "Fors",
            _address("Forsvägen 9", "123 49", "Exempelstad"),
            mailbox_at=SYD,
            note="brevlåda hos Syd, under 18 år",
        ),
        Person(
            "197001632392",
            "Gustav",
            "Gran",
            _address("Granstigen 2", "111 23", "Norrby"),
            mailbox_at=NORD,
            note="samordningsnummer, brevlåda hos Nord",
        ),
        Person(
            "195807183529",
            "Hanna",
            "Holm",
            _address("Holmgatan 4", "123 50", "Exempelstad"),
            deceased_on=dt.date(2025, 3, 14),
            note="avliden; inte ansluten",
        ),
        Person(
            "197604122387",
            "Jonas",
            "Jansson",
            _address("Jarlavägen 8", "123 52", "Exempelstad"),
            emigrated_on=dt.date(2024, 6, 30),
            note="utvandrad; inte ansluten",
        ),
        Person(
            "198807192466",
            "Lena",
            "Lund",
            None,
            note="saknar postadress i registret; inte ansluten",
        ),
        Person(
            "199302281465",
            "Ida",
            "Ivarsson",
            _address("Idegransvägen 6", "123 51", "Exempelstad"),
            mailbox_at=SYD,
            email="ida@exempel.test",
            note="brevlåda hos Syd; ombud i demonstrationer",
        ),
        Person(
            "198101052382",
            "Karin",
            "Provmottagare",
            _address("Provgatan 10", "123 52", "Exempelstad"),
            mailbox_at=SYD,
            note="mottagaren i det riktiga exemplet i shared/contracts; brevlåda hos Syd",
        ),
    ),
    companies=(
        Company(
            "5569990038",
            "Exempelbolaget AB",
            _address("Industrivägen 8", "111 24", "Norrby"),
            mailbox_at=NORD,
            signatories=("198004232388",),
            note="företagsbrevlåda hos Nord, firmatecknare Anna Andersson",
        ),
        Company(
            "5566778899",
            "Utan Brevlåda AB",
            _address("Lådgatan 1", "123 53", "Exempelstad"),
            note="ingen brevlåda; har postadress",
        ),
    ),
)
