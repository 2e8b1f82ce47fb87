"""Web users: password hashes, the checks on a new user, and the demo users."""

import stat

import pytest

from support.world import NOW
from utskick.web.users import (
    DEMO_USERS_FILE,
    DemoUser,
    UserInputError,
    UserRepository,
    create_user,
    hash_password,
    seed_demo_users,
    verify_password,
)

PASSWORD = "ett-bra-lösenord"
EXEMPELKOMMUN = "2021004748"
DEMO = (
    DemoUser("ledning", "Lena Ledning", "management", EXEMPELKOMMUN, "Exempelkommun"),
    DemoUser(
        "socialadmin", "Sara", "department_admin", EXEMPELKOMMUN, "Exempelkommun", "Socialtjänsten"
    ),
    DemoUser("admin", "Ada", "admin"),
)


class TestPasswords:
    def test_the_right_password_matches_its_hash(self):
        assert verify_password(PASSWORD, hash_password(PASSWORD))

    def test_a_wrong_password_does_not_match(self):
        assert not verify_password("ett-annat-lösenord", hash_password(PASSWORD))

    def test_each_hash_has_its_own_salt(self):
        first, second = hash_password(PASSWORD), hash_password(PASSWORD)
        assert first != second
        assert first.startswith("scrypt$16384$8$1$")

    def test_a_damaged_hash_matches_nothing(self):
        assert not verify_password(PASSWORD, "scrypt$inte-en-hash")


@pytest.mark.storage
class TestCreateUser:
    def test_a_user_is_stored_with_a_hash_not_the_password(self, db_session):
        user = create_user(db_session, username="Lena", password=PASSWORD, role="management",
                           organisation="202100-4748", now=NOW)  # fmt: skip
        stored = UserRepository(db_session).by_username("lena")
        assert stored is user
        assert PASSWORD not in stored.password_hash
        assert stored.role_name == "ledning"
        assert stored.organisation_number == EXEMPELKOMMUN

    def test_a_department_admin_needs_a_department(self, db_session):
        with pytest.raises(UserInputError, match="arbetar på en förvaltning; ange den"):
            create_user(db_session, username="sara", password=PASSWORD, role="department_admin",
                        organisation=EXEMPELKOMMUN, now=NOW)  # fmt: skip

    def test_an_officer_needs_a_department(self, db_session):
        with pytest.raises(UserInputError, match="handläggare arbetar på en förvaltning"):
            create_user(db_session, username="hans", password=PASSWORD, role="officer",
                        organisation=EXEMPELKOMMUN, now=NOW)  # fmt: skip

    @pytest.mark.parametrize("role", ["management", "records"])
    def test_organisation_wide_roles_take_no_department(self, db_session, role):
        with pytest.raises(UserInputError, match="ser hela organisationen"):
            create_user(db_session, username="lena", password=PASSWORD, role=role,
                        organisation=EXEMPELKOMMUN, department="Socialtjänsten", now=NOW)  # fmt: skip

    @pytest.mark.parametrize("role", ["officer", "department_admin", "records", "management"])
    def test_every_role_but_admin_belongs_to_an_organisation(self, db_session, role):
        with pytest.raises(UserInputError, match="ange dess organisationsnummer med --org"):
            create_user(db_session, username="lena", password=PASSWORD, role=role,
                        department="Socialtjänsten", now=NOW)  # fmt: skip
        assert UserRepository(db_session).by_username("lena") is None

    def test_an_admin_belongs_to_no_organisation(self, db_session):
        with pytest.raises(UserInputError, match="hör till hela installationen"):
            create_user(db_session, username="ada", password=PASSWORD, role="admin",
                        organisation=EXEMPELKOMMUN, now=NOW)  # fmt: skip
        admin = create_user(db_session, username="ada", password=PASSWORD, role="admin", now=NOW)
        assert admin.organisation_number is None

    def test_an_organisation_number_with_a_bad_check_digit_is_refused(self, db_session):
        with pytest.raises(UserInputError, match="ska vara ett organisationsnummer"):
            create_user(db_session, username="lena", password=PASSWORD, role="management",
                        organisation="202100-4749", now=NOW)  # fmt: skip

    def test_an_organisation_that_is_no_sender_here_is_refused(self, db_session):
        with pytest.raises(UserInputError, match="ingen avsändarorganisation här"):
            create_user(db_session, username="lena", password=PASSWORD, role="management",
                        organisation="202100-9903", known_organisations={EXEMPELKOMMUN},
                        now=NOW)  # fmt: skip

    def test_an_unknown_role_is_refused_with_the_known_ones(self, db_session):
        with pytest.raises(UserInputError, match=r"okänd roll 'chef'.*officer \(handläggare\)"):
            create_user(db_session, username="lena", password=PASSWORD, role="chef", now=NOW)

    def test_a_short_password_is_refused(self, db_session):
        with pytest.raises(UserInputError, match="minst 10 tecken, fick 5"):
            create_user(db_session, username="lena", password="kort1", role="admin", now=NOW)

    def test_a_username_is_taken_once(self, db_session):
        create_user(db_session, username="lena", password=PASSWORD, role="admin", now=NOW)
        with pytest.raises(UserInputError, match="användaren lena finns redan"):
            create_user(db_session, username="LENA", password=PASSWORD, role="admin", now=NOW)

    def test_a_username_with_spaces_is_refused(self, db_session):
        with pytest.raises(UserInputError, match="användarnamnet får bara ha"):
            create_user(db_session, username="lena l", password=PASSWORD, role="admin", now=NOW)


@pytest.mark.storage
class TestDemoUsers:
    def test_the_demo_users_get_passwords_in_a_file_only_the_owner_reads(
        self, db_session, tmp_path
    ):
        path = seed_demo_users(db_session, tmp_path, DEMO)
        assert path == tmp_path / DEMO_USERS_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        lines = [line.split() for line in path.read_text().splitlines() if not line.startswith("#")]
        passwords = {fields[0]: fields[1] for fields in lines}
        assert set(passwords) == {"ledning", "socialadmin", "admin"}
        users = UserRepository(db_session)
        for username, password in passwords.items():
            assert verify_password(password, users.by_username(username).password_hash)
        assert users.by_username("socialadmin").department == "Socialtjänsten"
        assert users.by_username("socialadmin").organisation_number == EXEMPELKOMMUN
        assert users.by_username("admin").organisation_number is None
        assert "verksamhetsadministratör (Socialtjänsten, Exempelkommun)" in path.read_text()

    def test_a_second_start_keeps_the_passwords(self, db_session, tmp_path):
        first = seed_demo_users(db_session, tmp_path, DEMO).read_text()
        assert seed_demo_users(db_session, tmp_path, DEMO).read_text() == first

    def test_a_lost_file_gives_the_demo_users_new_passwords(self, db_session, tmp_path):
        path = seed_demo_users(db_session, tmp_path, DEMO)
        old = path.read_text()
        path.unlink()
        new = seed_demo_users(db_session, tmp_path, DEMO).read_text()
        assert new != old
        [ledning] = [line.split()[1] for line in new.splitlines() if line.startswith("ledning")]
        assert verify_password(
            ledning, UserRepository(db_session).by_username("ledning").password_hash
        )
