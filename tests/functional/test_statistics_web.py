"""The statistics through the web app: the page, the CSV export and the JSON API, per role.

Each organisation sees its own letters: Exempelkommun's management and department
administrators never count Grannkommun's (whose Socialtjänsten has the same name), nor the
other way round; the installation's administrator sees both and may choose one.
"""

import csv
import datetime as dt
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from functional.browser.statistics_letters import (
    BYGG,
    EXEMPELKOMMUN,
    GRANNKOMMUN,
    SOCIAL,
    add_letter,
    add_reference_data,
    add_users,
    statistics_app,
    utc,
)
from utskick.db.engine import create_database_engine
from utskick.migrations import migrate
from utskick.settings import Settings

PASSWORD = "rätt-lösenord-1"
PERIOD = {"from": "2026-03", "to": "2026-04"}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """Exempelkommun, March 2026: Socialtjänsten 3 digital, 1 printed; Byggnadsnämnden 1
    digital, 1 impossible. April 2026: Socialtjänsten 1 digital.
    Grannkommun, March 2026: Socialtjänsten 2 digital, 1 not reachable."""
    folder = tmp_path_factory.mktemp("statistik")
    engine = create_database_engine(f"sqlite:///{folder / 'utskick.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        add_users(session, PASSWORD)
        system = add_reference_data(session)
        for day in (2, 3, 4):
            add_letter(session, system, created_at=utc(2026, 3, day), state="delivered",
                       reached_after=dt.timedelta(seconds=10 * day))  # fmt: skip
        add_letter(session, system, created_at=utc(2026, 3, 5), state="printed")
        add_letter(session, system, created_at=utc(2026, 4, 5), state="delivered")
        for state, reason in (("delivered", None), ("impossible", "emigrated")):
            add_letter(session, system, created_at=utc(2026, 3, 6), state=state, reason=reason,
                       department=BYGG, message_type="faktura")  # fmt: skip
        for state in ("delivered", "delivered", "not_reachable"):
            add_letter(session, system, created_at=utc(2026, 3, 7), state=state,
                       department=SOCIAL, sender=GRANNKOMMUN)  # fmt: skip
        session.commit()
    yield TestClient(statistics_app(Settings(home=folder, benefit_plan_first_year=2026), engine))
    engine.dispose()


def api(client, user, **filters):
    return client.get("/api/v1/statistik", params={**PERIOD, **filters}, auth=(user, PASSWORD))


class TestApi:
    def test_management_sees_every_department_of_their_organisation(self, client):
        data = api(client, "ledning").json()
        assert data["total"]["letters"] == 7
        assert data["total"]["digital"] == 5
        assert {row["department"] for row in data["rows"]} == {SOCIAL, BYGG}
        assert {row["sender"] for row in data["rows"]} == {EXEMPELKOMMUN}
        assert data["filters"]["sender"] == EXEMPELKOMMUN

    def test_a_department_admin_sees_only_their_organisations_department(self, client):
        data = api(client, "socialadmin").json()
        assert data["filters"]["department"] == SOCIAL
        assert {(row["sender"], row["department"]) for row in data["rows"]} == {
            (EXEMPELKOMMUN, SOCIAL)
        }
        # Grannkommun's Socialtjänsten (2 digital) is not counted with Exempelkommun's.
        assert (data["total"]["digital"], data["total"]["paper"]) == (4, 1)
        assert data["total"]["saving_kr"] == 22.0

    def test_grannkommuns_management_sees_only_grannkommun(self, client):
        data = api(client, "grannledning").json()
        assert (data["total"]["letters"], data["total"]["digital"]) == (3, 2)
        assert data["total"]["not_reachable"] == 1
        assert {(row["sender"], row["department"]) for row in data["rows"]} == {
            (GRANNKOMMUN, SOCIAL)
        }

    @pytest.mark.parametrize(
        ("user", "other"), [("ledning", "202100-9903"), ("grannledning", EXEMPELKOMMUN)]
    )
    def test_management_cannot_ask_for_another_organisation(self, client, user, other):
        answer = api(client, user, sender=other)
        assert answer.status_code == 403
        assert "du ser statistik för din egen organisation" in answer.json()["detail"]

    def test_management_may_name_their_own_organisation(self, client):
        data = api(client, "grannledning", sender="202100-9903").json()
        assert data["total"]["letters"] == 3

    def test_the_admin_sees_every_organisation_and_may_choose_one(self, client):
        every = api(client, "admin").json()
        assert every["total"]["letters"] == 10
        assert {row["sender"] for row in every["rows"]} == {EXEMPELKOMMUN, GRANNKOMMUN}
        one = api(client, "admin", sender="202100-9903").json()
        assert one["total"]["letters"] == 3

    def test_a_department_admin_cannot_ask_for_another_department(self, client):
        answer = api(client, "socialadmin", department=BYGG)
        assert answer.status_code == 403
        assert "du ser statistik för Socialtjänsten" in answer.json()["detail"]

    def test_filters_narrow_the_letters(self, client):
        data = api(client, "ledning", department=BYGG, message_type="faktura").json()
        assert data["total"]["letters"] == 2
        assert data["total"]["impossible_by_reason"] == {"emigrated": 1}

    def test_months_carry_the_plan(self, client):
        months = api(client, "ledning").json()["months"]
        assert [month["month"] for month in months] == ["2026-03", "2026-04"]
        assert months[0]["digital"] == 4
        assert months[0]["plan"]["moved_mailings"] == 83.33

    def test_a_bad_month_is_refused_in_swedish(self, client):
        answer = api(client, "ledning", to="april")
        assert answer.status_code == 400
        assert "en månad skrivs ÅÅÅÅ-MM" in answer.json()["detail"]


class TestPage:
    def test_the_page_shows_the_totals_tables_and_both_charts(self, client):
        page = client.get("/statistik", params=PERIOD, auth=("ledning", PASSWORD))
        assert page.status_code == 200
        assert 'id="summa-digitalt">5<' in page.text
        assert 'id="summa-besparing">28 kr<' in page.text  # 5 × 5.50 = 27.50 → 28
        assert page.text.count("<svg") == 2
        assert 'id="digitalt-2026-03"' in page.text
        assert 'id="plan-brev"' in page.text
        assert "Ladda ner som CSV" in page.text

    def test_a_department_admin_has_no_department_choice(self, client):
        page = client.get("/statistik", params=PERIOD, auth=("socialadmin", PASSWORD))
        assert "Du ser statistik för <strong>Socialtjänsten</strong> i Exempelkommun" in page.text
        assert 'name="department"' not in page.text
        assert 'name="sender"' not in page.text
        assert BYGG not in page.text
        assert "Grannkommun" not in page.text

    def test_grannkommuns_management_sees_its_own_page(self, client):
        page = client.get("/statistik", params=PERIOD, auth=("grannledning", PASSWORD))
        assert page.status_code == 200
        assert "Du ser statistik för <strong>Grannkommun</strong>" in page.text
        assert 'id="summa-digitalt">2<' in page.text
        assert "Exempelkommun" not in page.text
        assert BYGG not in page.text  # not even as a choice: Grannkommun has no such letters
        assert 'name="sender"' not in page.text

    def test_the_admin_chooses_among_every_organisation(self, client):
        page = client.get("/statistik", params=PERIOD, auth=("admin", PASSWORD))
        assert '<label for="sender">Organisation</label>' in page.text
        assert "Grannkommun (202100-9903)" in page.text
        assert "Exempelkommun (202100-4748)" in page.text
        assert 'id="summa-digitalt">7<' in page.text

    def test_a_bad_filter_shows_the_form_with_the_error(self, client):
        page = client.get(
            "/statistik", params={"from": "2026-05", "to": "2026-04"}, auth=("ledning", PASSWORD)
        )
        assert page.status_code == 400
        assert "Perioden börjar (2026-05) efter att den slutar (2026-04)" in page.text


class TestCsv:
    def test_the_csv_has_a_line_per_month_department_sender_and_type(self, client):
        answer = client.get("/statistik.csv", params=PERIOD, auth=("ledning", PASSWORD))
        assert answer.headers["content-type"].startswith("text/csv")
        assert "utskick-statistik-2026-03-2026-04.csv" in answer.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(answer.text.lstrip("\ufeff")), delimiter=";"))
        assert rows[0][:3] == ["månad", "förvaltning", "avsändare"]
        assert len(rows) == 4  # header + March (2 departments) + April

    def test_the_csv_of_a_department_admin_is_scoped_too(self, client):
        answer = client.get("/statistik.csv", params=PERIOD, auth=("socialadmin", PASSWORD))
        assert BYGG not in answer.text
        assert SOCIAL in answer.text
        assert GRANNKOMMUN not in answer.text

    def test_the_csv_of_grannkommuns_management_is_grannkommuns(self, client):
        answer = client.get("/statistik.csv", params=PERIOD, auth=("grannledning", PASSWORD))
        assert GRANNKOMMUN in answer.text
        assert EXEMPELKOMMUN not in answer.text

    def test_an_officer_gets_no_csv(self, client):
        answer = client.get("/statistik.csv", auth=("handlaggare", PASSWORD))
        assert answer.status_code == 403
