"""A sending system may give the postal address for paper with the letter."""

from sqlalchemy.orm import Session

from support.api import letter_json
from utskick.letters.models import Letter

ADDRESS = {
    "name": "Tolvan Tolvansson",
    "lines": ["c/o Anna Andersson", "Tolvgatan 12"],
    "postal_code": "123 45",
    "city": "Exempelstad",
}


class TestPostalAddress:
    def test_a_given_address_is_stored_with_the_letter(self, client, new_system, api_engine):
        answer = client.post(
            "/api/v1/letters", json=letter_json(address=ADDRESS), headers=new_system()
        )
        assert answer.status_code == 201
        with Session(api_engine) as session:
            stored = session.get(Letter, answer.json()["id"])
            assert stored.postal_address == {**ADDRESS, "country": None}

    def test_an_address_without_city_is_refused_and_nothing_is_stored(self, client, new_system):
        headers = new_system()
        incomplete = {key: value for key, value in ADDRESS.items() if key != "city"}
        answer = client.post(
            "/api/v1/letters", json=letter_json(address=incomplete), headers=headers
        )
        assert answer.status_code == 422
        assert "address.city" in {error["field"] for error in answer.json()["errors"]}
        assert client.get("/api/v1/letters", headers=headers).json()["total"] == 0

    def test_an_address_line_too_long_for_the_window_is_refused_with_the_reason(
        self, client, new_system
    ):
        too_long = {**ADDRESS, "lines": ["Gatan " + "x" * 60]}
        answer = client.post(
            "/api/v1/letters", json=letter_json(address=too_long), headers=new_system()
        )
        assert answer.status_code == 422
        assert "kuvertfönstret" in answer.json()["detail"]
