"""`utskick systems` on an installation (SQLite and PostgreSQL): systems, keys and webhooks.

A key or secret is shown once; lists never show one. A refused command says why in Swedish
and changes nothing.
"""

import base64
import datetime as dt
import uuid

import pytest

from functional.admin_cli import SYSTEM, WEBHOOK, installation_of
from support.world import EXEMPELKOMMUN
from utskick.senders.api_keys import AuthenticationError, authenticate
from utskick.senders.models import ApiKey, SendingSystem

pytestmark = pytest.mark.storage


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(request, tmp_path_factory):
    with installation_of(request.param, tmp_path_factory.mktemp("systems")) as installation:
        yield installation


def a_system(installation, webhook=None):
    """A new system of the test's own (the installation is shared by the module); its name."""
    name = f"System {uuid.uuid4().hex[:8]}"
    args = ["systems", "add", name, "--sender", EXEMPELKOMMUN]
    installation.json(*args, *(["--webhook", webhook] if webhook else []))
    return name


def system_row(installation, name):
    with installation.session() as session:
        return session.query(SendingSystem).filter_by(name=name).one()


def works(installation, key):
    with installation.session() as session:
        try:
            authenticate(session, key)
        except AuthenticationError:
            return False
        return True


class TestSystems:
    def test_add_as_json_shows_the_webhook_secret_once(self, installation):
        name = f"System {uuid.uuid4().hex[:8]}"
        added = installation.json(
            "systems", "add", name, "--sender", "202100-4748", "--webhook", WEBHOOK
        )

        assert (added["name"], added["sender_numbers"]) == (name, [EXEMPELKOMMUN])
        assert added["webhook_secret"] == system_row(installation, name).webhook_secret

    def test_the_list_shows_senders_webhook_and_working_keys_but_no_secret(self, installation):
        listed = {system["name"]: system for system in installation.json("systems", "list")}

        ours = listed[SYSTEM]
        assert (ours["webhook_url"], ours["keys"], ours["working_keys"]) == (WEBHOOK, 1, 1)
        assert installation.webhook_secret not in str(listed)
        table = installation.run("systems", "list")
        assert table.exit_code == 0, table.output
        assert SYSTEM in table.stdout
        assert "202100-4748" in table.stdout

    def test_an_unknown_system_is_refused(self, installation):
        installation.refused("systems", "keys", "Finns inte", says="det finns inget system som")


class TestKeys:
    def test_a_key_is_issued_once_and_works(self, installation):
        name = a_system(installation)
        result = installation.run("systems", "key", name)

        assert result.exit_code == 0, result.output
        assert "visas bara nu" in result.stderr
        assert works(installation, result.stdout.strip())

    def test_keys_are_listed_without_the_key(self, installation):
        name = a_system(installation)
        issued = installation.json("systems", "key", name)

        [listed] = installation.json("systems", "keys", name)

        assert (listed["id"], listed["prefix"]) == (issued["key_id"], issued["prefix"])
        assert listed["revoked_at"] is None
        assert issued["key"] not in str(listed)

    def test_a_revoked_key_stops_working(self, installation):
        name = a_system(installation)
        issued = installation.json("systems", "key", name)

        revoked = installation.json("systems", "revoke", issued["prefix"])

        assert (revoked["id"], revoked["system"]) == (issued["key_id"], name)
        assert revoked["revoked_at"] is not None
        assert not works(installation, issued["key"])
        again = installation.run("systems", "revoke", issued["key_id"])
        assert "redan spärrad" in again.stdout

    def test_an_unknown_key_is_refused(self, installation):
        installation.refused("systems", "revoke", "uk_finnsinte", says="det finns ingen API-nyckel")

    def test_rotate_issues_a_new_key_and_revokes_the_others_when_asked(self, installation):
        name = a_system(installation)
        old = installation.json("systems", "key", name)

        kept = installation.json("systems", "rotate", name)
        assert works(installation, old["key"])
        assert works(installation, kept["key"])
        rotated = installation.json("systems", "rotate", name, "--revoke-old")

        assert {key["id"] for key in rotated["revoked"]} == {old["key_id"], kept["key_id"]}
        assert not works(installation, old["key"])
        assert not works(installation, kept["key"])
        assert works(installation, rotated["key"])

    def test_rotating_an_unknown_system_issues_nothing(self, installation):
        with installation.session() as session:
            before = session.query(ApiKey).count()

        installation.refused("systems", "rotate", "Finns inte", "--revoke-old", says="inget system")

        with installation.session() as session:
            assert session.query(ApiKey).count() == before


class TestWebhooks:
    def test_a_first_webhook_gets_a_secret_shown_once(self, installation):
        name = a_system(installation)

        set_ = installation.json("systems", "webhook", name, "--url", "https://ny.kommun.test/h")

        stored = system_row(installation, name)
        assert set_["webhook_url"] == stored.webhook_url == "https://ny.kommun.test/h"
        assert set_["secret"] == stored.webhook_secret
        assert set_["secret"].startswith("whsec_")

    def test_http_is_allowed_only_to_this_machine(self, installation):
        name = a_system(installation)

        local = installation.json("systems", "webhook", name, "--url", "http://127.0.0.1:8080/h")

        assert local["webhook_url"] == "http://127.0.0.1:8080/h"
        installation.refused(
            "systems", "webhook", name, "--url", "http://system.kommun.test/h",
            says="använder http utan kryptering",
        )  # fmt: skip
        assert system_row(installation, name).webhook_url == "http://127.0.0.1:8080/h"

    def test_a_webhook_is_removed(self, installation):
        name = a_system(installation, webhook=WEBHOOK)

        result = installation.run("systems", "webhook", name, "--ta-bort")

        assert result.exit_code == 0, result.output
        assert "har ingen webhook längre" in result.stdout
        assert system_row(installation, name).webhook_url is None

    @pytest.mark.parametrize(
        ("args", "says"),
        [
            (["--url", "ftp://kommun.test/h"], "'ftp://kommun.test/h' går inte att använda"),
            (["--url", "kommun.test/h"], "ange en fullständig adress som börjar med https://"),
            ([], "ange antingen --url med en adress eller --ta-bort"),
        ],
    )
    def test_an_unusable_address_changes_nothing(self, installation, args, says):
        name = a_system(installation, webhook=WEBHOOK)

        installation.refused("systems", "webhook", name, *args, says=says)

        assert system_row(installation, name).webhook_url == WEBHOOK

    def test_a_rotated_secret_keeps_the_old_one_signing_for_the_overlap(self, installation):
        name = a_system(installation, webhook=WEBHOOK)
        old = system_row(installation, name).webhook_secret
        before = dt.datetime.now(dt.UTC)

        rotated = installation.json("systems", "webhook-secret", name, "--overlap-hours", "24")

        stored = system_row(installation, name)
        assert rotated["secret"] == stored.webhook_secret != old
        assert stored.webhook_secret_previous == old
        assert rotated["secret"].startswith("whsec_")
        assert len(base64.b64decode(rotated["secret"].removeprefix("whsec_"))) == 32
        until = dt.datetime.fromisoformat(rotated["previous_valid_until"])
        assert (
            dt.timedelta(hours=23, minutes=59) < until - before < dt.timedelta(hours=24, minutes=1)
        )

    def test_the_new_secret_is_printed_alone_on_standard_out(self, installation):
        name = a_system(installation, webhook=WEBHOOK)

        result = installation.run("systems", "webhook-secret", name)

        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == system_row(installation, name).webhook_secret
        assert "den gamla signerar också till" in result.stderr

    def test_a_system_without_a_webhook_gets_no_secret(self, installation):
        name = a_system(installation)

        installation.refused("systems", "webhook-secret", name, says="har ingen webhook")

        assert system_row(installation, name).webhook_secret is None

    def test_a_negative_overlap_is_refused(self, installation):
        name = a_system(installation, webhook=WEBHOOK)
        old = system_row(installation, name).webhook_secret

        installation.refused(
            "systems", "webhook-secret", name, "--overlap-hours", "-1",
            says="överlappet ska vara mellan 0 och 720 timmar",
        )  # fmt: skip

        assert system_row(installation, name).webhook_secret == old
