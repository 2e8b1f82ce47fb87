"""The people who log in to the web app: their table, passwords, roles and repository.

A person belongs to one sender organisation (a municipality) and has one role. A case
officer (handläggare) sends and follows the letters of a department; a department
administrator (verksamhetsadministratör) does too, and sees the department's statistics; a
registrator (records) reads and searches every letter of the organisation but sends none;
management (ledning) sees the organisation's statistics. An administrator belongs to no
organisation and sees everything of the installation. Passwords are stored as scrypt hashes with a
salt of their own, so a copy of the database gives no one a password.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from utskick.db.base import Base
from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.mm import private_files

OFFICER = "officer"
DEPARTMENT_ADMIN = "department_admin"
RECORDS = "records"
MANAGEMENT = "management"
ADMIN = "admin"

# The roles that work in one department of their organisation.
DEPARTMENT_ROLES = (OFFICER, DEPARTMENT_ADMIN)

# The role codes with the Swedish names a user sees.
ROLE_NAMES = {
    OFFICER: "handläggare",
    DEPARTMENT_ADMIN: "verksamhetsadministratör",
    RECORDS: "registrator",
    MANAGEMENT: "ledning",
    ADMIN: "administratör",
}

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
# An e-mail address as an officer's mail server sends it, in lower case: a local part of the
# characters RFC 5322 allows unquoted, and a domain of at least two DNS labels (ASCII).
EMAIL_PATTERN = re.compile(
    r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+"
)
MAX_EMAIL_LENGTH = 254
MAX_EMAIL_LOCAL_PART = 64
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

# scrypt's cost: 16 MiB of memory and some tens of milliseconds per check on a small server.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
SALT_BYTES = 16
HASH_BYTES = 32
HASH_SCHEME = "scrypt"

DEMO_USERS_FILE = "demo-users.txt"


class WebUser(Base):
    """A person who logs in to the web app, with one role."""

    __tablename__ = "web_user"
    __table_args__ = (
        CheckConstraint(
            "role IN ('officer', 'department_admin', 'records', 'management', 'admin')",
            name="role_known",
        ),
        CheckConstraint(
            "role <> 'department_admin' OR department IS NOT NULL",
            name="department_admin_has_department",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    # `scrypt$n$r$p$salt$hash` with salt and hash in base64: the cost travels with the hash.
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(24))
    # The sender organisation (organisationsnummer, 10 digits) the person works for; None
    # only for an administrator of the whole installation.
    organisation_number: Mapped[str | None] = mapped_column(String(10))
    # The department an officer or a department administrator works in; None for the others.
    department: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    # The person's e-mail address, lower case: letters they send by e-mail are known by it
    # (from a relay host), and the replies about them go to it. None: no e-mail in.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)

    @property
    def role_name(self) -> str:
        """The role's Swedish name."""
        return ROLE_NAMES.get(self.role, self.role)


class WebSession(Base):
    """A login: the session cookie names it by a random token; logging out deletes it.

    Only the token's SHA-256 is stored, so a copy of the database opens no session.
    """

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id", ondelete="CASCADE"), index=True)
    # A digest of the password hash when the session began: a new password ends it.
    password_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class UserInputError(ValueError):
    """A user that cannot be created or changed as asked; the message is Swedish."""


# --- passwords -------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=HASH_BYTES
    )


def hash_password(password: str) -> str:
    """The stored form of a password: scrypt with a new random salt."""
    salt = os.urandom(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"{HASH_SCHEME}${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether the password matches its stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != HASH_SCHEME:
            return False
        expected = base64.b64decode(digest)
        computed = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(computed, expected)


def generate_password() -> str:
    """A new random password that is easy to type (about 120 bits)."""
    return secrets.token_urlsafe(15)


def check_new_password(password: str) -> None:
    """Refuse a password too short or too long to be set.

    Raises:
        UserInputError: the password is not acceptable.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserInputError(
            f"lösenordet måste ha minst {MIN_PASSWORD_LENGTH} tecken, fick {len(password)}"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserInputError(f"lösenordet får ha högst {MAX_PASSWORD_LENGTH} tecken")


# --- repository ------------------------------------------------------------------------------


class UserRepository:
    """All queries on web users. The caller's unit of work commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: int) -> WebUser | None:
        """The user with this id, if any."""
        return self.session.get(WebUser, user_id)

    def by_username(self, username: str) -> WebUser | None:
        """The user with this username (compared in lower case), if any."""
        return self.session.scalar(
            select(WebUser).where(WebUser.username == username.strip().lower())
        )

    def by_email(self, address: str) -> WebUser | None:
        """The user with this e-mail address (compared in lower case), if any."""
        return self.session.scalar(select(WebUser).where(WebUser.email == address.strip().lower()))

    def all(self) -> list[WebUser]:
        """Every user, by username."""
        return list(self.session.scalars(select(WebUser).order_by(WebUser.username)))

    def add(self, user: WebUser) -> WebUser:
        """Store a new user (flushed, so that its id is known)."""
        self.session.add(user)
        self.session.flush()
        return user

    def end_sessions(self, user_id: int) -> None:
        """End every web session of a user (a new password, a deactivated account)."""
        self.session.execute(delete(WebSession).where(WebSession.user_id == user_id))


def _checked_organisation(
    role: str, organisation: str | None, known: Collection[str] | None
) -> str | None:
    """The organisation as 10 digits; required for every role but administrator."""
    typed = organisation.strip() if organisation and organisation.strip() else None
    if role == ADMIN:
        if typed is not None:
            raise UserInputError(
                "en administratör hör till hela installationen, inte till en organisation; "
                "ange ingen organisation"
            )
        return None
    if typed is None:
        raise UserInputError(
            f"rollen {ROLE_NAMES[role]} hör till en avsändarorganisation; ange dess "
            "organisationsnummer med --org"
        )
    try:
        number = parse_organisation(typed).organisation_number
    except InvalidIdentityError as error:
        raise UserInputError(f"organisationen ska vara ett organisationsnummer: {error}") from None
    if known is not None and number not in known:
        raise UserInputError(
            f"organisationen {typed} är ingen avsändarorganisation här; se utskick senders list"
        )
    return number


def _checked_department(role: str, department: str | None) -> str | None:
    """The department: required for officers and department administrators, else none."""
    department = department.strip() if department and department.strip() else None
    if role in DEPARTMENT_ROLES and department is None:
        raise UserInputError(
            f"en {ROLE_NAMES[role]} arbetar på en förvaltning; ange den med --department"
        )
    if role not in DEPARTMENT_ROLES and department is not None:
        raise UserInputError(
            f"rollen {ROLE_NAMES[role]} ser hela organisationen; ange ingen förvaltning"
        )
    return department


def checked_email(address: str) -> str:
    """An e-mail address as stored: trimmed and in lower case.

    Raises:
        UserInputError: not an address of the form namn@kommun.se.
    """
    normalised = address.strip().lower()
    local_part = normalised.partition("@")[0]
    if (
        len(normalised) > MAX_EMAIL_LENGTH
        or len(local_part) > MAX_EMAIL_LOCAL_PART
        or not EMAIL_PATTERN.fullmatch(normalised)
    ):
        raise UserInputError(
            f"e-postadressen {address!r} går inte att använda; ange en adress av formen "
            f"namn@kommun.se (högst {MAX_EMAIL_LENGTH} tecken, utan mellanslag och å, ä, ö)"
        )
    return normalised


def set_email(session: Session, user: WebUser, address: str | None) -> None:
    """Give a user an e-mail address, or take it away with None (the caller commits).

    Letters the person e-mails to Utskick are known by this address when their mail server
    relays them, and the replies about them go to it.

    Raises:
        UserInputError: not a usable address, or another user has it.
    """
    if address is None or not address.strip():
        user.email = None
        return
    normalised = checked_email(address)
    holder = UserRepository(session).by_email(normalised)
    if holder is not None and holder.id != user.id:
        raise UserInputError(
            f"e-postadressen {normalised} används redan av användaren {holder.username}; "
            "varje adress hör till en person"
        )
    user.email = normalised


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    now: dt.datetime,
    organisation: str | None = None,
    department: str | None = None,
    display_name: str | None = None,
    known_organisations: Collection[str] | None = None,
    email: str | None = None,
) -> WebUser:
    """Check and create a web user (the caller commits).

    Args:
        session: the unit of work.
        username: lower-case letters, digits, `.`, `_` and `-`, 2–64 characters.
        password: at least ten characters; stored only as a scrypt hash.
        role: `officer`, `department_admin`, `records`, `management` or `admin`.
        now: the creation time.
        organisation: the sender organisation's number, as typed; required for every role
            but `admin`, which has none.
        department: required for an officer and a department administrator, none otherwise.
        display_name: the name shown in the app; default the username.
        known_organisations: the installation's sender organisations (10 digits), if the
            caller knows them: another organisation is refused.
        email: the person's e-mail address (stored in lower case, one person per address),
            by which letters they e-mail are known and to which the replies go; default none.

    Raises:
        UserInputError: a field is wrong or the username is taken; nothing is stored.
    """
    username = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise UserInputError(
            f"användarnamnet får bara ha små bokstäver a–z, siffror, punkt, understreck och "
            f"bindestreck (2–64 tecken), fick {username!r}"
        )
    if role not in ROLE_NAMES:
        known = ", ".join(f"{code} ({name})" for code, name in ROLE_NAMES.items())
        raise UserInputError(f"okänd roll {role!r}; välj en av {known}")
    organisation_number = _checked_organisation(role, organisation, known_organisations)
    department = _checked_department(role, department)
    check_new_password(password)
    repository = UserRepository(session)
    if repository.by_username(username) is not None:
        raise UserInputError(f"användaren {username} finns redan")
    address = checked_email(email) if email is not None and email.strip() else None
    if address is not None and repository.by_email(address) is not None:
        raise UserInputError(
            f"e-postadressen {address} används redan av en annan användare; varje adress hör "
            "till en person"
        )
    return repository.add(
        WebUser(
            username=username,
            display_name=(display_name or "").strip() or username,
            password_hash=hash_password(password),
            role=role,
            organisation_number=organisation_number,
            department=department,
            active=True,
            created_at=now,
            email=address,
        )
    )


# --- the embedded default's demo users ----------------------------------------------------------


@dataclass(frozen=True)
class DemoUser:
    """A person of the demo, with the role and the organisation the demo shows."""

    username: str
    display_name: str
    role: str
    organisation: str | None = None
    organisation_name: str = ""
    department: str | None = None
    # The demo officer's e-mail address: letters e-mailed from it are theirs.
    email: str | None = None

    @property
    def described(self) -> str:
        """Role, department and organisation, in Swedish, for the demo users file."""
        where = [part for part in (self.department, self.organisation_name) if part]
        return ROLE_NAMES[self.role] + (f" ({', '.join(where)})" if where else "")


def _read_demo_passwords(path: Path) -> dict[str, str]:
    """Username → password from an earlier demo users file (empty if there is none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    passwords = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and not line.startswith("#"):  # noqa: PLR2004 (username, password)
            passwords[fields[0]] = fields[1]
    return passwords


def _give_demo_email(session: Session, user: WebUser, address: str | None) -> None:
    """A demo user made before users had e-mail gets the demo's address, if nobody has it."""
    if address is None or user.email is not None:
        return
    if UserRepository(session).by_email(address) is None:
        user.email = address


def seed_demo_users(session: Session, home: Path, demo_users: Sequence[DemoUser]) -> Path:
    """Make sure the demo users exist and `<home>/demo-users.txt` holds their passwords.

    The passwords are generated on the first start and reused as long as they still match;
    a demo user whose password no longer matches the file (a new database, a lost file)
    gets a new one, written to the file. The file is readable by its owner only. The
    caller commits.

    Returns:
        The path of the file with the usernames, passwords and roles.
    """
    path = home / DEMO_USERS_FILE
    known = _read_demo_passwords(path)
    repository = UserRepository(session)
    now = dt.datetime.now(dt.UTC)
    lines = [
        "# Demoanvändare i Utskick (inbäddat standardläge): användarnamn, lösenord, roll.",
        "# Logga in på /logga-in. Byt lösenord eller ta bort användarna i produktion.",
    ]
    for demo in demo_users:
        password = known.get(demo.username)
        user = repository.by_username(demo.username)
        if user is None:
            password = password if password and len(password) >= MIN_PASSWORD_LENGTH else None
            password = password or generate_password()
            create_user(
                session,
                username=demo.username,
                password=password,
                role=demo.role,
                organisation=demo.organisation,
                department=demo.department,
                display_name=demo.display_name,
                now=now,
                email=demo.email,
            )
        else:
            if password is None or not verify_password(password, user.password_hash):
                password = generate_password()
                user.password_hash = hash_password(password)
            _give_demo_email(session, user, demo.email)
        lines.append(f"{demo.username}  {password}  {demo.described}")
    session.flush()
    private_files.write_private_file(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return path
