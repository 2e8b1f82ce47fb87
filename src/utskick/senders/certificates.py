"""When the organisations' certificates expire, and which expiry warnings are due.

Every sender organisation signs with its own certificate and the intermediary also seals and
presents its certificate over mutual TLS. When one expires, Mina meddelanden refuses its
letters and every one of them goes to paper; these functions let the daily check, /health and
the metrics see it coming. The certificates are read through the process's key ring
(`senders.keys`), so what is reported is what this process signs with, re-read when a key
file is replaced.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from utskick.mm.keys import format_subject
from utskick.senders.keys import SenderKeyError, signing_identity
from utskick.senders.models import CertificateNotice, SenderOrganisation
from utskick.senders.repository import SenderRepository

Role = Literal["sender", "intermediary"]
CertificateStatus = Literal["ok", "warning", "expired", "unreadable"]

# The threshold an expired certificate's own notice is kept under ("has expired"), next to
# the configured ones (60, 30, 7 …): one e-mail more, on the day it stops working.
EXPIRED_THRESHOLD = 0
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class CertificateExpiry:
    """One organisation's certificate and when it stops working."""

    organisation_number: str  # 10 digits
    name: str
    role: Role  # "intermediary" for the organisation that also seals and holds the TLS key
    subject: str
    fingerprint: str  # SHA-256 of the certificate's DER, lower-case hex
    not_after: dt.datetime  # aware, UTC

    def days_left(self, now: dt.datetime) -> float:
        """Days (with fractions) from `now` until the certificate expires; negative after."""
        return (self.not_after - now).total_seconds() / SECONDS_PER_DAY

    def is_expired(self, now: dt.datetime) -> bool:
        """Whether the certificate is no longer valid at `now`."""
        return self.not_after <= now


@dataclass(frozen=True)
class UnreadableCertificate:
    """A sender organisation whose key or certificate this process cannot read."""

    organisation_number: str
    name: str
    role: Role
    reason: str  # Swedish, says what to do; never key material or a passphrase


@dataclass(frozen=True)
class CertificateSurvey:
    """Every sender organisation's certificate: those read, and those that could not be."""

    expiries: list[CertificateExpiry]
    unreadable: list[UnreadableCertificate]


@dataclass(frozen=True)
class DueWarning:
    """A certificate that has crossed a warning threshold.

    `threshold_days` is the tightest threshold crossed (EXPIRED_THRESHOLD once expired);
    `crossed` every threshold crossed, so that a certificate first seen at 5 days left gets
    one e-mail, not one for each of 60, 30 and 7.
    """

    expiry: CertificateExpiry
    threshold_days: int
    crossed: tuple[int, ...]


def role_of(sender: SenderOrganisation) -> Role:
    """The organisation's role as the warnings name it."""
    return "intermediary" if sender.intermediary else "sender"


def fingerprint_of(certificate: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint (of its DER form), lower-case hex."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def expiry_of(sender: SenderOrganisation, certificate: x509.Certificate) -> CertificateExpiry:
    """What the warnings need to know of one organisation's certificate."""
    return CertificateExpiry(
        organisation_number=sender.organisation_number,
        name=sender.name,
        role=role_of(sender),
        subject=format_subject(certificate.subject),
        fingerprint=fingerprint_of(certificate),
        not_after=certificate.not_valid_after_utc,
    )


def certificate_survey(session: Session) -> CertificateSurvey:
    """Read every sender organisation's certificate through the process's key ring.

    A key that cannot be read (no file, a missing passphrase variable, a wrong passphrase)
    is listed in `unreadable` with the reason, never raised: one broken key must not hide
    the others' expiry.
    """
    expiries: list[CertificateExpiry] = []
    unreadable: list[UnreadableCertificate] = []
    for sender in SenderRepository(session).all():
        try:
            identity = signing_identity(sender)
        except SenderKeyError as error:
            unreadable.append(
                UnreadableCertificate(
                    sender.organisation_number, sender.name, role_of(sender), str(error)
                )
            )
            continue
        expiries.append(expiry_of(sender, identity.certificate))
    return CertificateSurvey(expiries, unreadable)


def certificate_expiries(session: Session, now: dt.datetime) -> list[CertificateExpiry]:
    """Every readable sender certificate, the one expiring first first (days left at `now`).

    Unreadable keys are left out here; `certificate_survey` lists them.
    """
    expiries = certificate_survey(session).expiries
    return sorted(expiries, key=lambda e: (e.days_left(now), e.organisation_number))


def crossed_thresholds(
    expiry: CertificateExpiry, thresholds: Iterable[int], now: dt.datetime
) -> tuple[int, ...]:
    """The thresholds (days) the certificate is within at `now`, widest first.

    An expired certificate has crossed every threshold, and EXPIRED_THRESHOLD as well.
    """
    days_left = expiry.days_left(now)
    crossed = sorted({days for days in thresholds if days_left <= days}, reverse=True)
    if expiry.is_expired(now):
        crossed = sorted({*thresholds, EXPIRED_THRESHOLD}, reverse=True)
    return tuple(crossed)


def due_warnings(
    expiries: Iterable[CertificateExpiry], thresholds: Sequence[int], now: dt.datetime
) -> list[DueWarning]:
    """Each certificate within at least one threshold at `now`, with the thresholds crossed."""
    warnings = []
    for expiry in expiries:
        crossed = crossed_thresholds(expiry, thresholds, now)
        if crossed:
            warnings.append(DueWarning(expiry, min(crossed), crossed))
    return warnings


def certificate_status(
    expiry: CertificateExpiry, thresholds: Sequence[int], now: dt.datetime
) -> CertificateStatus:
    """ok, warning (within the widest threshold) or expired; /health shows it."""
    if expiry.is_expired(now):
        return "expired"
    if crossed_thresholds(expiry, thresholds, now):
        return "warning"
    return "ok"


def sent_notices(session: Session, fingerprints: Iterable[str]) -> set[tuple[str, int]]:
    """The (fingerprint, threshold) pairs already e-mailed, among these certificates."""
    wanted = list(set(fingerprints))
    if not wanted:
        return set()
    rows = session.execute(
        select(CertificateNotice.fingerprint, CertificateNotice.threshold_days).where(
            CertificateNotice.fingerprint.in_(wanted)
        )
    )
    return {(fingerprint, threshold) for fingerprint, threshold in rows}


def claim_notices(
    session: Session, expiry: CertificateExpiry, thresholds: Iterable[int], now: dt.datetime
) -> bool:
    """Record the certificate's notices for these thresholds, unless another process has.

    Recorded before the e-mail is sent (in a savepoint): two checks running at once then
    cannot both send it. The caller commits, sends, and removes the claim with
    `release_notices` if the e-mail could not be sent.

    Returns:
        False when a notice for one of these thresholds exists already (nothing recorded).
    """
    wanted = sorted(set(thresholds))
    if sent_notices(session, [expiry.fingerprint]) & {(expiry.fingerprint, t) for t in wanted}:
        return False
    try:
        with session.begin_nested():
            for threshold in wanted:
                session.add(_notice(expiry, threshold, now))
    except IntegrityError:
        return False
    return True


def release_notices(session: Session, fingerprint: str, thresholds: Iterable[int]) -> None:
    """Remove claimed notices whose e-mail was not sent, so that the next check sends it."""
    for threshold in set(thresholds):
        notice = session.get(CertificateNotice, (fingerprint, threshold))
        if notice is not None:
            session.delete(notice)
    session.flush()


def _notice(expiry: CertificateExpiry, threshold: int, now: dt.datetime) -> CertificateNotice:
    return CertificateNotice(
        fingerprint=expiry.fingerprint,
        threshold_days=threshold,
        subject=expiry.subject[:512],
        not_after=expiry.not_after,
        sent_at=now,
    )
