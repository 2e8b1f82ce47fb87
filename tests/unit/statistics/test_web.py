"""Whose letters the statistics count for each person: `scope_for`."""

import pytest

from functional.browser.statistics_letters import BYGG, EXEMPELKOMMUN, GRANNKOMMUN, SOCIAL
from utskick.statistics.repository import Month
from utskick.statistics.web import (
    DepartmentForbiddenError,
    Filters,
    OrganisationForbiddenError,
    scope_for,
)
from utskick.web.menu import NoScopeError
from utskick.web.users import WebUser


def person(role, organisation=EXEMPELKOMMUN, department=None):
    return WebUser(
        username="x", display_name="X", role=role, organisation_number=organisation,
        department=department,
    )  # fmt: skip


def filters(department="", sender=""):
    return Filters(first_month="2026-01", last_month="2026-02", department=department,
                   sender=sender, message_type="")  # fmt: skip


class TestScopeFor:
    def test_management_counts_every_department_of_their_organisation_only(self):
        scope = scope_for(person("management", GRANNKOMMUN), filters())
        assert (scope.sender_number, scope.department) == (GRANNKOMMUN, None)
        assert (scope.first_month, scope.last_month) == (Month(2026, 1), Month(2026, 2))

    def test_management_may_narrow_to_a_department_of_their_organisation(self):
        scope = scope_for(person("management"), filters(department=BYGG))
        assert (scope.sender_number, scope.department) == (EXEMPELKOMMUN, BYGG)

    def test_a_department_admin_counts_their_organisations_department(self):
        scope = scope_for(person("department_admin", GRANNKOMMUN, SOCIAL), filters())
        assert (scope.sender_number, scope.department) == (GRANNKOMMUN, SOCIAL)

    def test_a_department_admin_cannot_choose_another_department(self):
        with pytest.raises(DepartmentForbiddenError, match="du ser statistik för Socialtjänsten"):
            scope_for(person("department_admin", department=SOCIAL), filters(department=BYGG))

    @pytest.mark.parametrize("role", ["management", "department_admin"])
    def test_no_one_of_one_organisation_may_choose_another(self, role):
        with pytest.raises(OrganisationForbiddenError, match=r"\(202100-4748\) .* 202100-9903"):
            scope_for(person(role, department=SOCIAL), filters(sender="202100-9903"))

    def test_naming_ones_own_organisation_is_the_same_as_naming_none(self):
        scope = scope_for(person("management"), filters(sender="202100-4748"))
        assert scope.sender_number == EXEMPELKOMMUN

    def test_the_admin_counts_every_organisation_or_the_one_chosen(self):
        admin = person("admin", organisation=None)
        assert scope_for(admin, filters()).sender_number is None
        assert scope_for(admin, filters(sender="202100-9903")).sender_number == GRANNKOMMUN

    def test_management_without_an_organisation_sees_nothing(self):
        with pytest.raises(NoScopeError):
            scope_for(person("management", organisation=None), filters())
