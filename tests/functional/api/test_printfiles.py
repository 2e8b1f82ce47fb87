"""`POST /api/v1/printfiles?source=…` through HTTP: a print file (and its control file) as
multipart, by a source of the calling system; the receipt with each letter; refusals in
Swedish with nothing stored; another system's source refused; the same file twice replayed;
large files past the JSON ceiling, with a ceiling of their own."""

import io
import json
import uuid

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader, PdfWriter
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from support.print_files import RECIPIENTS, anchor_file, pdf_of
from support.world import EXEMPELKOMMUN, NOW
from utskick.intake.printfile_routes import PrintFileBodyLimit
from utskick.letters.models import Letter
from utskick.senders.systems import create_sending_system, issue_api_key

URL = "/api/v1/printfiles"


@pytest.fixture(scope="module")
def systems(api_engine, app):
    """Two sending systems with keys, and a sources file naming sources of the first."""
    made = {}
    with Session(api_engine) as session:
        for label in ("own", "other"):
            system = create_sending_system(
                session,
                name=f"system-{uuid.uuid4().hex[:8]}",
                sender_numbers=[EXEMPELKOMMUN],
                now=NOW,
            )
            key = issue_api_key(session, system, now=NOW).clear_key
            made[label] = (system.id, system.name, {"Authorization": f"Bearer {key}"})
        session.commit()
    own = made["own"][1]
    (app.state.settings.home / "sources.toml").write_text(
        f"""
[[source]]
name = "fakturor"
system = "{own}"
subject = "Faktura från Exempelkommun"
message_type = "beslut"
paper_layout = "address-in-window"
[source.recipient]
rule = "anchor"

[[source]]
name = "styrda"
system = "{own}"
message_type = "beslut"
[source.recipient]
rule = "control-file"

[[source]]
name = "beslut"
system = "{own}"
subject = "Beslut"
message_type = "beslut"
[source.recipient]
rule = "form-field"
field = "personnummer"

[[source]]
name = "namngivna"
system = "{own}"
subject = "Beslut"
message_type = "beslut"
[source.recipient]
rule = "filename"

[[source]]
name = "grannens"
system = "{made["other"][1]}"
subject = "Beslut"
message_type = "beslut"
""",
        encoding="utf-8",
    )
    return made


@pytest.fixture
def headers(systems):
    return systems["own"][2]


@pytest.fixture
def letters_stored(api_engine, systems):
    def count():
        with Session(api_engine) as session:
            return session.scalar(
                select(func.count(Letter.id)).where(Letter.sending_system_id == systems["own"][0])
            )

    return count


def post(client, headers, source, pdf, *, name="fakturor.pdf", control=None):
    files = {"file": (name, pdf, "application/pdf")}
    if control is not None:
        files["control"] = control
    return client.post(URL, params={"source": source}, files=files, headers=headers)


def test_a_print_file_becomes_letters_and_the_receipt_names_each(client, headers):
    pdf = anchor_file(RECIPIENTS, 2, name=f"Kund {uuid.uuid4().hex}")

    answer = post(client, headers, "fakturor", pdf)

    assert answer.status_code == 201, answer.text
    receipt = answer.json()
    assert (receipt["accepted"], receipt["replayed"], receipt["rejected"]) == (4, 0, 0)
    assert [(it["index"], it["first_page"], it["last_page"], it["recipient"]) for it in
            receipt["letters"]] == [(1, 1, 2, RECIPIENTS[0]), (2, 3, 4, RECIPIENTS[1]),
                                    (3, 5, 6, RECIPIENTS[2]), (4, 7, 8, RECIPIENTS[3])]  # fmt: skip
    letter = client.get(f"/api/v1/letters/{receipt['letters'][0]['letter_id']}", headers=headers)
    assert letter.json()["subject"] == "Faktura från Exempelkommun"
    progress = client.get(f"/api/v1/batches/{receipt['batch_id']}", headers=headers).json()
    assert progress["accepted"] == 4


def test_a_control_file_comes_as_its_own_part(client, headers):
    control = "Sidor;Personnummer;Ämne\r\n1;19121212-1212;Beslut A\r\n2;198004232388;Beslut B\r\n"
    pdf = anchor_file(RECIPIENTS[:2], 1, name=f"Kund {uuid.uuid4().hex}")

    answer = post(
        client, headers, "styrda", pdf,
        control=("fakturor.csv", control.encode("utf-8-sig"), "text/csv"),
    )  # fmt: skip

    assert answer.status_code == 201, answer.text
    assert [it["recipient"] for it in answer.json()["letters"]] == [
        "19121212-1212",
        "198004232388",
    ]


def test_the_uploads_file_name_is_read_by_the_file_name_rule(client, headers):
    pdf = pdf_of([[f"Beslut {uuid.uuid4().hex}"]])

    answer = post(client, headers, "namngivna", pdf, name="C:\\Beslut\\19800423-2388_beslut.pdf")

    assert answer.status_code == 201, answer.text
    [letter] = answer.json()["letters"]
    assert letter["recipient"] == "19800423-2388"
    stored = client.get(f"/api/v1/letters/{letter['letter_id']}", headers=headers).json()
    assert [attachment["filename"] for attachment in stored["attachments"]] == ["beslut.pdf"]


def test_a_name_short_in_letters_but_long_in_bytes_is_taken_under_another_name(client, headers):
    pdf = anchor_file(RECIPIENTS[:1], 1, name=f"Kund {uuid.uuid4().hex}")

    # 204 letters but 404 bytes: more than a file system takes in one name.
    answer = post(client, headers, "fakturor", pdf, name="å" * 200 + ".pdf")

    assert answer.status_code == 201, answer.text
    assert answer.json()["accepted"] == 1


def test_the_same_file_twice_gives_back_its_letters_and_stores_none_again(
    client, headers, letters_stored
):
    pdf = anchor_file(RECIPIENTS[:2], 1, name=f"Kund {uuid.uuid4().hex}")
    first = post(client, headers, "fakturor", pdf).json()
    before = letters_stored()

    again = post(client, headers, "fakturor", pdf)

    assert again.status_code == 201
    assert (again.json()["accepted"], again.json()["replayed"]) == (2, 2)
    assert again.json()["batch_id"] == first["batch_id"]
    assert [it["letter_id"] for it in again.json()["letters"]] == [
        it["letter_id"] for it in first["letters"]
    ]
    assert letters_stored() == before


@pytest.mark.parametrize(
    ("pdf", "reason"),
    [
        (b"%PDF-1.4 trasig", "utskriftsfilen fakturor.pdf kan inte läsas"),
        (b"hej", "utskriftsfilen fakturor.pdf är ingen PDF-fil"),
        (pdf_of([["Ingen mottagare"]]), 'har texten "Personnummer:"'),
    ],
)
def test_a_file_that_cannot_be_taken_is_422_in_swedish_and_nothing_is_stored(
    client, headers, letters_stored, pdf, reason
):
    before = letters_stored()

    answer = post(client, headers, "fakturor", pdf)

    assert answer.status_code == 422
    assert reason in answer.json()["detail"]
    assert answer.json()["errors"][0]["field"] == "file"
    assert letters_stored() == before


def test_a_control_file_that_does_not_fit_is_422(client, headers, letters_stored):
    before = letters_stored()
    control = b"sidor;personnummer;amne\n1-3;19121212-1212;Beslut\n"

    answer = post(
        client, headers, "styrda", anchor_file(RECIPIENTS[:1], 1),
        control=("fakturor.csv", control, "text/csv"),
    )  # fmt: skip

    assert answer.status_code == 422
    assert "sidorna 1–3 finns inte" in answer.json()["detail"]
    assert letters_stored() == before


def test_a_file_none_of_whose_letters_can_be_accepted_is_422_naming_each(client, headers):
    pdf = anchor_file(["19121212-1213", "19800423-2389"], 1)

    answer = post(client, headers, "fakturor", pdf)

    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"].startswith("inget brev i utskriftsfilen kunde tas emot (2 brev")
    assert [error["field"] for error in body["errors"]] == ["brev 1 (sidan 1)", "brev 2 (sidan 2)"]
    assert "kontrollsiffran stämmer inte" in body["errors"][0]["message"]


class TestWhoMayHandItIn:
    def test_another_systems_source_is_403(self, client, headers):
        answer = post(client, headers, "grannens", anchor_file(RECIPIENTS[:1], 1))

        assert answer.status_code == 403
        assert (
            "källan 'grannens' finns inte eller hör inte till systemet" in (answer.json()["detail"])
        )

    def test_an_unknown_source_is_403_with_the_same_words(self, client, headers):
        answer = post(client, headers, "finns-inte", anchor_file(RECIPIENTS[:1], 1))

        assert answer.status_code == 403
        assert (
            "källan 'finns-inte' finns inte eller hör inte till systemet"
            in (answer.json()["detail"])
        )

    def test_without_a_key_it_is_401(self, client):
        answer = post(client, {}, "fakturor", anchor_file(RECIPIENTS[:1], 1))

        assert answer.status_code == 401


class TestBody:
    def test_a_body_that_is_not_multipart_is_422(self, client, headers):
        answer = client.post(URL, params={"source": "fakturor"}, content=b"%PDF-", headers=headers)

        assert answer.status_code == 422
        assert "multipart/form-data" in answer.json()["detail"]

    def test_an_unknown_part_is_422(self, client, headers):
        answer = client.post(
            URL,
            params={"source": "fakturor"},
            files={"file": ("a.pdf", anchor_file(RECIPIENTS[:1], 1)), "bilaga": ("b.pdf", b"x")},
            headers=headers,
        )

        assert answer.status_code == 422
        assert "fältet 'bilaga' är inte känt" in answer.json()["detail"]

    def test_a_missing_file_part_is_422(self, client, headers):
        answer = client.post(
            URL, params={"source": "fakturor"}, files={"control": ("a.csv", b"x")}, headers=headers
        )

        assert answer.status_code == 422
        assert "PDF-filen saknas" in answer.json()["detail"]

    def test_a_print_file_larger_than_a_json_body_may_be_is_taken(self, client, headers):
        pdf = _padded(anchor_file(RECIPIENTS, 1, name=f"Kund {uuid.uuid4().hex}"), 1_300_000)
        assert len(pdf) > 4 * 1024 * 1024  # the JSON bodies' ceiling

        answer = post(client, headers, "fakturor", pdf)

        assert answer.status_code == 201, answer.text
        assert answer.json()["accepted"] == 4


def _padded(pdf, padding):
    """Each page's content stream lengthened by a comment (the pages look the same)."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for page in writer.pages:
        contents = page.get_contents()
        contents.set_data(contents.get_data() + b"\n%" + b"x" * padding + b"\n")
        page.replace_contents(contents)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


class TestBodyLimit:
    @pytest.fixture
    def limited(self):
        async def echo(request: Request) -> Response:
            return Response(str(len(await request.body())))

        return TestClient(
            PrintFileBodyLimit(Starlette(routes=[Route("/", echo, methods=["POST"])]), limit=10)
        )

    def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(self, limited):
        answer = limited.post("/", content=b"x" * 11)

        assert answer.status_code == 413
        assert "utskriftsfilen är för stor" in answer.json()["detail"]

    def test_a_streamed_body_over_the_limit_is_413(self, limited):
        answer = limited.post("/", content=iter([b"x" * 6, b"x" * 6]))

        assert answer.status_code == 413

    def test_a_body_within_the_limit_passes(self, limited):
        assert limited.post("/", content=iter([b"x" * 5, b"x" * 5])).text == "10"


def test_the_route_is_described_in_openapi(client):
    operation = client.get("/openapi.json").json()["paths"][URL]["post"]

    body = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert body["required"] == ["file"]
    assert set(body["properties"]) == {"file", "control"}
    assert {"201", "401", "403", "413", "422"} <= set(operation["responses"])
    assert operation["parameters"][0]["name"] == "source"
    assert json.dumps(operation, ensure_ascii=False)
