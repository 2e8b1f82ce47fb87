"""The `mail_reply` job: wait for an e-mailed letter's outcome, then tell the officer by e-mail.

The job looks at the letter every ten seconds until its outcome is known
(`vocabulary.OUTCOME_KNOWN_STATES`: ended, or addressed and in a print batch); a letter still
on its way a day after it was e-mailed gets a reply that says so and points to the desk. The
reply is sent outside any transaction; then the submission is marked `replied` with the
state told. A mail server that does not answer is tried again with the queue's backoff
(`jobs.queue.backoff_seconds`, counted in `MailSubmission.attempts`); one that refuses the
address for good, or 50 failed attempts, end the job with the submission `unsent`, as does an
installation without `mail_out_url`. A worker that dies between sending and marking sends
the reply once more when the job's lease runs out: a reply may come twice, never not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from utskick.desk.mailin.mail_out import MailOut, MailOutError
from utskick.desk.mailin.models import MailSubmission
from utskick.desk.mailin.replies import Outcome, outcome_of, outcome_reply, still_under_way
from utskick.jobs.queue import ClaimedJob, Retry, backoff_seconds, utc
from utskick.letters.models import Letter
from utskick.letters.repository import LetterRepository
from utskick.settings import Settings
from utskick.web.users import UserRepository

logger = logging.getLogger(__name__)

# MailSubmission.state
WAITING = "waiting"
REPLIED = "replied"
UNSENT = "unsent"  # no reply could be sent: none configured, or the server refused it

FIRST_LOOK = dt.timedelta(seconds=5)
LOOK_AGAIN = dt.timedelta(seconds=10)
GIVE_UP_WAITING = dt.timedelta(days=1)
MAX_SEND_ATTEMPTS = 50
UNDER_WAY = "under_way"  # MailSubmission.outcome when the reply says the letter is not done


@dataclass(frozen=True)
class _Reply:
    """A reply ready to send, and what to remember about it."""

    submission_id: str
    message: EmailMessage
    to: str
    outcome: str
    attempts: int


def mail_reply_job(
    job: ClaimedJob,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> Retry | None:
    """Reply to the officer once the letter's outcome is known (or a day has passed).

    Returns:
        A `Retry` while the letter is on its way or the mail server does not answer; None
        when the job is done (replied, nothing to reply to, or no reply possible).
    """
    now = clock()
    submission_id = str((job.payload or {}).get("submission_id", ""))
    with sessions() as session:
        prepared = _prepare(session, submission_id, settings, now)
    if not isinstance(prepared, _Reply):
        return prepared
    mail_out = MailOut.from_settings(settings)
    if mail_out is None:
        logger.warning("mail reply %s not sent: no mail_out_url is set", submission_id)
        _settle(sessions, prepared, UNSENT, None)
        return None
    try:
        mail_out.send(prepared.message, prepared.to)
    except MailOutError as error:
        attempts = prepared.attempts + 1
        if error.permanent or attempts >= MAX_SEND_ATTEMPTS:
            logger.warning("mail reply %s given up: %s", submission_id, error)
            _settle(sessions, prepared, UNSENT, None)
            return None
        with sessions.begin() as session:
            session.execute(
                update(MailSubmission)
                .where(MailSubmission.id == submission_id)
                .values(attempts=attempts)
            )
        delay = backoff_seconds(attempts, settings.retry_base_seconds, settings.retry_max_seconds)
        return Retry(now + dt.timedelta(seconds=delay), str(error))
    _settle(sessions, prepared, REPLIED, clock())
    return None


def _prepare(
    session: Session, submission_id: str, settings: Settings, now: dt.datetime
) -> _Reply | Retry | None:
    """The reply to send now; a `Retry` while the outcome is unknown; None: nothing to do."""
    submission = session.get(MailSubmission, submission_id)
    if submission is None or submission.state != WAITING:
        return None
    letter = session.get(Letter, submission.letter_id) if submission.letter_id else None
    if letter is None:
        # Disposed of before its outcome was told: there is nothing left to tell about.
        submission.state = UNSENT
        session.commit()
        return None
    outcome: Outcome | None = outcome_of(letter, LetterRepository(session).events(letter.id))
    told = letter.state
    if outcome is None:
        if now - utc(submission.received_at) < GIVE_UP_WAITING:
            return Retry(now + LOOK_AGAIN, "brevets utfall är inte känt än")
        outcome, told = still_under_way(letter), UNDER_WAY
    user = UserRepository(session).get(submission.user_id) if submission.user_id else None
    message = outcome_reply(
        settings,
        to=submission.reply_to,
        name=user.display_name if user is not None else None,
        letter=letter,
        outcome=outcome,
        received_at=submission.received_at,
        in_reply_to=submission.mail_message_id,
        now=now,
    )
    return _Reply(submission.id, message, submission.reply_to, told, submission.attempts)


def _settle(
    sessions: sessionmaker[Session], reply: _Reply, state: str, at: dt.datetime | None
) -> None:
    with sessions.begin() as session:
        session.execute(
            update(MailSubmission)
            .where(MailSubmission.id == reply.submission_id)
            .values(state=state, outcome=reply.outcome, replied_at=at)
        )
