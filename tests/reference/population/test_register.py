"""The population register's look-ups on SQLite and on PostgreSQL."""

import datetime as dt

import pytest

from utskick.reference.population.register import InvalidLookupError, PopulationRegister
from utskick.reference.store import PopulationCompany, PopulationPerson

pytestmark = pytest.mark.storage


@pytest.fixture
def register(reference_sessions):
    with reference_sessions.begin() as session:
        session.add_all(
            [
                PopulationPerson(
                    id="196611090827",
                    given_name="David",
                    surname="Dahl",
                    street="Dalvägen 7",
                    postal_code="123 48",
                    city="Exempelstad",
                ),
                PopulationPerson(
                    id="198512304166",
                    given_name="Eva",
                    surname="Ek",
                    protected=True,
                    street="Hemlig väg 1",
                    postal_code="999 99",
                    city="Hemligby",
                ),
                PopulationPerson(
                    id="197001632392",
                    given_name="Gustav",
                    surname="Gran",
                    street="Granstigen 2",
                    postal_code="111 23",
                    city="Norrby",
                    emigrated_on=dt.date(2024, 8, 1),
                ),
                PopulationCompany(
                    number="5566778899",
                    name="Utan Brevlåda AB",
                    street="Lådgatan 1",
                    postal_code="123 53",
                    city="Exempelstad",
                ),
            ]
        )
    return PopulationRegister(reference_sessions)


def test_a_person_is_found_with_name_and_address(register):
    (record,) = register.lookup(["19661109-0827"])
    assert record.name == "David Dahl"
    assert (record.address.street, record.address.postal_code) == ("Dalvägen 7", "123 48")


def test_a_protected_identity_never_gives_out_the_stored_address(register):
    (record,) = register.lookup(["198512304166"])
    assert record.protected is True
    assert record.address is None
    assert record.name is None
    assert "Hemlig" not in str(record.as_json())


def test_an_emigrated_person_is_marked_with_the_date(register):
    (record,) = register.lookup(["197001632392"])
    assert record.emigrated_on == dt.date(2024, 8, 1)
    assert record.as_json()["emigrated_on"] == "2024-08-01"


def test_an_organisation_is_found_by_ten_or_twelve_digits(register):
    short, long = register.lookup(["556677-8899", "165566778899"])
    assert short == long
    assert short.name == "Utan Brevlåda AB"


def test_unknown_ids_are_answered_as_not_found_in_order(register):
    records = register.lookup(["194001019803", "196611090827"])
    assert [(r.id, r.found) for r in records] == [("194001019803", False), ("196611090827", True)]


def test_a_bad_check_digit_is_refused_with_a_reason(register):
    with pytest.raises(InvalidLookupError, match="kontrollsiffra"):
        register.lookup(["196611090828"])
