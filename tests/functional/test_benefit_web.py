"""The benefit calculator's page and JSON API, driven through HTTP."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from lxml import html

from utskick.benefit.web import include_benefit_calculator


@pytest.fixture(scope="module")
def client():
    app = FastAPI()
    include_benefit_calculator(app)
    return TestClient(app)


def page(client, **query):
    response = client.get("/nytta", params=query)
    return response, html.fromstring(response.text)


def cell_texts(row):
    return [" ".join(cell.text_content().split()) for cell in row.xpath("./td")]


def summary_row(tree, view):
    return cell_texts(tree.xpath(f'//table[@id="summor"]//tr[@data-vy="{view}"]')[0])


class TestPage:
    def test_form_has_every_input_with_the_defaults(self, client):
        response, tree = page(client)
        assert response.status_code == 200
        assert tree.xpath('//input[@name="inhabitants"]/@value') == ["100000"]
        assert tree.xpath('//input[@name="decision_share"]/@value') == ["10%"]
        assert tree.xpath('//input[@name="hourly_cost"]/@value') == ["350"]
        assert len(tree.xpath("//form//input")) == 18

    def test_totals_of_the_three_views(self, client):
        _, tree = page(client)
        mailing = summary_row(tree, "mailing_cost")
        assert mailing[0] == "A. Utskickskostnad"
        # benefit, cost, net, NPV, payback nominal and discounted
        assert mailing[1:] == ["885 500", "650 000", "235 500", "100 000", "4,21 år", "4,50 år"]
        assert summary_row(tree, "with_security")[0] == "A + C. Med säkerhetsvärde"

    def test_a_changed_input_changes_the_result(self, client):
        _, tree = page(client, paper_cost="8")
        # 126,500 mailings moved over five years × 8 kr
        assert summary_row(tree, "mailing_cost")[1] == "1 012 000"
        assert tree.xpath('//input[@name="paper_cost"]/@value') == ["8"]

    def test_year_by_year_tables(self, client):
        _, tree = page(client)
        rows = tree.xpath('//table[@id="vy-mailing_cost"]/tbody/tr')
        assert len(rows) == 5
        # year 5: accumulated net turns positive
        assert cell_texts(rows[4])[5] == "235 500"

    def test_charts_are_inline_svg(self, client):
        _, tree = page(client)
        svgs = tree.xpath("//figure/*[local-name()='svg']")
        assert len(svgs) == 2
        text = " ".join(svgs[0].itertext())
        assert "Ackumulerat netto" in text
        assert "Kostnader" in text

    def test_sensitivity_table_and_tornado(self, client):
        _, tree = page(client)
        delayed = tree.xpath('//table[@id="scenarier"]//tr[@data-scenario="delay_1_year"]')
        assert cell_texts(delayed[0])[0] == "Ett års försening"
        assert len(tree.xpath('//table[@id="tornado"]/tbody/tr')) == 18

    def test_bad_input_shows_the_error_next_to_the_field(self, client):
        response, tree = page(client, inhabitants="många", paper_cost="8")
        assert response.status_code == 422
        field = tree.xpath('//input[@name="inhabitants"]/..')[0]
        assert (
            "måste vara ett heltal mellan 0 och 100 000 000, fick 'många'" in field.text_content()
        )
        assert tree.xpath('//input[@name="inhabitants"]/@aria-invalid') == ["true"]
        # what was typed stays in the form
        assert tree.xpath('//input[@name="inhabitants"]/@value') == ["många"]

    def test_bad_input_changes_nothing(self, client):
        _, tree = page(client, inhabitants="många", paper_cost="8")
        # the example municipality's result, not one with the paper cost applied
        assert summary_row(tree, "mailing_cost")[1] == "885 500"
        assert "rätta de markerade fälten" in tree.text_content()


class TestApi:
    def test_defaults(self, client):
        data = client.get("/api/v1/nytta").json()
        assert data["inputs"]["inhabitants"] == 100_000
        totals = data["views"]["mailing_cost"]["totals"]
        assert totals["benefit"] == 885_500
        assert totals["payback_years_nominal"] == 4.2064
        assert len(data["views"]["with_security"]["years"]) == 5

    def test_post_any_subset_of_inputs(self, client):
        response = client.post("/api/v1/nytta", json={"inhabitants": 50000, "usage_last": "85%"})
        assert response.status_code == 200
        # half the inhabitants: half of 885,500
        assert response.json()["views"]["mailing_cost"]["totals"]["benefit"] == 442_750

    def test_post_empty_body_is_the_defaults(self, client):
        assert client.post("/api/v1/nytta").json() == client.get("/api/v1/nytta").json()

    def test_bad_inputs_answer_422_in_the_error_format(self, client):
        response = client.post("/api/v1/nytta", json={"inhabitants": -5, "postage": 7})
        assert response.status_code == 422
        body = response.json()
        assert body["errors"] == [
            {
                "field": "inhabitants",
                "message": "invånare (inhabitants) måste vara ett heltal mellan 0 och "
                "100 000 000, fick '-5'",
            },
            {
                "field": "postage",
                "message": body["errors"][1]["message"],
            },
        ]
        assert body["errors"][1]["message"].startswith("okänd indata 'postage'; giltiga namn:")
        assert body["detail"].startswith("felaktig indata — invånare (inhabitants)")

    def test_true_is_not_a_number(self, client):
        response = client.post("/api/v1/nytta", json={"years": True})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "years"

    def test_body_must_be_an_object(self, client):
        response = client.post("/api/v1/nytta", json=[1, 2])
        assert response.status_code == 422
        assert "JSON-objekt" in response.json()["errors"][0]["message"]

    def test_unreadable_body(self, client):
        response = client.post(
            "/api/v1/nytta", content=b"{", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json() == {
            "detail": "anropets innehåll kan inte läsas; skicka ett JSON-objekt i UTF-8",
            "errors": [],
        }

    def test_a_body_of_only_white_space_is_no_json_and_not_the_defaults(self, client):
        response = client.post(
            "/api/v1/nytta", content=b" \n", headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400

    def test_query_parameters_on_get(self, client):
        data = client.get("/api/v1/nytta", params={"paper_cost": "8"}).json()
        assert data["views"]["mailing_cost"]["totals"]["benefit"] == 1_012_000

    def test_described_in_openapi(self, client):
        paths = client.get("/openapi.json").json()["paths"]
        assert {"get", "post"} <= set(paths["/api/v1/nytta"])
        schema = paths["/api/v1/nytta"]["post"]["requestBody"]["content"]["application/json"]
        assert "inhabitants" in schema["schema"]["properties"]
        assert "422" in paths["/api/v1/nytta/kanslighet"]["get"]["responses"]


class TestSensitivityApi:
    def test_scenarios_and_tornado(self, client):
        data = client.get("/api/v1/nytta/kanslighet").json()
        assert data["scenarios"][0]["key"] == "base"
        # the example municipality's NPV, computed by hand in tests/unit/benefit/test_model.py
        assert data["scenarios"][0]["views"]["mailing_cost"]["npv"] == 99_999.97
        swings = [bar["swing"] for bar in data["tornado"]["bars"]]
        assert swings == sorted(swings, reverse=True)

    def test_view_and_change_can_be_chosen(self, client):
        data = client.get(
            "/api/v1/nytta/kanslighet", params={"view": "with_security", "change": "10%"}
        ).json()
        assert data["tornado"]["view"] == "with_security"
        bar = {bar["input"]: bar for bar in data["tornado"]["bars"]}["paper_cost"]
        assert (bar["low_value"], bar["high_value"]) == (6.3, 7.7)

    def test_unknown_view_is_422(self, client):
        response = client.get("/api/v1/nytta/kanslighet", params={"view": "alla"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "view"
        assert "välj en av mailing_cost" in response.json()["errors"][0]["message"]
