"""The REST API through HTTP: keys, letters, batches, search, events, cancel and precheck."""

import base64
import json
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.api import PDF_BASE64, letter_json
from support.world import EXEMPELKOMMUN, NOW
from utskick.letters.models import Batch, Letter
from utskick.senders.systems import revoke_api_key


class TestAuthentication:
    def test_no_key_is_401_with_a_swedish_message(self, client):
        answer = client.get("/api/v1/letters")
        assert answer.status_code == 401
        assert "API-nyckel saknas" in answer.json()["detail"]
        assert answer.headers["WWW-Authenticate"] == "Bearer"

    def test_an_unknown_key_is_401(self, client):
        answer = client.get("/api/v1/letters", headers={"X-API-Key": "uk_" + "A" * 43})
        assert answer.status_code == 401
        assert "okänd eller återkallad" in answer.json()["detail"]

    def test_a_revoked_key_stops_working(self, client, api_engine, new_system):
        headers = new_system()
        assert client.get("/api/v1/letters", headers=headers).status_code == 200
        key = headers["Authorization"].removeprefix("Bearer ")
        with Session(api_engine) as session:
            revoke_api_key(session, key[:11], now=NOW)
            session.commit()
        assert client.get("/api/v1/letters", headers=headers).status_code == 401

    def test_the_key_works_in_the_x_api_key_header_too(self, client, new_system):
        key = new_system()["Authorization"].removeprefix("Bearer ")
        assert client.get("/api/v1/letters", headers={"X-API-Key": key}).status_code == 200

    def test_a_malformed_authorization_header_is_401_even_beside_a_good_key(
        self, client, new_system
    ):
        key = new_system()["Authorization"].removeprefix("Bearer ")
        for malformed in ("Token " + key, key, "Bearer", "Basic dXNlcjpwYXNz"):
            answer = client.get(
                "/api/v1/letters", headers={"X-API-Key": key, "Authorization": malformed}
            )
            assert answer.status_code == 401, malformed
            assert "Bearer <nyckel>" in answer.json()["detail"]

    def test_two_different_keys_are_401(self, client, new_system):
        first = new_system()
        second = new_system()["Authorization"].removeprefix("Bearer ")
        answer = client.get("/api/v1/letters", headers={**first, "X-API-Key": second})
        assert answer.status_code == 401
        assert "två olika API-nycklar" in answer.json()["detail"]

    def test_the_same_key_in_both_headers_is_accepted(self, client, new_system):
        headers = new_system()
        key = headers["Authorization"].removeprefix("Bearer ")
        answer = client.get("/api/v1/letters", headers={**headers, "X-API-Key": key})
        assert answer.status_code == 200


class TestQueryParameters:
    def test_a_parameter_named_twice_is_422_naming_it(self, client, new_system):
        answer = client.get("/api/v1/letters?reference=A&reference=B", headers=new_system())
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {
                "field": "reference",
                "message": "parametern anges flera gånger; ange reference en gång",
            }
        ]

    def test_a_parameter_named_twice_is_refused_before_the_key_is_checked(self, client):
        answer = client.get("/api/v1/letters?limit=1&limit=2")
        assert answer.status_code == 422

    def test_distinct_parameters_are_accepted(self, client, new_system):
        answer = client.get("/api/v1/letters?reference=A&limit=1", headers=new_system())
        assert answer.status_code == 200


class TestSubmitLetter:
    def test_a_body_over_four_megabytes_is_413_and_nothing_is_stored(
        self, client, new_system, api_engine
    ):
        headers = new_system()
        with Session(api_engine) as session:
            before = session.scalar(select(func.count()).select_from(Letter))
        huge = letter_json(body="x" * (4 * 1024 * 1024 + 1))
        answer = client.post("/api/v1/letters", json=huge, headers=headers)
        assert answer.status_code == 413
        assert "högst 2 MB" in answer.json()["detail"]
        with Session(api_engine) as session:
            assert session.scalar(select(func.count()).select_from(Letter)) == before

    def test_a_streamed_body_without_length_over_the_limit_is_413(self, client, new_system):
        chunk = b" " * (1024 * 1024)

        def body():
            yield b'{"recipient": "19121212-1212",'
            for _ in range(5):
                yield chunk
            yield b"}"

        answer = client.post(
            "/api/v1/letters",
            content=body(),
            headers=new_system() | {"Content-Type": "application/json"},
        )
        assert answer.status_code == 413

    def test_a_new_letter_is_201_and_a_replay_is_200_with_the_same_letter(self, client, new_system):
        headers = new_system() | {"Idempotency-Key": "BN-2026-1"}
        letter = letter_json(attachments=[{"filename": "beslut.pdf", "content_base64": PDF_BASE64}])
        first = client.post("/api/v1/letters", json=letter, headers=headers)
        assert first.status_code == 201, first.text
        again = client.post("/api/v1/letters", json=letter, headers=headers)
        assert again.status_code == 200
        assert again.json()["id"] == first.json()["id"]
        stored = first.json()
        assert stored["state"] == "received"
        assert stored["recipient"] == "191212121212"
        assert stored["idempotency_key"] == "BN-2026-1"
        assert stored["attachments"][0]["filename"] == "beslut.pdf"
        assert "content_base64" not in stored["attachments"][0]

    def test_a_refused_letter_names_the_field_in_swedish(self, client, new_system):
        answer = client.post(
            "/api/v1/letters", json=letter_json(protection_class=4), headers=new_system()
        )
        assert answer.status_code == 422
        assert answer.json()["errors"] == [
            {"field": "protection_class", "message": answer.json()["detail"]}
        ]
        assert "skyddsklass 4 får inte skickas" in answer.json()["detail"]

    def test_schema_errors_are_swedish_and_name_the_field(self, client, new_system):
        body = letter_json(subject="x" * 300)
        del body["recipient"]
        answer = client.post("/api/v1/letters", json=body, headers=new_system())
        assert answer.status_code == 422
        errors = {e["field"]: e["message"] for e in answer.json()["errors"]}
        assert errors == {"recipient": "saknas", "subject": "får ha högst 255 tecken"}

    def test_an_attachment_that_is_not_base64_is_refused(self, client, new_system):
        answer = client.post(
            "/api/v1/letters",
            json=letter_json(attachments=[{"filename": "a.pdf", "content_base64": "inte base64!"}]),
            headers=new_system(),
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "attachments[0].content_base64"

    def test_a_non_pdf_attachment_is_refused(self, client, new_system):
        answer = client.post(
            "/api/v1/letters",
            json=letter_json(
                attachments=[
                    {
                        "filename": "a.docx",
                        "content_base64": base64.b64encode(b"PK\x03\x04").decode(),
                    }
                ]
            ),
            headers=new_system(),
        )
        assert answer.status_code == 422
        assert "ingen PDF-fil" in answer.json()["detail"]


class TestReadingLetters:
    def test_another_systems_letter_is_404_everywhere(self, client, new_system):
        owner, stranger = new_system(), new_system()
        letter_id = client.post("/api/v1/letters", json=letter_json(), headers=owner).json()["id"]
        for method, path in (
            ("GET", f"/api/v1/letters/{letter_id}"),
            ("GET", f"/api/v1/letters/{letter_id}/events"),
            ("POST", f"/api/v1/letters/{letter_id}/cancel"),
        ):
            answer = client.request(method, path, headers=stranger)
            assert answer.status_code == 404, path
            assert "finns inte" in answer.json()["detail"]
        assert client.get(f"/api/v1/letters/{letter_id}", headers=owner).status_code == 200

    def test_events_show_each_transition_with_its_actor(self, client, new_system):
        headers = new_system()
        letter_id = client.post("/api/v1/letters", json=letter_json(), headers=headers).json()["id"]
        cancelled = client.post(f"/api/v1/letters/{letter_id}/cancel", headers=headers)
        assert cancelled.status_code == 200
        assert cancelled.json()["state"] == "cancelled"
        events = client.get(f"/api/v1/letters/{letter_id}/events", headers=headers).json()
        assert [(e["state"], e["reason"]) for e in events] == [
            ("received", None),
            ("cancelled", "cancelled"),
        ]
        assert events[0]["actor"].startswith("api:system-")
        again = client.post(f"/api/v1/letters/{letter_id}/cancel", headers=headers)
        assert again.status_code == 409
        assert "redan avslutat" in again.json()["detail"]

    def test_search_by_recipient_reference_case_state_and_time(self, client, new_system):
        headers = new_system()
        for number, recipient in enumerate(("19121212-1212", "191212121212", "200001012384")):
            client.post(
                "/api/v1/letters",
                json=letter_json(
                    recipient=recipient, reference=f"ref-{number}", case_number="KS 1"
                ),
                headers=headers,
            ).raise_for_status()

        def search(**query):
            answer = client.get("/api/v1/letters", params=query, headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert search()["total"] == 3
        assert search(recipient="19121212 1212")["total"] == 2
        assert [x["reference"] for x in search(reference="ref-2")["letters"]] == ["ref-2"]
        assert search(case_number="KS 1", state="received")["total"] == 3
        assert search(state="delivered")["total"] == 0
        page = search(limit=2, offset=2)
        assert (page["total"], len(page["letters"])) == (3, 1)
        assert search(created_from="2000-01-01T00:00:00Z")["total"] == 3
        assert search(created_to="2000-01-01T00:00:00Z")["total"] == 0
        bad = client.get("/api/v1/letters", params={"recipient": "19121212-1213"}, headers=headers)
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "recipient"


class TestBatches:
    def test_good_lines_are_accepted_and_each_bad_line_is_reported_by_number(
        self, client, new_system, api_engine
    ):
        headers = new_system()
        lines = [
            json.dumps(letter_json(reference="1")),
            json.dumps(letter_json(recipient="19121212-1213")),  # line 2: bad check digit
            "",  # line 3: blank, skipped
            "{inte json",  # line 4
            json.dumps(letter_json(protection_class=4)),  # line 5
            json.dumps(letter_json(reference="6", idempotency_key=uuid.uuid4().hex)),
            json.dumps(
                letter_json(
                    attachments=[
                        {
                            "filename": "x.pdf",
                            "content_base64": base64.b64encode(b"GIF89a").decode(),
                        }
                    ]
                )
            ),  # line 7
        ]
        answer = client.post(
            "/api/v1/batches",
            content="\n".join(lines).encode(),
            headers=headers | {"Content-Type": "application/x-ndjson"},
        )
        assert answer.status_code == 201, answer.text
        result = answer.json()
        assert (result["accepted"], result["rejected"]) == (2, 4)
        by_line = {r["line"]: r for r in result["rejections"]}
        assert sorted(by_line) == [2, 4, 5, 7]
        assert by_line[2]["field"] == "recipient"
        assert "kontrollsiffran" in by_line[2]["message"]
        assert "inget brev i JSON" in by_line[4]["message"]
        assert by_line[5]["field"] == "protection_class"
        assert by_line[7]["field"] == "attachments[0].content"
        with Session(api_engine) as session:
            batch = session.get(Batch, result["id"])
            assert [r["line"] for r in batch.rejections] == [2, 4, 5, 7]
            assert batch.completed_at is not None
            stored = session.scalar(
                select(func.count()).select_from(Letter).where(Letter.batch_id == result["id"])
            )
            assert stored == 2
        progress = client.get(f"/api/v1/batches/{result['id']}", headers=headers).json()
        assert progress["states"] == {"received": 2}
        assert (progress["accepted"], progress["rejected"], progress["done"]) == (2, 4, False)
        assert (
            client.get(f"/api/v1/batches/{result['id']}", headers=new_system()).status_code == 404
        )

    def test_a_batch_larger_than_one_commit_is_stored_whole(self, client, new_system, monkeypatch):
        from utskick.intake import batch

        monkeypatch.setattr(batch, "BATCH_COMMIT_LINES", 7)
        headers = new_system()
        body = "\n".join(json.dumps(letter_json(reference=str(n))) for n in range(30)) + "\n"
        answer = client.post("/api/v1/batches", content=body.encode(), headers=headers)
        assert answer.json()["accepted"] == 30
        listed = client.get(
            "/api/v1/letters", params={"batch_id": answer.json()["id"]}, headers=headers
        )
        assert listed.json()["total"] == 30


class TestPrecheck:
    def test_one_decision_per_recipient(self, client, new_system):
        answer = client.post(
            "/api/v1/precheck",
            json={"sender": EXEMPELKOMMUN, "recipients": ["19121212-1212", "200001012384"]},
            headers=new_system(),
        )
        assert answer.status_code == 200, answer.text
        decisions = answer.json()["decisions"]
        assert [(d["recipient"], d["channel"], d["reason"]) for d in decisions] == [
            ("191212121212", "digital", "reachable"),
            ("200001012384", "paper", "not_registered"),
        ]
        assert decisions[0]["operator"] == "Kivra"

    def test_far_down_is_503_saying_to_try_again_or_print(self, client, new_system, app):
        app.state.adapters.precheck.far_down = True
        try:
            answer = client.post(
                "/api/v1/precheck",
                json={"sender": EXEMPELKOMMUN, "recipients": ["19121212-1212"]},
                headers=new_system(),
            )
        finally:
            app.state.adapters.precheck.far_down = False
        assert answer.status_code == 503
        assert "Försök igen om en stund" in answer.json()["detail"]
        assert "skriv ut brevet" in answer.json()["detail"]

    def test_a_sender_outside_the_systems_scope_is_refused(self, client, new_system):
        answer = client.post(
            "/api/v1/precheck",
            json={"sender": "2021009903", "recipients": ["19121212-1212"]},
            headers=new_system(),
        )
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "sender"
