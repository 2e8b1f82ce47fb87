"""Letters with their event logs written straight into the database, for the statistics tests.

Each letter gets a `received` event at its creation and, when it has moved on, an event in its
current state `reached_after` later, as the letter's life would have written them.
"""

import datetime as dt
import uuid

from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.letters.models import Letter, LetterEvent, MessageType
from utskick.senders.models import SenderOrganisation, SendingSystem

SOCIAL = "Socialtjänsten"
BYGG = "Byggnadsnämnden"
SYSTEM_NAME = "statistik"


def utc(year, month, day, hour=12, minute=0):
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def add_reference_data(session):
    """The sending system, both sender organisations and two message types."""
    now = utc(2025, 1, 1)
    system = SendingSystem(
        id=str(uuid.uuid4()),
        name=f"{SYSTEM_NAME}-{uuid.uuid4().hex[:6]}",
        sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN],
        created_at=now,
    )
    session.add(system)
    for number, name in ((EXEMPELKOMMUN, "Exempelkommun"), (GRANNKOMMUN, "Grannkommun")):
        if session.query(SenderOrganisation).filter_by(organisation_number=number).first() is None:
            session.add(SenderOrganisation(organisation_number=number, name=name, created_at=now))
    for code, name, protection_class in (("beslut", "Beslut", 2), ("faktura", "Faktura", 1)):
        if session.get(MessageType, code) is None:
            session.add(MessageType(code=code, name=name, protection_class=protection_class))
    session.flush()
    return system


def add_letter(
    session,
    system,
    *,
    created_at,
    state,
    reached_after=None,
    department=SOCIAL,
    sender=EXEMPELKOMMUN,
    message_type="beslut",
    reason=None,
):
    """A letter created at `created_at` that is now in `state`, with its events."""
    letter_id = str(uuid.uuid4())
    channel = {"delivered": "digital", "handed_to_print": "paper", "printed": "paper"}.get(state)
    reached_at = created_at + (reached_after or dt.timedelta(seconds=1))
    letter = Letter(
        id=letter_id,
        sending_system_id=system.id,
        idempotency_key=letter_id,
        sender_number=sender,
        department=department,
        recipient_id="191212121212",
        subject="Beslut",
        body_type="text/plain",
        body="Hej",
        protection_class=2,
        message_type=message_type,
        policy="digital-or-paper",
        message_id=letter_id,
        created_at=created_at,
        state=state,
        channel=channel,
        reason=reason,
        updated_at=reached_at,
    )
    session.add(letter)
    session.add(_event(letter_id, created_at, "received"))
    if state != "received":
        session.add(_event(letter_id, reached_at, state, reason))
    return letter


def _event(letter_id, at, state, reason=None):
    return LetterEvent(
        event_id=str(uuid.uuid4()),
        letter_id=letter_id,
        at=at,
        actor="test",
        state=state,
        reason=reason,
    )


def statistics_app(settings, engine):
    """The web app with login and statistics, whether or not the app factory adds them yet."""
    from utskick.entrypoints.app import create_app
    from utskick.statistics.web import include_statistics
    from utskick.web.auth import include_auth

    app = create_app(settings, engine)
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/logga-in" not in paths:
        include_auth(app)
    if "/statistik" not in paths:
        include_statistics(app)
    return app


# (username, role, organisation, department) of the people who look at the statistics.
USERS = (
    ("ledning", "management", EXEMPELKOMMUN, None),
    ("socialadmin", "department_admin", EXEMPELKOMMUN, SOCIAL),
    ("byggadmin", "department_admin", EXEMPELKOMMUN, BYGG),
    ("handlaggare", "officer", EXEMPELKOMMUN, SOCIAL),
    ("grannledning", "management", GRANNKOMMUN, None),
    ("admin", "admin", None, None),
)


def add_users(session, password):
    """Exempelkommun's ledning (management), socialadmin and byggadmin (department
    administrators) and handlaggare (officer); Grannkommun's grannledning; and admin."""
    from utskick.web.users import create_user

    now = utc(2025, 1, 1)
    for username, role, organisation, department in USERS:
        create_user(
            session,
            username=username,
            password=password,
            role=role,
            organisation=organisation,
            department=department,
            now=now,
        )
