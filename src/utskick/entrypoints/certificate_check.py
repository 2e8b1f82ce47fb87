"""The daily certificate check (the `certificate_check` job): warn before a certificate expires.

When a sender organisation's certificate expires, Mina meddelanden refuses its letters and
every one of them goes to paper; when the intermediary's expires, every organisation's does.
Once a day this job reads every sender's certificate (`senders.certificates`) and, for each
one within a warning threshold (`certificate_warning_days`, 60, 30 and 7 by default) or
expired:

1. logs a warning (organisation, role, days left, expiry in local time; never key material);
2. e-mails `certificate_warning_email` once per certificate and threshold, through the mail
   server in `mail_out_url`, saying what to do (`utskick senders key …`);
3. queues its own next run, for the next `CHECK_HOUR` o'clock in the installation's time zone.

A key that cannot be read is logged too (and shown by /health), but not e-mailed: it is a
configuration fault someone is already looking at, not a date coming closer.

One waiting check at a time: `ensure_certificate_check_job` takes a lock first, as the daily
records run does (`records.daily`). Two checks running at once still send each e-mail once:
the notice is recorded before it is sent (`senders.certificates.claim_notices`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from utskick.desk.mailin.mail_out import MailOut, MailOutError
from utskick.identity import parse_organisation
from utskick.jobs.models import Job
from utskick.jobs.queue import (
    CERTIFICATE_CHECK,
    ClaimedJob,
    Retry,
    backoff_seconds,
    ensure_one_waiting,
)
from utskick.senders.certificates import (
    EXPIRED_THRESHOLD,
    CertificateExpiry,
    DueWarning,
    UnreadableCertificate,
    certificate_survey,
    claim_notices,
    due_warnings,
    release_notices,
    sent_notices,
)
from utskick.settings import Settings

logger = logging.getLogger(__name__)

SendMail = Callable[[EmailMessage, str], None]

# The PostgreSQL advisory lock that serialises the look for a waiting check ("certchk").
CHECK_LOCK_KEY = 0x63657274636B68
# The local hour the check runs at: the e-mail arrives at the start of a working day.
CHECK_HOUR = 7

_ROLE_TEXTS = {
    "sender": "signerar organisationens brev",
    "intermediary": "signerar och förseglar brev och ansluter till Mina meddelanden "
    "(förmedlarens certifikat: alla avsändares digitala brev hänger på det)",
}


def next_check_time(now: dt.datetime, zone: str) -> dt.datetime:
    """The first `CHECK_HOUR` o'clock (local time in `zone`) after `now`, in UTC."""
    local_zone = ZoneInfo(zone)
    local_now = now.astimezone(local_zone)
    for days in (0, 1, 2):
        candidate = dt.datetime.combine(
            local_now.date() + dt.timedelta(days=days), dt.time(CHECK_HOUR), local_zone
        )
        if candidate > local_now:
            return candidate.astimezone(dt.UTC)
    raise AssertionError  # pragma: no cover (tomorrow's hour is always after now)


def ensure_certificate_check_job(
    session: Session,
    now: dt.datetime,
    *,
    run_at: dt.datetime | None = None,
    running_job_id: int | None = None,
) -> Job | None:
    """Queue a certificate check (at `run_at`, default now) unless one is waiting.

    Call it first in its transaction (it takes the lock before it reads); the caller
    commits. A check being run right now (leased, or `running_job_id`) does not count as
    waiting. Waiting duplicates beyond the first are removed.

    Returns:
        The job queued, or None when a check was already waiting.
    """
    return ensure_one_waiting(
        session,
        CERTIFICATE_CHECK,
        lock_key=CHECK_LOCK_KEY,
        now=now,
        run_at=run_at or now,
        running_job_id=running_job_id,
    )


def certificate_mail_sender(settings: Settings) -> SendMail | None:
    """How the check sends its e-mail: the mail server in `mail_out_url`; None without one."""
    try:
        server = MailOut.from_settings(settings)
    except ValueError as error:
        logger.error("certificate warnings cannot be e-mailed: %s", error)  # noqa: TRY400
        return None
    return server.send if server is not None else None


def certificate_check_job(
    job: ClaimedJob,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    send_mail: SendMail | None,
) -> Retry | None:
    """Warn about every certificate within a threshold, then queue tomorrow's check.

    Returns:
        A retry (with backoff) when an e-mail could not be sent: it was not recorded as
        sent, so the retry, or else tomorrow's check, sends it.
    """
    now = clock()
    with sessions() as session:
        survey = certificate_survey(session)
    warnings = due_warnings(survey.expiries, settings.certificate_warning_days, now)
    for warning in warnings:
        _log_warning(warning.expiry, now, settings.print_timezone)
    for broken in survey.unreadable:
        _log_unreadable(broken)
    failure = _email_warnings(
        warnings, sessions=sessions, settings=settings, now=now, send_mail=send_mail
    )
    with sessions() as session, session.begin():
        ensure_certificate_check_job(
            session,
            clock(),
            run_at=next_check_time(clock(), settings.print_timezone),
            running_job_id=job.id,
        )
    if failure is None:
        return None
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    return Retry(clock() + dt.timedelta(seconds=delay), failure)


def _email_warnings(
    warnings: list[DueWarning],
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    send_mail: SendMail | None,
) -> str | None:
    """E-mail each warning not e-mailed before; the first failure's text, if any."""
    address = settings.certificate_warning_email
    if not address or not warnings:
        return None
    if send_mail is None:
        logger.error(
            "certificate warnings are not e-mailed to %s: no mail server is set "
            "(UTSKICK_MAIL_OUT_URL)",
            address,
        )
        return None
    failure = None
    for warning in warnings:
        error = _email_once(
            warning, address, sessions=sessions, settings=settings, now=now, send_mail=send_mail
        )
        failure = failure or error
    return failure


def _email_once(
    warning: DueWarning,
    address: str,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    now: dt.datetime,
    send_mail: SendMail,
) -> str | None:
    """Send one warning unless its threshold was e-mailed already; the failure, if any."""
    expiry = warning.expiry
    with sessions() as session, session.begin():
        sent = {
            t for f, t in sent_notices(session, [expiry.fingerprint]) if f == expiry.fingerprint
        }
        if warning.threshold_days in sent:
            return None
        # The wider thresholds crossed at the same time are recorded with it: one e-mail.
        new = [t for t in warning.crossed if t not in sent]
        if not claim_notices(session, expiry, new, now):
            return None  # another check is sending it right now
    try:
        send_mail(warning_email(warning, address, settings, now), address)
    except MailOutError as error:
        logger.error(  # noqa: TRY400 (the reason is in the message; no traceback needed)
            "the certificate warning for %s could not be e-mailed to %s: %s",
            expiry.organisation_number,
            address,
            error,
        )
        with sessions() as session, session.begin():
            release_notices(session, expiry.fingerprint, new)
        return f"certificate warning e-mail: {error}"
    logger.info(
        "certificate warning for %s (%s days) e-mailed to %s",
        expiry.organisation_number,
        warning.threshold_days,
        address,
    )
    return None


def _log_warning(expiry: CertificateExpiry, now: dt.datetime, zone: str) -> None:
    days = expiry.days_left(now)
    logger.warning(
        "the %s certificate of %s (%s) %s, at %s",
        expiry.role,
        expiry.organisation_number,
        expiry.name,
        f"expired {-days:.1f} days ago" if days <= 0 else f"expires in {days:.1f} days",
        _local(expiry.not_after, zone),
    )


def _log_unreadable(broken: UnreadableCertificate) -> None:
    logger.warning(
        "the %s certificate of %s (%s) cannot be read: %s",
        broken.role,
        broken.organisation_number,
        broken.name,
        broken.reason,
    )


def _local(moment: dt.datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def _display(organisation_number: str) -> str:
    return parse_organisation(organisation_number).display


def warning_email(
    warning: DueWarning, address: str, settings: Settings, now: dt.datetime
) -> EmailMessage:
    """The Swedish e-mail for one warning: what expires, when, and what to do."""
    expiry = warning.expiry
    organisation = f"{expiry.name} ({_display(expiry.organisation_number)})"
    expires = _local(expiry.not_after, settings.print_timezone)
    days = expiry.days_left(now)
    if warning.threshold_days == EXPIRED_THRESHOLD:
        headline, when = "har gått ut", f"har gått ut ({expires})"
    else:
        headline = f"går ut om {_days_text(days)}"
        when = f"går ut {expires}, om {_days_text(days)}"
    message = EmailMessage()
    message["From"] = settings.mail_out_from
    message["To"] = address
    message["Subject"] = f"Utskick: certifikatet för {organisation} {headline}"
    message.set_content(_warning_text(expiry, organisation, when))
    return message


def _days_text(days: float) -> str:
    whole = max(0, int(days))
    return "mindre än en dag" if whole == 0 else ("1 dag" if whole == 1 else f"{whole} dagar")


def _warning_text(expiry: CertificateExpiry, organisation: str, when: str) -> str:
    number = expiry.organisation_number
    return (
        f"Hej!\n\n"
        f"Organisationscertifikatet för {organisation} {when}.\n\n"
        f"Utskick använder certifikatet när det {_ROLE_TEXTS[expiry.role]}. När det har "
        "gått ut tar Mina meddelanden inte emot organisationens digitala brev, och de skickas "
        "på papper i stället.\n\n"
        "Gör så här:\n"
        "1. Beställ ett nytt organisationscertifikat (en PKCS#12-fil, .p12) för "
        f"organisationsnummer {_display(number)} hos er certifikatutfärdare.\n"
        "2. Installera det i Utskick på servern:\n"
        f"   utskick senders key {number} --key NYTT-CERTIFIKAT.p12 "
        "--passphrase-env VARIABEL-MED-LÖSENFRASEN\n"
        "3. Ingen omstart behövs: tjänsten använder det nya certifikatet från nästa brev. "
        "Kontrollera efteråt att /health visar status ok för certifikatet.\n\n"
        f"Certifikatets ämne: {expiry.subject}\n"
        f"SHA-256-fingeravtryck: {expiry.fingerprint}\n\n"
        "Det här meddelandet skickas av Utskick vid varje varningsgräns "
        "(UTSKICK_CERTIFICATE_WARNING_DAYS).\n"
    )
