"""The API's edges on SQLite and PostgreSQL: repeated JSON keys, a reused idempotency key,
addresses of protected people, active content and hidden characters. Every refusal answers in
Swedish, names what is wrong, and leaves no row behind."""

import base64
import io
import json
import uuid

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfWriter
from sqlalchemy.orm import Session

from support.api import PDF_BASE64, api_app, letter_json, new_api_key_headers
from support.world import DAVID, EVA, DownPopulationRegister
from utskick.letters.models import Letter

pytestmark = pytest.mark.storage

ADDRESS = {
    "name": "Eva Ek",
    "lines": ["Dolda gatan 7"],
    "postal_code": "999 99",
    "city": "Skyddsstad",
}
REPEATED_RECIPIENT = (
    '{"sender": "2021004748", "recipient": "191212121212", "subject": "Beslut", '
    '"body": "Hej", "protection_class": 2, "recipient": "198004232388"}'
)


@pytest.fixture
def headers(storage_engine):
    return new_api_key_headers(storage_engine)


def _post(client, path, text, headers, content_type="application/json"):
    return client.post(
        path, content=text.encode(), headers=headers | {"Content-Type": content_type}
    )


def _ndjson(client, lines, headers):
    return _post(client, "/api/v1/batches", "\n".join(lines), headers, "application/x-ndjson")


def _stored_letter(engine, letter_id):
    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        session.expunge_all()
        return letter


class TestRepeatedKeys:
    def test_a_repeated_recipient_is_refused_naming_the_key_and_nothing_is_stored(
        self, storage_client, headers, stored
    ):
        before = stored()
        answer = _post(storage_client, "/api/v1/letters", REPEATED_RECIPIENT, headers)
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {
                "field": "recipient",
                "message": 'nyckeln "recipient" står två gånger i samma JSON-objekt; ange '
                "varje fält en gång",
            }
        ]
        assert stored() == before

    @pytest.mark.parametrize(
        ("inner", "key"),
        [
            pytest.param(
                '"address": {"name": "A", "lines": ["G 1"], "postal_code": "1", "city": "X", '
                '"city": "Y"}',
                "city",
                id="in-the-address",
            ),
            pytest.param(
                f'"attachments": [{{"filename": "a.pdf", "filename": "b.pdf", '
                f'"content_base64": "{PDF_BASE64}"}}]',
                "filename",
                id="in-an-attachment",
            ),
        ],
    )
    def test_a_repeated_key_deeper_in_the_letter_is_refused(
        self, storage_client, headers, stored, inner, key
    ):
        before = stored()
        text = json.dumps(letter_json())[:-1] + ", " + inner + "}"
        answer = _post(storage_client, "/api/v1/letters", text, headers)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == key
        assert stored() == before

    def test_a_repeated_key_in_a_precheck_is_refused(self, storage_client, headers):
        text = '{"sender": "2021004748", "recipients": ["191212121212"], "sender": "2021009903"}'
        answer = _post(storage_client, "/api/v1/precheck", text, headers)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "sender"

    def test_a_repeated_key_in_the_benefit_calculator_is_refused(self, storage_client):
        answer = _post(storage_client, "/api/v1/nytta", '{"years": 5, "years": 50}', {})
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "years"

    def test_a_repeated_key_in_the_print_api_is_refused(self, storage_client):
        text = '{"letter_ids": ["a"], "letter_ids": ["b"]}'
        answer = _post(storage_client, "/api/v1/print/batches/x/printed", text, {})
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "letter_ids"

    def test_a_body_sent_without_content_type_is_checked_too(self, storage_client, headers):
        # FastAPI reads a body without Content-Type as JSON, so the check must too.
        answer = storage_client.post(
            "/api/v1/letters", content=REPEATED_RECIPIENT.encode(), headers=headers
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "recipient"

    @pytest.mark.parametrize("content_type", [b"application/json\x1c", b"application/json\x1f"])
    def test_a_content_type_fastapi_reads_as_json_is_checked_too(
        self, storage_client, headers, stored, content_type
    ):
        # FastAPI strips what str.strip strips (information separators included) and parses
        # the body as JSON; unchecked, the letter went to the last recipient with 201.
        before = stored()
        raw = {name.encode(): value.encode() for name, value in headers.items()}
        answer = storage_client.post(
            "/api/v1/letters",
            content=REPEATED_RECIPIENT.encode(),
            headers=raw | {b"Content-Type": content_type},
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "recipient"
        assert stored() == before

    def test_a_batch_line_with_a_repeated_key_is_refused_and_the_others_are_taken(
        self, storage_client, headers, stored
    ):
        before = stored()
        answer = _ndjson(
            storage_client, [json.dumps(letter_json(reference="1")), REPEATED_RECIPIENT], headers
        )
        assert answer.status_code == 201, answer.text
        result = answer.json()
        assert (result["accepted"], result["rejected"]) == (1, 1)
        assert result["rejections"][0]["line"] == 2
        assert result["rejections"][0]["field"] == "recipient"
        assert "två gånger" in result["rejections"][0]["message"]
        after = stored()
        assert after["letter"] == before["letter"] + 1


class TestIdempotencyKey:
    def test_the_same_key_with_other_content_is_409_with_the_first_letters_id(
        self, storage_client, headers, stored
    ):
        keyed = headers | {"Idempotency-Key": f"BN-{uuid.uuid4().hex}"}
        first = storage_client.post("/api/v1/letters", json=letter_json(), headers=keyed)
        assert first.status_code == 201, first.text
        before = stored()
        other = storage_client.post(
            "/api/v1/letters", json=letter_json(subject="Ett annat beslut"), headers=keyed
        )
        assert other.status_code == 409
        assert other.json()["letter_id"] == first.json()["id"]
        assert first.json()["id"] in other.json()["detail"]
        assert other.json()["errors"][0]["field"] == "idempotency_key"
        assert stored() == before
        same = storage_client.post("/api/v1/letters", json=letter_json(), headers=keyed)
        assert same.status_code == 200
        assert same.json()["id"] == first.json()["id"]

    def test_a_batch_line_reusing_a_key_with_other_content_is_refused_with_the_id(
        self, storage_client, headers, stored
    ):
        key = f"BN-{uuid.uuid4().hex}"
        first = storage_client.post(
            "/api/v1/letters", json=letter_json(idempotency_key=key), headers=headers
        )
        before = stored()
        answer = _ndjson(
            storage_client,
            [
                json.dumps(letter_json(idempotency_key=key, subject="Annat")),
                json.dumps(letter_json(idempotency_key=key)),
            ],
            headers,
        )
        result = answer.json()
        assert (result["accepted"], result["replayed"], result["rejected"]) == (1, 1, 1)
        assert result["rejections"][0]["line"] == 1
        assert first.json()["id"] in result["rejections"][0]["message"]
        after = stored()
        assert (after["letter"], after["job"]) == (before["letter"], before["job"])


class TestProtectedAddress:
    def test_an_address_given_for_a_protected_person_is_not_stored(
        self, storage_client, storage_engine, headers
    ):
        answer = storage_client.post(
            "/api/v1/letters",
            json=letter_json(recipient=EVA, address=ADDRESS),
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
        assert _stored_letter(storage_engine, answer.json()["id"]).postal_address is None

    def test_an_address_given_for_anyone_else_is_stored(
        self, storage_client, storage_engine, headers
    ):
        answer = storage_client.post(
            "/api/v1/letters",
            json=letter_json(recipient=DAVID, address=ADDRESS),
            headers=headers,
        )
        assert answer.status_code == 201, answer.text
        stored_address = _stored_letter(storage_engine, answer.json()["id"]).postal_address
        assert stored_address["city"] == "Skyddsstad"

    def test_with_the_register_down_a_letter_with_an_address_is_503_and_nothing_is_stored(
        self, storage_engine, headers, stored, tmp_path
    ):
        app = api_app(storage_engine, tmp_path)
        app.state.adapters.address_source = DownPopulationRegister()
        client = TestClient(app, raise_server_exceptions=False)
        before = stored()
        answer = client.post(
            "/api/v1/letters",
            json=letter_json(recipient=DAVID, address=ADDRESS),
            headers=headers,
        )
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "30"
        assert "skyddad identitet" in answer.json()["detail"]
        assert stored() == before
        without_address = client.post(
            "/api/v1/letters", json=letter_json(recipient=DAVID), headers=headers
        )
        assert without_address.status_code == 201

    def test_with_the_register_down_a_batch_line_with_an_address_is_refused(
        self, storage_engine, headers, stored, tmp_path
    ):
        app = api_app(storage_engine, tmp_path)
        app.state.adapters.address_source = DownPopulationRegister()
        client = TestClient(app, raise_server_exceptions=False)
        before = stored()
        answer = _ndjson(
            client,
            [
                json.dumps(letter_json(recipient=DAVID, address=ADDRESS)),
                json.dumps(letter_json(recipient=DAVID, reference="utan adress")),
            ],
            headers,
        )
        result = answer.json()
        assert (result["accepted"], result["rejected"]) == (1, 1)
        assert result["rejections"][0]["field"] == "address"
        assert stored()["letter"] == before["letter"] + 1


def _pdf_with_embedded_file():
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.add_attachment("faktura.exe", b"MZ")
    out = io.BytesIO()
    writer.write(out)
    return base64.b64encode(out.getvalue()).decode()


REFUSED_LETTERS = [
    pytest.param(
        {"body_type": "text/html", "body": "<svg><style><img src=x onerror=alert(1)></style>"},
        "body",
        "<svg>",
        id="html-svg",
    ),
    pytest.param(
        {"attachments": [{"filename": "beslut.pdf", "content_base64": _pdf_with_embedded_file()}]},
        "attachments[0].content",
        "bilagan beslut.pdf innehåller inbäddade filer",
        id="pdf-embedded-file",
    ),
    pytest.param(
        {"attachments": [{"filename": "..\\..\\", "content_base64": PDF_BASE64}]},
        "attachments[0].filename",
        "har inget namn",
        id="filename-only-a-path",
    ),
    pytest.param(
        {"attachments": [{"filename": "kvitto\u202efdp.exe", "content_base64": PDF_BASE64}]},
        "attachments[0].filename",
        "U+202E",
        id="filename-bidi",
    ),
    pytest.param(
        {"subject": "Beslut \u2066beviljas\u2069"}, "subject", "U+2066", id="subject-bidi"
    ),
    pytest.param({"subject": "Beslut\x85"}, "subject", "styrtecknet U+0085", id="subject-c1"),
]


@pytest.mark.parametrize(("changes", "field", "reason"), REFUSED_LETTERS)
def test_active_content_and_hidden_characters_are_refused_and_nothing_is_stored(
    storage_client, headers, stored, changes, field, reason
):
    before = stored()
    answer = storage_client.post("/api/v1/letters", json=letter_json(**changes), headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == field
    assert reason in answer.json()["detail"]
    assert stored() == before


def test_a_windows_path_in_front_of_a_file_name_is_removed(storage_client, headers):
    answer = storage_client.post(
        "/api/v1/letters",
        json=letter_json(
            attachments=[
                {"filename": "C:\\Ärenden\\BN 2026\\beslut.pdf", "content_base64": PDF_BASE64}
            ]
        ),
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["attachments"][0]["filename"] == "beslut.pdf"
