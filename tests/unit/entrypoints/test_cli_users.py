"""`utskick users add|list|password` on an installation of its own."""

import pytest
from typer.testing import CliRunner

from utskick.entrypoints.cli.users import users_app

runner = CliRunner()
PASSWORD = "ett-bra-lösenord\n"


@pytest.fixture
def home(tmp_path):
    return str(tmp_path)


def users(home, *args, stdin=PASSWORD):
    return runner.invoke(users_app, [*args, "--home", home], input=stdin)


class TestUsersCommands:
    def test_add_then_list_shows_the_user_with_role_and_department(self, home):
        added = users(home, "add", "sara", "--role", "department_admin", "--department",
                      "Socialtjänsten", "--name", "Sara Svensson", "--password-stdin")  # fmt: skip
        assert added.exit_code == 0, added.output
        assert "verksamhetsadministratör" in added.output
        listed = users(home, "list")
        assert "sara" in listed.output
        assert "Sara Svensson" in listed.output
        assert "Socialtjänsten" in listed.output

    def test_the_password_may_be_typed_twice_at_a_prompt(self, home):
        added = users(home, "add", "lena", "--role", "management", stdin=PASSWORD * 2)
        assert added.exit_code == 0, added.output
        assert "ett-bra-lösenord" not in added.output.split("Lösenord")[-1]

    def test_a_bad_role_fails_and_adds_nobody(self, home):
        added = users(home, "add", "lena", "--role", "chef", "--password-stdin")
        assert added.exit_code == 2
        assert "okänd roll 'chef'" in added.output
        assert "Inga användare ännu" in users(home, "list").output

    def test_a_department_admin_without_department_is_refused(self, home):
        added = users(home, "add", "sara", "--role", "department_admin", "--password-stdin")
        assert added.exit_code == 2
        assert "ange den med --department" in added.output

    def test_a_new_password_replaces_the_old(self, home):
        from sqlalchemy.orm import Session

        from utskick.db.engine import create_database_engine
        from utskick.web.users import UserRepository, verify_password

        users(home, "add", "lena", "--role", "management", "--password-stdin")
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
