"""`utskick users add|list|password` on an installation of its own."""

import datetime as dt

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from utskick.db.home import prepare_home
from utskick.entrypoints.cli.common import migrated_engine
from utskick.entrypoints.cli.users import users_app
from utskick.senders.repository import SenderRepository
from utskick.settings import load_settings

runner = CliRunner()
PASSWORD = "ett-bra-lösenord\n"


@pytest.fixture
def home(tmp_path):
    """An installation whose one sender organisation is Exempelkommun."""
    settings = load_settings(home=tmp_path)
    prepare_home(settings)
    engine = migrated_engine(settings.resolved_database_url())
    with Session(engine) as session:
        SenderRepository(session).add(
            "2021004748", "Exempelkommun", key_path=None, now=dt.datetime.now(dt.UTC)
        )
        session.commit()
    engine.dispose()
    return str(tmp_path)


def users(home, *args, stdin=PASSWORD):
    return runner.invoke(users_app, [*args, "--home", home], input=stdin)


class TestUsersCommands:
    def test_add_then_list_shows_the_user_with_role_and_department(self, home):
        added = users(home, "add", "sara", "--role", "department_admin", "--org", "202100-4748",
                      "--department", "Socialtjänsten", "--name", "Sara Svensson",
                      "--password-stdin")  # fmt: skip
        assert added.exit_code == 0, added.output
        assert "verksamhetsadministratör" in added.output
        assert "organisation 202100-4748" in added.output
        listed = users(home, "list")
        assert "sara" in listed.output
        assert "Sara Svensson" in listed.output
        assert "Socialtjänsten" in listed.output
        assert "202100-4748" in listed.output

    def test_an_organisation_that_is_not_a_sender_here_is_refused(self, home):
        added = users(home, "add", "greta", "--role", "management", "--org", "202100-9903",
                      "--password-stdin")  # fmt: skip
        assert added.exit_code == 2
        assert "ingen avsändarorganisation här" in added.output
        assert "Inga användare ännu" in users(home, "list").output

    def test_the_password_may_be_typed_twice_at_a_prompt(self, home):
        added = users(home, "add", "lena", "--role", "admin", stdin=PASSWORD * 2)
        assert added.exit_code == 0, added.output
        assert "ett-bra-lösenord" not in added.output.split("Lösenord")[-1]

    def test_a_bad_role_fails_and_adds_nobody(self, home):
        added = users(home, "add", "lena", "--role", "chef", "--password-stdin")
        assert added.exit_code == 2
        assert "okänd roll 'chef'" in added.output
        assert "Inga användare ännu" in users(home, "list").output

    def test_a_department_admin_without_department_is_refused(self, home):
        added = users(home, "add", "sara", "--role", "department_admin", "--org", "2021004748",
                      "--password-stdin")  # fmt: skip
        assert added.exit_code == 2
        assert "ange den med --department" in added.output

    def test_a_new_password_replaces_the_old(self, home):
        from sqlalchemy.orm import Session

        from utskick.db.engine import create_database_engine
        from utskick.web.users import UserRepository, verify_password

        users(home, "add", "lena", "--role", "admin", "--password-stdin")
        changed = users(home, "password", "lena", "--password-stdin", stdin="nytt-lösenord-2\n")
        assert changed.exit_code == 0, changed.output
        engine = create_database_engine(f"sqlite:///{home}/utskick.db")
        with Session(engine) as session:
            user = UserRepository(session).by_username("lena")
            assert verify_password("nytt-lösenord-2", user.password_hash)
        engine.dispose()

    def test_a_password_for_an_unknown_user_fails(self, home):
        changed = users(home, "password", "ingen", "--password-stdin")
        assert changed.exit_code == 2
        assert "användaren ingen finns inte" in changed.output
