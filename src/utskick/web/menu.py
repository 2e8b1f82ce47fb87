"""What each role may open: the menu every page's header shows, and who sees which letters.

One place decides both, so the menu never offers a page that answers 403, and every area
filters letters, print batches and statistics by the same scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from utskick.web.users import (
    ADMIN,
    DEPARTMENT_ADMIN,
    DEPARTMENT_ROLES,
    MANAGEMENT,
    OFFICER,
    RECORDS,
    WebUser,
)

SENDING_ROLES = (OFFICER, DEPARTMENT_ADMIN)
READING_ROLES = (OFFICER, DEPARTMENT_ADMIN, RECORDS, ADMIN)
PRINTING_ROLES = (OFFICER, DEPARTMENT_ADMIN, ADMIN)
STATISTICS_ROLES = (DEPARTMENT_ADMIN, MANAGEMENT, ADMIN)
RECORDS_ROLES = (RECORDS, ADMIN)
# Who read which letters is for the installation's administrator to review, not for the
# registrators and officers whose reading it records.
ACCESS_LOG_ROLES = (ADMIN,)


@dataclass(frozen=True)
class MenuItem:
    """A page of the menu: its path, its Swedish label and who may open it (None: anyone)."""

    path: str
    label: str
    roles: tuple[str, ...] | None


MENU = (
    MenuItem("/brev/nytt", "Nytt brev", SENDING_ROLES),
    MenuItem("/brev", "Skickat", READING_ROLES),
    MenuItem("/massutskick", "Massutskick", SENDING_ROLES),
    MenuItem("/utskrift", "Utskrift", PRINTING_ROLES),
    MenuItem("/statistik", "Statistik", STATISTICS_ROLES),
    MenuItem("/arkiv", "Arkiv", RECORDS_ROLES),
    MenuItem("/admin/atkomstlogg", "Åtkomstlogg", ACCESS_LOG_ROLES),
    MenuItem("/nytta", "Nyttokalkyl", None),
)


def menu_for(user: WebUser | None) -> list[MenuItem]:
    """The pages this person may open, in menu order (a visitor: the public ones)."""
    return [
        item
        for item in MENU
        if item.roles is None or (user is not None and user.role in item.roles)
    ]


@dataclass(frozen=True)
class LetterScope:
    """Whose letters a person sees: one organisation's, one department's, or everyone's.

    `organisation_number` None means every organisation (the installation's administrator);
    `department` None means every department of the organisation; "" means the letters that
    have no department.
    """

    organisation_number: str | None
    department: str | None

    @property
    def everything(self) -> bool:
        """Whether nothing is filtered (an administrator of the whole installation)."""
        return self.organisation_number is None

    def covers(self, organisation_number: str, department: str | None) -> bool:
        """Whether a letter (or print batch) of this organisation and department is in scope."""
        if self.organisation_number is None:
            return True
        if organisation_number != self.organisation_number:
            return False
        return self.department is None or (department or "") == self.department


class NoScopeError(Exception):
    """A person who belongs to no organisation (and is not an administrator) sees nothing."""

    def __init__(self, user: WebUser) -> None:
        self.message = (
            f"{user.display_name} hör inte till någon avsändarorganisation och ser därför inga "
            "brev; be en administratör lägga till organisationen (utskick users)."
        )
        super().__init__(self.message)


def letter_scope(user: WebUser) -> LetterScope:
    """The letters this person may see.

    Raises:
        NoScopeError: the person (not an administrator) belongs to no organisation.
    """
    if user.role == ADMIN:
        return LetterScope(None, None)
    if not user.organisation_number:
        raise NoScopeError(user)
    # An officer registered without a department (before departments were required) sees
    # only the letters that have none, never the whole organisation.
    department = (user.department or "") if user.role in DEPARTMENT_ROLES else None
    return LetterScope(user.organisation_number, department)
