"""Taking e-mails in when the e-mail is odd or hostile: a MIME bomb is answered 554 with the
reason at once and stores nothing; a Reply-To or From naming someone else changes neither who
sends the letter nor where the reply goes (the logged-in officer and their registered
address)."""

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.api import migrated_api_engine
from support.officer_mail import PDF, outlook_mail
from utskick.db.engine import session_factory
from utskick.desk.mailin.intake import MailDesk, MailSender, ReceivedMail
from utskick.desk.mailin.models import MailSubmission
from utskick.letters.models import Letter, LetterEvent
from utskick.settings import Settings
from utskick.web.users import create_user

DOMAIN = "brev.exempelkommun.se"
HANS = "handlaggare@exempelkommun.se"
BERIT = "bygglov@exempelkommun.se"
STRANGER = "nagon.annan@example.org"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    home = tmp_path_factory.mktemp("mail-in-edges")
    engine = migrated_api_engine(home / "utskick.db")
    users = {}
    with Session(engine) as session:
        for username, department, address in (
            ("handlaggare", "Socialtjänsten", HANS),
            ("bygglov", "Samhällsbyggnad", BERIT),
        ):
            user = create_user(session, username=username, password="ratt-losenord-1",
                               role="officer", organisation="2021004748", department=department,
                               email=address, display_name=username.capitalize(),
                               now=dt.datetime.now(dt.UTC))  # fmt: skip
            session.flush()
            users[username] = MailSender(user.id, username)
        session.commit()
    settings = Settings(home=home, embedded_reference=False, mail_in_domain=DOMAIN)
    yield {"engine": engine, "desk": MailDesk(session_factory(engine), settings), "users": users}
    engine.dispose()


def _take(world, raw, *, sender="handlaggare", envelope_from=HANS):
    return world["desk"].take(
        ReceivedMail(
            raw=raw,
            sender=world["users"][sender],
            envelope_from=envelope_from,
            recipient=f"191212121212@{DOMAIN}",
        )
    )


def _letters(world):
    with Session(world["engine"]) as session:
        return session.scalar(select(func.count()).select_from(Letter))


def test_a_mime_bomb_is_answered_554_with_the_reason_and_stores_nothing(world):
    part = "--X\r\nContent-Type: text/plain\r\n\r\nHej\r\n"
    raw = (
        f"From: {HANS}\r\nSubject: Beslut\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="X"\r\n\r\n' + part * 5000 + "--X--\r\n"
    ).encode()
    before = _letters(world)

    answer = _take(world, raw)

    assert answer.startswith("554 5.6.0")
    assert "för många delar" in answer
    assert _letters(world) == before


def test_reply_to_and_from_of_others_change_neither_sender_nor_reply_address(world):
    raw = outlook_mail(
        sender=BERIT,  # the From names another officer
        to=f"191212121212@{DOMAIN}",
        subject="Beslut om färdtjänst",
        text="Hej!\n\nBeviljat.",
        attachments=(("beslut.pdf", PDF, "application/pdf"),),
        extra_headers=f"Reply-To: {STRANGER}\r\n",
    )

    answer = _take(world, raw, envelope_from=STRANGER)

    assert answer.startswith("250")
    with Session(world["engine"]) as session:
        submission = session.scalars(
            select(MailSubmission).order_by(MailSubmission.received_at.desc())
        ).first()
        letter = session.get(Letter, submission.letter_id)
        actor = session.scalar(select(LetterEvent.actor).where(LetterEvent.letter_id == letter.id))
    assert submission.reply_to == HANS
    assert letter.department == "Socialtjänsten"
    assert actor == "mail:handlaggare"
