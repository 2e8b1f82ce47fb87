"""The menu each role sees, and whose letters each role may see."""

import pytest

from utskick.web.menu import LetterScope, NoScopeError, letter_scope, menu_for
from utskick.web.users import WebUser

EXEMPELKOMMUN = "2021004748"
GRANNKOMMUN = "2021009903"


def person(role, organisation=EXEMPELKOMMUN, department=None):
    return WebUser(
        username="x", display_name="X", role=role, organisation_number=organisation,
        department=department,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        ("officer", ["Nytt brev", "Skickat", "Massutskick", "Utskrift", "Nyttokalkyl"]),
        ("department_admin",
         ["Nytt brev", "Skickat", "Massutskick", "Utskrift", "Statistik", "Nyttokalkyl"]),
        ("records", ["Skickat", "Arkiv", "Nyttokalkyl"]),
        ("management", ["Statistik", "Nyttokalkyl"]),
        ("admin", ["Skickat", "Utskrift", "Statistik", "Arkiv", "Åtkomstlogg", "Nyttokalkyl"]),
    ],
)  # fmt: skip
def test_each_role_sees_the_pages_it_may_open(role, labels):
    assert [item.label for item in menu_for(person(role))] == labels


def test_a_visitor_sees_only_the_public_pages():
    assert [item.path for item in menu_for(None)] == ["/nytta"]


def test_an_officer_sees_the_department_of_the_organisation():
    scope = letter_scope(person("officer", department="Socialtjänsten"))
    assert scope == LetterScope(EXEMPELKOMMUN, "Socialtjänsten")
    assert scope.covers(EXEMPELKOMMUN, "Socialtjänsten")
    assert not scope.covers(EXEMPELKOMMUN, "Samhällsbyggnad")
    assert not scope.covers(GRANNKOMMUN, "Socialtjänsten")
    assert not scope.covers(EXEMPELKOMMUN, None)


def test_an_officer_without_a_department_sees_only_letters_without_one():
    scope = letter_scope(person("officer"))
    assert scope.covers(EXEMPELKOMMUN, None)
    assert not scope.covers(EXEMPELKOMMUN, "Socialtjänsten")


def test_records_and_management_see_the_whole_organisation_and_nothing_else():
    for role in ("records", "management"):
        scope = letter_scope(person(role))
        assert scope.covers(EXEMPELKOMMUN, "Socialtjänsten")
        assert scope.covers(EXEMPELKOMMUN, None)
        assert not scope.covers(GRANNKOMMUN, "Socialtjänsten")


def test_an_administrator_sees_everything():
    scope = letter_scope(person("admin", organisation=None))
    assert scope.everything
    assert scope.covers(GRANNKOMMUN, "Socialtjänsten")


def test_someone_without_an_organisation_sees_nothing():
    with pytest.raises(NoScopeError, match="hör inte till någon avsändarorganisation"):
        letter_scope(person("records", organisation=None))
