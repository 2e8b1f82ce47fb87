"""The records role's search in the API (`GET /api/v1/arkiv/brev`), on SQLite and PostgreSQL.

A registrator logged in (HTTP Basic or the web session) searches the organisation's letters
with their records; the administrator every organisation's; a sending system's API key and
the other roles get nothing. Protected recipients are masked and every search is logged.
"""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from functional.records.records_web import PASSWORD, REGISTRATION_NUMBER, build_world
from functional.web_login import log_in
from support.api import new_api_key_headers
from support.postgres import postgres_schema_url
from support.world import EVA, EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import create_database_engine
from utskick.migrations import migrate
from utskick.web.access_log import SEARCH, AccessLogEntry

pytestmark = pytest.mark.storage

API = "/api/v1/arkiv/brev"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("arkiv-api")
    if request.param == "sqlite":
        engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
        migrate.upgrade(engine)
        yield build_world(engine, home)
        engine.dispose()
        return
    with postgres_schema_url("records_api") as url:
        engine = create_database_engine(url)
        migrate.upgrade(engine)
        yield build_world(engine, home)
        engine.dispose()


@pytest.fixture(scope="module")
def app(world):
    return world.app()


def search(app, user, **params):
    return TestClient(app).get(API, params=params, auth=(user, PASSWORD))


def by_case(answer):
    return {letter["case_number"]: letter for letter in answer.json()["letters"]}


class TestWhoSearches:
    def test_a_registrator_finds_the_organisations_letters_with_their_records(self, app, world):
        answer = search(app, "registrator", case_number=f"KS 2026/{world.tag}")

        assert answer.status_code == 200
        body = answer.json()
        assert body["total"] == 4
        assert (body["page"], body["pages"], body["note"]) == (1, 1, None)
        decision = by_case(answer)[f"KS 2026/{world.tag}-1"]
        assert decision["registration_number"] == REGISTRATION_NUMBER
        assert decision["recipient"] == "191212121212"
        assert decision["recipient_protected"] is False
        assert decision["record"]["rule"] == "register"
        assert decision["record"]["registration"] == "pending"
        assert decision["sender"] == EXEMPELKOMMUN

    def test_another_organisations_letters_are_not_found(self, app, world):
        answer = search(app, "registrator", case_number=f"GK 2026/{world.tag}")

        assert answer.json()["total"] == 0

    def test_a_registrator_may_not_ask_for_another_organisation(self, app):
        answer = search(app, "registrator", sender="202100-9903")

        assert answer.status_code == 403
        assert answer.json()["errors"][0]["field"] == "sender"

    def test_the_administrator_searches_every_organisation(self, app, world):
        both = search(app, "admin", case_number="", subject="Brev nummer")
        neighbour = search(app, "admin", sender="202100-9903", case_number=f"GK 2026/{world.tag}")

        assert {letter["sender"] for letter in both.json()["letters"]} >= {
            EXEMPELKOMMUN,
            GRANNKOMMUN,
        }
        assert neighbour.json()["total"] == 1

    @pytest.mark.parametrize("user", ["handlaggare", "ledning"])
    def test_other_roles_are_refused(self, app, user):
        assert search(app, user).status_code == 403

    def test_a_sending_systems_api_key_is_no_person(self, app, world):
        answer = TestClient(app).get(API, headers=new_api_key_headers(world.engine))

        assert answer.status_code == 401
        assert answer.json()["detail"] == "logga in för att fortsätta"

    def test_the_web_session_works_too(self, app, world):
        client = TestClient(app)
        log_in(client, "registrator", PASSWORD)

        assert (
            client.get(API, params={"case_number": f"KS 2026/{world.tag}-1"}).json()["total"] == 1
        )


class TestMaskingAndLog:
    def test_protected_recipients_are_null_and_flagged(self, app, world):
        letters = by_case(search(app, "registrator", case_number=f"KS 2026/{world.tag}"))

        for suffix in ("-3", "-4"):
            masked = letters[f"KS 2026/{world.tag}{suffix}"]
            assert masked["recipient"] is None
            assert masked["recipient_protected"] is True

    def test_a_search_by_a_protected_persons_number_finds_the_letter_but_not_the_number(self, app):
        answer = search(app, "registrator", recipient="19851230-4166")

        assert answer.json()["total"] >= 1
        assert EVA not in answer.text

    def test_with_the_register_down_every_person_is_masked_and_the_note_says_why(self, world):
        from support.world import DownPopulationRegister

        app = world.app(register=DownPopulationRegister())
        body = search(app, "registrator", case_number=f"KS 2026/{world.tag}").json()

        assert {letter["recipient"] for letter in body["letters"]} == {None}
        assert "Folkbokföringen kan inte frågas" in body["note"]

    def test_each_search_is_logged_with_what_was_asked_and_found(self, app, world):
        search(app, "registrator", case_number=f"KS 2026/{world.tag}-2", state="delivered")

        with Session(world.engine) as session:
            row = session.scalars(
                select(AccessLogEntry)
                .where(AccessLogEntry.username == "registrator", AccessLogEntry.action == SEARCH)
                .order_by(AccessLogEntry.id.desc())
            ).first()
        assert row.detail == {"via": "API", "case_number": f"KS 2026/{world.tag}-2",
                              "state": "delivered", "sida": 1}  # fmt: skip
        assert row.result_count == 1


class TestInput:
    def test_a_wrong_identity_number_is_named_in_swedish(self, app):
        answer = search(app, "registrator", recipient="19121212-1213")

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "recipient"
        assert "identitetsnummer" in answer.json()["detail"]

    def test_a_period_that_ends_before_it_begins_is_refused(self, app):
        answer = search(app, "registrator", created_from="2026-03-02", created_to="2026-03-01")

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "created_to"

    def test_local_days_bound_the_period(self, app, world):
        inside = search(app, "registrator", case_number=f"KS 2026/{world.tag}-1",
                        created_from="2026-11-27", created_to="2026-11-27")  # fmt: skip
        before = search(app, "registrator", case_number=f"KS 2026/{world.tag}-1",
                        created_to="2026-11-26")  # fmt: skip

        assert inside.json()["total"] == 1
        assert before.json()["total"] == 0

    def test_the_openapi_description_documents_it_in_swedish(self, app):
        described = TestClient(app).get("/openapi.json").json()
        operation = described["paths"][API]["get"]

        assert operation["tags"] == ["arkiv"]
        assert operation["summary"].startswith("Sök bland organisationens brev")
        assert {"401", "403", "422"} <= set(operation["responses"])
        assert "allmän handling" in described["info"]["description"]
