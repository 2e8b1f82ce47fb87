"""A sending system may give a letter a support text of its own (for example the officer's
contact details), instead of its sender organisation's."""

import json

from sqlalchemy.orm import Session

from support.api import letter_json
from utskick.letters.models import Letter

OWN_TEXT = "Har du frågor? Kontakta Anna Andersson, Bygglovsenheten.\nTelefon: 0771-00 00 00"


class TestSupportText:
    def test_a_given_support_text_is_stored_with_the_letter(self, client, new_system, api_engine):
        answer = client.post(
            "/api/v1/letters", json=letter_json(support_text=OWN_TEXT), headers=new_system()
        )
        assert answer.status_code == 201
        with Session(api_engine) as session:
            assert session.get(Letter, answer.json()["id"]).support_text == OWN_TEXT

    def test_a_support_text_too_long_for_mina_meddelanden_is_422_naming_the_field(
        self, client, new_system
    ):
        headers = new_system()
        answer = client.post(
            "/api/v1/letters", json=letter_json(support_text="x" * 1025), headers=headers
        )
        assert answer.status_code == 422
        assert [error["field"] for error in answer.json()["errors"]] == ["support_text"]
        assert client.get("/api/v1/letters", headers=headers).json()["total"] == 0

    def test_a_blank_support_text_is_refused_with_what_to_do(self, client, new_system):
        answer = client.post(
            "/api/v1/letters", json=letter_json(support_text="  "), headers=new_system()
        )
        assert answer.status_code == 422
        [error] = answer.json()["errors"]
        assert error["field"] == "support_text"
        assert "supporttexten är tom" in error["message"]

    def test_a_batch_line_may_carry_one(self, client, new_system, api_engine):
        headers = new_system()
        lines = [letter_json(support_text=OWN_TEXT), letter_json(support_text="x" * 1025)]
        answer = client.post(
            "/api/v1/batches",
            content="\n".join(json.dumps(line) for line in lines).encode(),
            headers=headers | {"Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 201, answer.text
        result = answer.json()
        assert (result["accepted"], result["rejected"]) == (1, 1)
        assert result["rejections"][0]["field"] == "support_text"
        listed = client.get(
            "/api/v1/letters", params={"batch_id": result["id"]}, headers=headers
        ).json()
        with Session(api_engine) as session:
            stored = session.get(Letter, listed["letters"][0]["id"])
            assert stored.support_text == OWN_TEXT

    def test_the_description_says_in_swedish_what_it_is(self, client):
        schema = client.get("/openapi.json").json()["components"]["schemas"]["LetterIn"]
        field = schema["properties"]["support_text"]
        assert "avsändarorganisationens supporttext" in field["description"]
        assert field["anyOf"][0]["maxLength"] == 1024
