"""The world of the records pages' and the records API's tests: letters of two organisations
that have ended and become records, and the people who read them.

Exempelkommun's letters: to Tolvan (beslut, protection class 2, registered as `KS 2026/77`),
an information letter to Tolvan (class 1), a letter to Eva that the print service found
protected (class 1), and a letter to a person the population register reports as protected now, though
nothing in the letter's events says so. Grannkommun has one letter. Registrators of both
organisations, an officer, management and the installation's administrator log in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy.orm import Session

from functional.records.ended_letters import ended_letter, make_records, prepare_world
from support.world import EVA, EXEMPELKOMMUN, GRANNKOMMUN, NOW, fresh_personnummer
from utskick.entrypoints.app import create_app
from utskick.letters import events, vocabulary
from utskick.printing.addresses import FixedAddressSource, RegisterEntry
from utskick.settings import Settings
from utskick.web.users import create_user

PASSWORD = "rätt-lösenord-1"
USERS = (
    ("registrator", "records", EXEMPELKOMMUN, None),
    ("grannreg", "records", GRANNKOMMUN, None),
    ("handlaggare", "officer", EXEMPELKOMMUN, "Byggnadsnämnden"),
    ("ledning", "management", EXEMPELKOMMUN, None),
    ("admin", "admin", None, None),
)
REGISTRATION_NUMBER = "KS 2026/77"


@dataclasses.dataclass
class RecordsWorld:
    engine: object
    settings: Settings
    letters: dict[str, str]
    protected_now: str  # the 12-digit id the register reports as protected
    tag: str  # in every case number of this world, so searches find only its letters

    def app(self, register=None):
        """The web app on this database, with a population register of its own."""
        app = create_app(self.settings, self.engine)
        app.state.adapters.address_source = register or FixedAddressSource(
            {
                EVA: RegisterEntry(EVA, found=True, protected=True),
                self.protected_now: RegisterEntry(self.protected_now, found=True, protected=True),
            }
        )
        return app


def _letter(session, system_id, *, recipient, case_number, **fields):
    protection_class = fields.pop("protection_class", 2)
    letter = ended_letter(session, system_id, case_number=case_number, **fields)
    letter.recipient_id = recipient
    letter.protection_class = protection_class
    return letter


def build_world(engine, home) -> RecordsWorld:
    """The letters, their records and the users, committed (the pages commit too)."""
    tag = uuid.uuid4().hex[:6].upper()
    protected_now = fresh_personnummer()
    with Session(engine) as session:
        systems = prepare_world(session)
        decision = _letter(session, systems.desk, recipient="191212121212",
                           case_number=f"KS 2026/{tag}-1", message_type="beslut")  # fmt: skip
        decision.registration_number = REGISTRATION_NUMBER
        information = _letter(session, systems.archiving, recipient="191212121212",
                              case_number=f"KS 2026/{tag}-2", protection_class=1)  # fmt: skip
        to_eva = _letter(session, systems.desk, recipient=EVA, case_number=f"KS 2026/{tag}-3",
                         protection_class=1, paper=True)  # fmt: skip
        # What the print service records when the register says the person is protected.
        events.record(session, to_eva, vocabulary.BATCHED, actor="worker:1", now=NOW,
                      data={"protected": True, "part": "letter"}, current=False,
                      detail="Skyddad identitet: kuvertet går till Skatteverkets förmedling.")  # fmt: skip
        to_protected_now = _letter(session, systems.desk, recipient=protected_now,
                                   case_number=f"KS 2026/{tag}-4")  # fmt: skip
        neighbour = _letter(session, systems.desk, recipient="191212121212",
                            case_number=f"GK 2026/{tag}-1", sender=GRANNKOMMUN)  # fmt: skip
        letters = {
            "decision": decision, "information": information, "to_eva": to_eva,
            "to_protected_now": to_protected_now, "neighbour": neighbour,
        }  # fmt: skip
        make_records(session, list(letters.values()))
        for username, role, organisation, department in USERS:
            if session.scalar(_user_exists(username)) is None:
                create_user(session, username=username, password=PASSWORD, role=role, now=NOW,
                            organisation=organisation, department=department)  # fmt: skip
        session.commit()
        ids = {name: letter.id for name, letter in letters.items()}
    settings = Settings(home=home, fallback_after_seconds=3600)
    return RecordsWorld(engine, settings, ids, protected_now, tag)


def _user_exists(username):
    from sqlalchemy import select

    from utskick.web.users import WebUser

    return select(WebUser.id).where(WebUser.username == username)


def local_today():
    """Today's date in Stockholm (the access log's filters are local days)."""
    from zoneinfo import ZoneInfo

    return dt.datetime.now(ZoneInfo("Europe/Stockholm")).date()
