"""People's e-mail addresses: checked, lower case, one person each; the demo's officers have one."""

import datetime as dt

import pytest

from utskick.web.users import (
    DemoUser,
    UserInputError,
    UserRepository,
    checked_email,
    create_user,
    seed_demo_users,
    set_email,
)

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
PASSWORD = "ett-långt-lösenord"


def officer(session, username, email=None):
    return create_user(session, username=username, password=PASSWORD, role="officer",
                       organisation="2021004748", department="Socialtjänsten", email=email,
                       now=NOW)  # fmt: skip


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Hans.Handlaggare@Exempelkommun.SE", "hans.handlaggare@exempelkommun.se"),
        ("  hans+brev@exempelkommun.se ", "hans+brev@exempelkommun.se"),
    ],
)
def test_an_address_is_stored_trimmed_and_in_lower_case(typed, stored):
    assert checked_email(typed) == stored


@pytest.mark.parametrize(
    "typed", ["hans", "hans@localhost", "hans handläggare@kommun.se", "hans@@kommun.se",
              "hans@kommun..se", "x" * 65 + "@kommun.se", "hans@växjö.se"],
)  # fmt: skip
def test_an_address_that_cannot_be_used_says_the_form_to_use(typed):
    with pytest.raises(UserInputError, match=r"namn@kommun\.se"):
        checked_email(typed)


@pytest.mark.storage
def test_one_address_belongs_to_one_person(db_session):
    hans = officer(db_session, "hans-epost", "Hans@Exempelkommun.se")
    assert hans.email == "hans@exempelkommun.se"
    assert UserRepository(db_session).by_email("HANS@exempelkommun.se ") is hans
    with pytest.raises(UserInputError, match="används redan"):
        officer(db_session, "greta-epost", "hans@exempelkommun.se")
    greta = officer(db_session, "greta-epost")
    with pytest.raises(UserInputError, match="används redan av användaren hans-epost"):
        set_email(db_session, greta, "HANS@exempelkommun.se")
    set_email(db_session, hans, "hans@exempelkommun.se")  # one's own address again: fine
    set_email(db_session, greta, "greta@exempelkommun.se")
    set_email(db_session, hans, None)
    assert (hans.email, greta.email) == (None, "greta@exempelkommun.se")


@pytest.mark.storage
def test_demo_users_get_their_address_also_when_made_before_addresses(db_session, tmp_path):
    old = officer(db_session, "demo-hans")  # an earlier start: no address yet
    demo = (
        DemoUser("demo-hans", "Hans", "officer", "2021004748", "Exempelkommun",
                 "Socialtjänsten", email="demo-hans@exempelkommun.se"),
        DemoUser("demo-berit", "Berit", "officer", "2021004748", "Exempelkommun",
                 "Samhällsbyggnad", email="demo-berit@exempelkommun.se"),
        DemoUser("demo-lena", "Lena", "management", "2021004748", "Exempelkommun"),
    )  # fmt: skip
    seed_demo_users(db_session, tmp_path, demo)
    repository = UserRepository(db_session)
    assert old.email == "demo-hans@exempelkommun.se"
    assert repository.by_username("demo-berit").email == "demo-berit@exempelkommun.se"
    assert repository.by_username("demo-lena").email is None
