"""Which diarium series a letter is registered in: by its records rule and its department.

A letter whose rule is `register` (diarieförs) goes into the organisation's main series,
e.g. `KS` (kommunstyrelsen). A letter whose rule is `journal` (journalförs) goes into its
department's own series, e.g. `SOC` for Socialtjänsten; a department without a series of
its own gets one from the first three letters of its name, and a letter without a
department goes into the main series.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

JOURNAL = "journal"
_DERIVED_LETTERS = 3

# The demo's departments and their series (the reference world's municipalities).
DEMO_DEPARTMENT_SERIES = {
    "Socialtjänsten": "SOC",
    "Samhällsbyggnad": "SBN",
    "Barn och utbildning": "BUN",
}


@dataclass(frozen=True)
class DiariumSeries:
    """The series of one diarium: the main one and the departments' own."""

    register: str = "KS"
    departments: Mapping[str, str] = field(default_factory=dict)

    def for_letter(self, rule: str, department: str | None) -> str:
        """The series a letter under `rule` from `department` is registered in."""
        if rule != JOURNAL or not department or not department.strip():
            return self.register
        name = department.strip()
        return self.departments.get(name) or _derived(name) or self.register


DEMO_SERIES = DiariumSeries("KS", DEMO_DEPARTMENT_SERIES)


def _derived(department: str) -> str:
    """`SAM` for "Samhällsbyggnad": the first letters, upper-case, without diacritics."""
    plain = unicodedata.normalize("NFKD", department)
    letters = [char for char in plain if char.isascii() and char.isalpha()]
    return "".join(letters[:_DERIVED_LETTERS]).upper()
