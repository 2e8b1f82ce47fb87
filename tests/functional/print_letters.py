"""Paper letters put into print batches by the real print pipeline, for the print tests.

Letters are written in state `paper` (where the channel switch leaves them) and then
addressed and batched by `address_jobs` with an in-memory population register, exactly as
the worker's `print` jobs do it.
"""

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from utskick.intake.models import SendingSystem
from utskick.letters.models import Letter, LetterEvent
from utskick.printing.addresses import FixedAddressSource, RegisterEntry
from utskick.printing.models import PrintBatch
from utskick.printing.service import address_jobs
from utskick.senders.models import SenderOrganisation
from utskick.web.users import create_user
from utskick.worker.queue import ClaimedJob

EXEMPELKOMMUN = "2021004748"
SOCIAL = "Socialtjänsten"  # prints its own letters from a daily exception list
BYGG = "Byggnadsnämnden"  # letters go to the vendor
VENDOR = "tryckeriet"

ANNA = "194001012384"
BERTIL = "195502023719"
CECILIA = "196803035520"
PROTECTED = "198512304166"
DECEASED = "192001019876"

# What the register says; the protected person's street must never be shown or printed.
SECRET_STREET = "Hemliga stigen 13"
REGISTER = {
    ANNA: RegisterEntry(
        ANNA, found=True, name="Anna Andersson", lines=("Storgatan 1", "123 45 Exempelby")
    ),
    BERTIL: RegisterEntry(
        BERTIL, found=True, name="Bertil Berg", lines=("c/o Lind", "Lillvägen 2 B", "234 56 Åby")
    ),
    CECILIA: RegisterEntry(
        CECILIA, found=True, name="Cecilia Ek", lines=("Ekbacken 3", "345 67 Öby")
    ),
    PROTECTED: RegisterEntry(
        PROTECTED,
        found=True,
        name="Petra Skyddad",
        lines=(SECRET_STREET, "456 78 Gömby"),
        protected=True,
    ),
    DECEASED: RegisterEntry(
        DECEASED, found=True, name="Dag Död", lines=("Gravgatan 1",), deceased=True
    ),
}

# (username, role, department) of the people who use the print pages and API.
USERS = (
    ("social", "officer", SOCIAL),
    ("socialadmin", "department_admin", SOCIAL),
    ("bygg", "officer", BYGG),
    ("byggadmin", "department_admin", BYGG),
    ("utan", "officer", None),
    ("ledning", "management", None),
    ("tryckrum", "admin", None),
)


def utc_now():
    return dt.datetime.now(dt.UTC)


def add_users(session, password):
    """Every user of `USERS`, all with the same password."""
    for username, role, department in USERS:
        create_user(session, username=username, password=password, role=role,
                    department=department, now=utc_now())  # fmt: skip


def add_sender(session):
    """The sending system and Exempelkommun as the sender (with support details)."""
    now = utc_now()
    system = SendingSystem(id=str(uuid.uuid4()), name=f"arende-{uuid.uuid4().hex[:6]}",
                           sender_numbers=[EXEMPELKOMMUN], created_at=now)  # fmt: skip
    session.add(system)
    known = select(SenderOrganisation).where(
        SenderOrganisation.organisation_number == EXEMPELKOMMUN
    )
    if session.scalars(known).first() is None:
        session.add(SenderOrganisation(organisation_number=EXEMPELKOMMUN, name="Exempelkommun",
                                       support_phone="0123-456 00", created_at=now))  # fmt: skip
    session.flush()
    return system


def add_paper_letter(session, system, *, recipient, department, subject, body="Hej.",
                     case_number=None, postal_address=None):  # fmt: skip
    """A letter the channel switch sent to paper, with its events so far."""
    now = utc_now()
    letter_id = str(uuid.uuid4())
    session.add(Letter(
        id=letter_id, sending_system_id=system.id, idempotency_key=letter_id,
        sender_number=EXEMPELKOMMUN, department=department, recipient_id=recipient,
        subject=subject, body_type="text/plain", body=body, protection_class=2,
        message_type=None, policy="digital-or-paper", case_number=case_number,
        postal_address=postal_address, message_id=uuid.uuid4().hex, created_at=now,
        state="paper", channel="paper", reason="not_registered", updated_at=now,
    ))  # fmt: skip
    for state in ("received", "paper"):
        session.add(LetterEvent(event_id=str(uuid.uuid4()), letter_id=letter_id, at=now,
                                actor="test", state=state))  # fmt: skip
    return letter_id


def batch_paper_letters(engine, settings, letter_ids):
    """Run the print jobs of these letters: address them from `REGISTER` and batch them."""
    jobs = [ClaimedJob(number, "print", letter_id, None, 1, utc_now())
            for number, letter_id in enumerate(letter_ids, start=1)]  # fmt: skip
    address_jobs(jobs, sessions=sessionmaker(engine), source=FixedAddressSource(REGISTER),
                 settings=settings, clock=utc_now, actor="worker:test")  # fmt: skip


def seed_batches(engine, settings):
    """Two exception-list letters and a protected one for Socialtjänsten (local); two vendor
    letters for Byggnadsnämnden; one letter to a deceased person (impossible).

    Returns:
        (letter ids by name, batch id by department).
    """
    with Session(engine) as session:
        system = add_sender(session)
        letters = {
            "anna": add_paper_letter(
                session, system, recipient=ANNA, department=SOCIAL,
                subject="Beslut om försörjningsstöd", case_number="SOC 2026/101",
                body="Du har beviljats försörjningsstöd för december.",
            ),
            "bertil": add_paper_letter(
                session, system, recipient=BERTIL, department=SOCIAL,
                subject="Kallelse till möte", case_number="SOC 2026/102",
            ),
            "skyddad": add_paper_letter(
                session, system, recipient=PROTECTED, department=SOCIAL,
                subject="Beslut om bostadsanpassning", case_number="SOC 2026/103",
                postal_address={"name": "Petra Skyddad", "lines": [SECRET_STREET],
                                "postal_code": "456 78", "city": "Gömby"},
            ),
            "cecilia": add_paper_letter(
                session, system, recipient=CECILIA, department=BYGG,
                subject="Beslut om bygglov", case_number="BN 2026/555",
            ),
            "anna_bygg": add_paper_letter(
                session, system, recipient=ANNA, department=BYGG,
                subject="Föreläggande om rivning", case_number="BN 2026/556",
            ),
            "dag": add_paper_letter(
                session, system, recipient=DECEASED, department=SOCIAL,
                subject="Påminnelse om avgift",
            ),
        }  # fmt: skip
        session.commit()
    batch_paper_letters(engine, settings, list(letters.values()))
    with Session(engine) as session:
        batches = {batch.department: batch.id for batch in session.scalars(select(PrintBatch))}
    return letters, batches


def letter_states(engine, letter_ids):
    """Each letter's current state."""
    with Session(engine) as session:
        return dict(
            session.execute(select(Letter.id, Letter.state).where(Letter.id.in_(letter_ids))).all()
        )
