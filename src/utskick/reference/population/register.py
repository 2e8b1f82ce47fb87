"""The population register's data: name and postal address by id.

Persons by personnummer or samordningsnummer, organisations by organisationsnummer, with
protected identity, deceased and emigrated as a register gives them.

A protected identity (skyddad identitet) is reported as such with no name and no address:
the register never hands those out to a sender.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from utskick.reference.far.registry import FarError, check_recipient_id
from utskick.reference.store import PopulationCompany, PopulationPerson

MAX_IDS_PER_LOOKUP = 1000


class InvalidLookupError(ValueError):
    """An id the register cannot look up; the message says why (Swedish)."""


@dataclass(frozen=True)
class PostalAddress:
    """Where letters to the person or organisation go."""

    street: str
    postal_code: str
    city: str
    care_of: str | None = None


@dataclass(frozen=True)
class RegisterRecord:
    """What the register says about one id."""

    id: str  # 12 digits as asked
    kind: str  # "person" | "organisation"
    found: bool
    name: str | None = None
    address: PostalAddress | None = None
    protected: bool = False
    deceased_on: dt.date | None = None
    emigrated_on: dt.date | None = None

    def as_json(self) -> dict[str, object]:
        """The record as the register's JSON answer."""
        return {
            "id": self.id,
            "kind": self.kind,
            "found": self.found,
            "name": self.name,
            "address": None
            if self.address is None
            else {
                "care_of": self.address.care_of,
                "street": self.address.street,
                "postal_code": self.address.postal_code,
                "city": self.address.city,
            },
            "protected": self.protected,
            "deceased_on": self.deceased_on.isoformat() if self.deceased_on else None,
            "emigrated_on": self.emigrated_on.isoformat() if self.emigrated_on else None,
        }


def normalise_id(value: str) -> str:
    """A 12-digit id from what a caller typed: 12 digits, or a 10-digit organisationsnummer.

    Raises:
        InvalidLookupError: what is wrong with the id.
    """
    digits = value.replace("-", "").replace("+", "").strip()
    if len(digits) == 10 and digits.isdigit() and int(digits[2]) >= 2:  # noqa: PLR2004
        digits = "16" + digits  # organisationsnummer: third digit ≥ 2
    try:
        return check_recipient_id(digits)
    except FarError as error:
        raise InvalidLookupError(error.description) from None


class PopulationRegister:
    """Look up persons and organisations."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def lookup(self, ids: list[str]) -> list[RegisterRecord]:
        """One record per id, in the order asked (found=False for ids the register lacks).

        Raises:
            InvalidLookupError: a malformed id, or more than 1,000 ids in one call.
        """
        if len(ids) > MAX_IDS_PER_LOOKUP:
            raise InvalidLookupError(
                f"{len(ids)} id:n i en fråga; högst {MAX_IDS_PER_LOOKUP} (dela upp frågan)"
            )
        normalised = [normalise_id(value) for value in ids]
        person_ids = [i for i in normalised if not i.startswith("16")]
        company_numbers = [i[2:] for i in normalised if i.startswith("16")]
        with self._sessions() as session:
            persons = {
                p.id: p
                for p in session.scalars(
                    select(PopulationPerson).where(PopulationPerson.id.in_(person_ids))
                )
            }
            companies = {
                c.number: c
                for c in session.scalars(
                    select(PopulationCompany).where(PopulationCompany.number.in_(company_numbers))
                )
            }
        return [
            _company_record(i, companies.get(i[2:]))
            if i.startswith("16")
            else _person_record(i, persons.get(i))
            for i in normalised
        ]


def _person_record(person_id: str, person: PopulationPerson | None) -> RegisterRecord:
    if person is None:
        return RegisterRecord(person_id, "person", found=False)
    if person.protected:
        # Skyddad identitet: the register confirms the person exists, nothing more.
        return RegisterRecord(person_id, "person", found=True, protected=True)
    address = None
    if person.street and person.postal_code and person.city:
        address = PostalAddress(person.street, person.postal_code, person.city, person.care_of)
    return RegisterRecord(
        person_id,
        "person",
        found=True,
        name=f"{person.given_name} {person.surname}",
        address=address,
        deceased_on=person.deceased_on,
        emigrated_on=person.emigrated_on,
    )


def _company_record(recipient_id: str, company: PopulationCompany | None) -> RegisterRecord:
    if company is None:
        return RegisterRecord(recipient_id, "organisation", found=False)
    return RegisterRecord(
        recipient_id,
        "organisation",
        found=True,
        name=company.name,
        address=PostalAddress(company.street, company.postal_code, company.city),
    )
