"""Paper letters put into print batches by the real print pipeline, for the print tests.

Letters go to paper as the channel switch sends them (`support.paper_letters`) and are then
addressed and batched by `address_jobs` with an in-memory population register, exactly as
the worker's `print` jobs do it. The letters are Exempelkommun's; `seed_neighbour_batch`
adds Grannkommun's own Socialtjänsten, whose exception list must stay apart.
"""

import datetime as dt
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support.paper_letters import ensure_sender_and_system, paper_letter
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, sender_organisation
from utskick.db.engine import create_database_engine
from utskick.jobs.queue import ClaimedJob
from utskick.letters.models import Letter
from utskick.migrations import migrate
from utskick.printing.addresses import FixedAddressSource, RegisterEntry
from utskick.printing.models import PrintBatch
from utskick.printing.service import address_jobs
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.web.users import create_user

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

# Paper letters: name, recipient, department, subject, case number, the caller's address.
SEEDED = (
    ("anna", ANNA, SOCIAL, "Beslut om försörjningsstöd", "SOC 2026/101", None),
    ("bertil", BERTIL, SOCIAL, "Kallelse till möte", "SOC 2026/102", None),
    # The caller gave an address too; a protected identity's is never printed all the same.
    ("skyddad", PROTECTED, SOCIAL, "Beslut om bostadsanpassning", "SOC 2026/103",
     {"name": "Petra Skyddad", "lines": [SECRET_STREET], "postal_code": "456 78", "city": "Gömby"}),
    ("cecilia", CECILIA, BYGG, "Beslut om bygglov", "BN 2026/555", None),
    ("anna_bygg", ANNA, BYGG, "Föreläggande om rivning", "BN 2026/556", None),
    ("dag", DECEASED, SOCIAL, "Påminnelse om avgift", None, None),
)  # fmt: skip

# Grannkommun's paper letters: its own Socialtjänsten, which also prints locally.
NEIGHBOUR_SEEDED = (
    ("granne_cecilia", CECILIA, "Beslut om färdtjänst", "GK SOC 2026/7"),
    ("granne_bertil", BERTIL, "Kallelse till Grannkommun", "GK SOC 2026/8"),
)

# (username, role, organisation, department) of the people who use the print pages and API.
USERS = (
    ("social", "officer", EXEMPELKOMMUN, SOCIAL),
    ("socialadmin", "department_admin", EXEMPELKOMMUN, SOCIAL),
    ("bygg", "officer", EXEMPELKOMMUN, BYGG),
    ("byggadmin", "department_admin", EXEMPELKOMMUN, BYGG),
    ("granne", "officer", GRANNKOMMUN, SOCIAL),
    ("ledning", "management", EXEMPELKOMMUN, None),
    ("tryckrum", "admin", None, None),
)


def utc_now():
    return dt.datetime.now(dt.UTC)


def add_users(session, password):
    """Every user of `USERS`, all with the same password."""
    for username, role, organisation, department in USERS:
        create_user(session, username=username, password=password, role=role,
                    organisation=organisation, department=department, now=utc_now())  # fmt: skip


def new_database(path, password):
    """A migrated SQLite database at `path` with every user of `USERS`."""
    engine = create_database_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        add_users(session, password)
        session.commit()
    return engine


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
        system_id = ensure_sender_and_system(session)
        letters = {}
        for name, recipient, department, subject, case_number, address in SEEDED:
            letter = paper_letter(session, system_id, recipient, department=department,
                                  subject=subject, postal_address=address, now=utc_now())  # fmt: skip
            letter.case_number = case_number
            letters[name] = letter.id
        session.commit()
    batch_paper_letters(engine, settings, list(letters.values()))
    with Session(engine) as session:
        batches = {
            batch.department: batch.id
            for batch in session.scalars(
                select(PrintBatch).where(PrintBatch.sender_number == EXEMPELKOMMUN)
            )
        }
    return letters, batches


def letter_states(engine, letter_ids):
    """Each letter's current state."""
    with Session(engine) as session:
        return dict(
            session.execute(select(Letter.id, Letter.state).where(Letter.id.in_(letter_ids))).all()
        )


def _neighbour_system(session):
    """Grannkommun as a sender and a sending system of its own; the system's id."""
    if not session.scalar(
        select(SenderOrganisation).where(SenderOrganisation.organisation_number == GRANNKOMMUN)
    ):
        session.add(sender_organisation(GRANNKOMMUN))
    system_id = str(uuid.uuid4())
    session.add(SendingSystem(id=system_id, name=f"Grannkommuns system {system_id[:8]}",
                              sender_numbers=[GRANNKOMMUN], departments=None,
                              created_at=utc_now()))  # fmt: skip
    session.flush()
    return system_id


def seed_neighbour_batch(engine, settings):
    """Grannkommun's Socialtjänsten: two paper letters on its own exception list.

    Returns:
        (letter ids by name, the id of Grannkommun's batch).
    """
    with Session(engine) as session:
        system_id = _neighbour_system(session)
        letters = {}
        for name, recipient, subject, case_number in NEIGHBOUR_SEEDED:
            letter = paper_letter(session, system_id, recipient, department=SOCIAL,
                                  subject=subject, now=utc_now())  # fmt: skip
            letter.sender_number = GRANNKOMMUN
            letter.case_number = case_number
            letters[name] = letter.id
        session.commit()
    batch_paper_letters(engine, settings, list(letters.values()))
    with Session(engine) as session:
        [batch_id] = session.scalars(
            select(PrintBatch.id).where(PrintBatch.sender_number == GRANNKOMMUN)
        ).all()
    return letters, batch_id
