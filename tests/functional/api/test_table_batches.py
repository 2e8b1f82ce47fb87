"""`POST /api/v1/batches` with a table: a CSV (as Swedish Excel or a system writes it) or an
XLSX workbook becomes one batch, a letter per row. Bad rows are refused by their row in Excel and
their column, a file that is no table is refused whole, and the same file sent twice gives its
letters back instead of new ones."""

import codecs
import datetime as dt
import hashlib
import io
import json
import uuid
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.api import letter_json
from support.world import EVA, EXEMPELKOMMUN, TOLVAN, fresh_personnummer
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.intake import batch_routes
from utskick.jobs.models import Job
from utskick.letters.models import Batch, Letter

API = "/api/v1/batches"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A morning a month ahead, in Stockholm (where a time in a table without a zone is).
MORNING = (dt.datetime.now(ZoneInfo("Europe/Stockholm")) + dt.timedelta(days=30)).replace(
    hour=6, minute=0, second=0, microsecond=0
)


def _post(client, body, headers, content_type="text/csv", params=None):
    return client.post(
        API, content=body, headers=headers | {"Content-Type": content_type}, params=params
    )


def _csv(rows, separator=";", encoding="utf-8"):
    text = "\r\n".join(separator.join(row) for row in rows) + "\r\n"
    return text.encode(encoding)


def _xlsx(rows):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(list(row))
    data = io.BytesIO()
    workbook.save(data)
    return data.getvalue()


def _letters(engine, batch_id):
    with Session(engine) as session:
        letters = session.scalars(
            select(Letter).where(Letter.batch_id == batch_id).order_by(Letter.idempotency_key)
        ).all()
        session.expunge_all()
        return letters


def _count(engine, **where):
    with Session(engine) as session:
        query = select(func.count()).select_from(Letter)
        for name, value in where.items():
            query = query.where(getattr(Letter, name) == value)
        return session.scalar(query)


class TestCsv:
    def test_swedish_excels_semicolons_in_windows_1252(self, client, new_system, api_engine):
        headers = new_system()
        first, second = fresh_personnummer(), fresh_personnummer()
        body = _csv(
            [
                ("Personnummer", "Ämne", "Text", "Meddelandetyp", "Diarienummer", "Förvaltning"),
                (first, "Beslut om bygglov", "Hej Åsa! Här är beslutet.", "beslut", "BN 1", "Bygg"),
                (second, "Beslut om färdtjänst", "Hej Örjan!", "beslut", "", "Omsorg"),
            ],
            encoding="cp1252",
        )

        answer = _post(client, body, headers)

        assert answer.status_code == 201, answer.text
        result = answer.json()
        assert (result["accepted"], result["replayed"], result["rejected"]) == (2, 0, 0)
        letters = {letter.recipient_id: letter for letter in _letters(api_engine, result["id"])}
        assert letters[first].subject == "Beslut om bygglov"
        assert letters[first].body == "Hej Åsa! Här är beslutet."
        assert letters[first].sender_number == EXEMPELKOMMUN  # the system's only sender
        assert (letters[first].case_number, letters[first].department) == ("BN 1", "Bygg")
        assert letters[first].protection_class == 2
        assert letters[second].case_number is None
        digest = hashlib.sha256(body).hexdigest()
        assert letters[first].idempotency_key in {f"table:{digest}:2", f"table:{digest}:3"}

    def test_a_systems_commas_in_utf_8_with_a_bom_and_the_apis_names(
        self, client, new_system, api_engine
    ):
        headers = new_system()
        person = fresh_personnummer()
        body = codecs.BOM_UTF8 + _csv(
            [
                ("recipient", "subject", "body", "protection_class", "reference", "sender"),
                (person, "Kallelse", '"Välkommen, den 3 maj."', "1", "R-17", EXEMPELKOMMUN),
            ],
            separator=",",
        )

        answer = _post(client, body, headers, content_type="application/octet-stream")

        assert answer.status_code == 201, answer.text
        [letter] = _letters(api_engine, answer.json()["id"])
        assert (letter.recipient_id, letter.body) == (person, "Välkommen, den 3 maj.")
        assert (letter.protection_class, letter.reference) == (1, "R-17")

    def test_the_query_gives_what_the_table_leaves_out(self, client, new_system, api_engine):
        headers = new_system()
        body = _csv([("Pnr", "Text"), (fresh_personnummer(), "Hej!")])
        params = {"subject": "Information", "message_type": "beslut", "department": "Skola"}

        answer = _post(client, body, headers, params=params)

        assert answer.status_code == 201, answer.text
        [letter] = _letters(api_engine, answer.json()["id"])
        assert (letter.subject, letter.message_type, letter.department) == (
            "Information",
            "beslut",
            "Skola",
        )

    def test_bad_rows_are_refused_by_their_row_in_excel_and_their_column(self, client, new_system):
        headers = new_system()
        body = _csv(
            [
                ("Personnummer", "Ämne", "Text", "Skyddsklass"),
                (fresh_personnummer(), "Beslut", "Hej!", "2"),  # row 2
                ("19121212-1213", "Beslut", "Hej!", "2"),  # row 3: check digit
                ("", "", "", ""),  # row 4: empty, skipped
                (fresh_personnummer(), "Beslut", "", "2"),  # row 5: no text
                (fresh_personnummer(), "Beslut", "Hej!", "4"),  # row 6: class 4
                (fresh_personnummer(), "Beslut", "Hej!", "hög"),  # row 7
            ]
        )

        answer = _post(client, body, headers)

        assert answer.status_code == 201, answer.text
        result = answer.json()
        assert (result["accepted"], result["rejected"]) == (1, 4)
        by_row = {r["line"]: r for r in result["rejections"]}
        assert sorted(by_row) == [3, 5, 6, 7]
        assert by_row[3]["field"] == "Personnummer"
        assert "kontrollsiffran stämmer inte" in by_row[3]["message"]
        assert by_row[5]["field"] == "Text"
        assert by_row[6]["field"] == "Skyddsklass"
        assert "skyddsklass 4" in by_row[6]["message"]
        assert by_row[7]["message"].startswith("skyddsklassen 'hög' går inte att läsa")
        progress = client.get(f"{API}/{result['id']}", headers=headers).json()
        assert [r["line"] for r in progress["rejections"]] == [3, 5, 6, 7]
        assert (progress["accepted"], progress["rejected"]) == (1, 4)

    def test_a_table_of_which_no_row_is_accepted_is_refused_and_not_kept(
        self, client, new_system, api_engine
    ):
        headers = new_system()
        with Session(api_engine) as session:
            batches = session.scalar(select(func.count()).select_from(Batch))
        body = _csv([("Personnummer", "Ämne", "Text", "Skyddsklass"), ("1234", "B", "T", "2")])

        answer = _post(client, body, headers)

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "rad 2: Personnummer"
        with Session(api_engine) as session:
            assert session.scalar(select(func.count()).select_from(Batch)) == batches

    def test_an_address_is_screened_and_a_protected_persons_dropped(
        self, client, new_system, api_engine
    ):
        headers = new_system()
        body = _csv(
            [
                ("Personnummer", "Ämne", "Text", "Skyddsklass", "Namn", "Adress", "Postnr", "Ort"),
                (TOLVAN, "B", "Hej!", "2", "Tolvan", "Gatan 1", "123 45", "Åby"),
                (EVA, "B", "Hej!", "2", "Eva", "Dolda gatan 7", "999 99", "X"),
            ]
        )

        answer = _post(client, body, headers)

        assert answer.status_code == 201, answer.text
        letters = {
            letter.recipient_id: letter for letter in _letters(api_engine, answer.json()["id"])
        }
        assert letters[TOLVAN].postal_address["lines"] == ["Gatan 1"]
        assert letters[EVA].postal_address is None


class TestXlsx:
    def test_a_workbook_with_a_time_to_send_at_the_earliest(self, client, new_system, api_engine):
        headers = new_system()
        person = fresh_personnummer()
        # Excel keeps a time without a zone: the office's local time.
        six_in_the_morning = MORNING.replace(tzinfo=None)
        body = _xlsx(
            [
                ("Personnummer", "Ämne", "Brevtext", "Meddelandetyp", "Skickas tidigast"),
                (person, "Påminnelse", "Hej!\nGlöm inte.", "beslut", six_in_the_morning),
                (fresh_personnummer(), "Påminnelse", "Hej!", "beslut", None),
            ]
        )

        answer = _post(client, body, headers, content_type=XLSX)

        assert answer.status_code == 201, answer.text
        letters = {
            letter.recipient_id: letter for letter in _letters(api_engine, answer.json()["id"])
        }
        assert letters[person].body == "Hej!\nGlöm inte."
        expected = MORNING.astimezone(dt.UTC)
        assert letters[person].not_before.replace(tzinfo=dt.UTC) == expected
        with Session(api_engine) as session:
            run_at = session.scalar(select(Job.run_at).where(Job.letter_id == letters[person].id))
        assert run_at.replace(tzinfo=dt.UTC) == expected
        others = [letter for rid, letter in letters.items() if rid != person]
        assert others[0].not_before is None

    def test_a_time_that_cannot_be_read_is_refused_on_its_row(self, client, new_system):
        headers = new_system()
        body = _xlsx(
            [
                ("Personnummer", "Ämne", "Text", "Skyddsklass", "Tidigast"),
                (fresh_personnummer(), "B", "Hej!", 2, "nästa vecka"),
                (fresh_personnummer(), "B", "Hej!", 2, f"{MORNING.year + 2}-01-01 08:00"),
            ]
        )

        answer = _post(client, body, headers, content_type=XLSX)

        assert answer.status_code == 422
        errors = answer.json()["errors"]
        assert [error["field"] for error in errors] == ["rad 2: Tidigast", "rad 3: Tidigast"]
        assert "ingen tid som går att läsa" in errors[0]["message"]
        assert "mer än ett år fram" in errors[1]["message"]


class TestTheSameFileTwice:
    def test_gives_its_letters_back_instead_of_new_ones(self, client, new_system, api_engine):
        headers = new_system()
        body = _xlsx(
            [
                ("Personnummer", "Ämne", "Text", "Skyddsklass"),
                *((fresh_personnummer(), "Beslut", "Hej!", 2) for _ in range(3)),
            ]
        )

        first = _post(client, body, headers, content_type=XLSX).json()
        again = _post(client, body, headers, content_type=XLSX).json()

        assert (first["accepted"], first["replayed"]) == (3, 0)
        assert (again["accepted"], again["replayed"]) == (3, 3)
        assert again["id"] != first["id"]
        assert _count(api_engine, batch_id=first["id"]) == 3
        assert _count(api_engine, batch_id=again["id"]) == 0

    def test_the_callers_key_names_the_file(self, client, new_system, api_engine):
        headers = new_system() | {"Idempotency-Key": "lista-2026-05"}
        body = _csv([("Pnr", "Ämne", "Text", "Skyddsklass"), (fresh_personnummer(), "B", "T", "2")])

        answer = _post(client, body, headers)

        [letter] = _letters(api_engine, answer.json()["id"])
        assert letter.idempotency_key == "table:lista-2026-05:2"


class TestRefusedWhole:
    @pytest.mark.parametrize(
        ("body", "content_type", "message"),
        [
            (minimal_pdf(100), "text/csv", "Filen är en PDF, inte en tabell"),
            (b"PK\x03\x04" + b"\x00" * 100, XLSX, "ingen Excel-arbetsbok"),
            (b"Kundnummer;Text\n17;Hej\n", "text/csv", "ingen kolumn med mottagaren"),
            (b"Personnummer;Text\n191212121212;Hej\n", "text/csv", "ingen kolumn med ämnesraden"),
            ("Personnummer;Ämne;Text\n191212121212;B;Hej\n".encode(), "text/csv", "Meddelandetyp"),
            ("Personnummer;Ämne;Text\n".encode(), "text/csv", "bara en rubrikrad"),
        ],
        ids=["pdf", "zip", "no-recipient", "no-subject", "no-class", "no-rows"],
    )
    def test_a_file_no_letter_can_come_from(
        self, client, new_system, api_engine, body, content_type, message
    ):
        before = _count(api_engine)

        answer = _post(client, body, new_system(), content_type=content_type)

        assert answer.status_code == 422, answer.text
        assert message in answer.json()["detail"]
        assert _count(api_engine) == before

    def test_a_table_larger_than_the_limit(self, client, new_system, monkeypatch):
        monkeypatch.setattr(batch_routes, "MAX_TABLE_BYTES", 100)
        body = _csv([("Personnummer", "Ämne", "Text")] + [(TOLVAN, "B", "x" * 50)] * 3)

        answer = _post(client, body, new_system())

        assert answer.status_code == 413
        assert "dela upp den i flera filer" in answer.json()["detail"]

    def test_an_unusable_key(self, client, new_system):
        headers = new_system() | {"Idempotency-Key": " "}
        body = _csv([("Pnr", "Ämne", "Text", "Skyddsklass"), (TOLVAN, "B", "T", "2")])

        answer = _post(client, body, headers)

        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "Idempotency-Key"


class TestNdjsonStaysNdjson:
    def test_a_body_that_starts_with_a_letter_is_ndjson_whatever_it_is_called(
        self, client, new_system
    ):
        line = letter_json(reference=uuid.uuid4().hex)
        line.pop("subject")
        answer = _post(
            client,
            f"{json.dumps(line)}\n".encode(),
            new_system(),
            content_type="text/csv",
            params={"subject": "Från frågan"},
        )

        assert answer.status_code == 201, answer.text
        assert answer.json()["accepted"] == 1

    def test_declared_ndjson_with_a_broken_first_line_is_read_line_by_line(
        self, client, new_system
    ):
        body = "inte json\n" + json.dumps(letter_json(reference=uuid.uuid4().hex)) + "\n"

        answer = _post(client, body.encode(), new_system(), "application/x-ndjson")

        assert answer.status_code == 201, answer.text
        assert answer.json()["rejections"][0]["line"] == 1


def test_the_description_names_the_tables(client):
    described = client.get("/openapi.json").json()["paths"][API]["post"]
    content = described["requestBody"]["content"]
    assert {"application/x-ndjson", "text/csv", XLSX} <= set(content)
    names = {parameter["name"] for parameter in described["parameters"]}
    assert {"sender", "department", "subject", "message_type", "policy"} <= names
    assert "Idempotency-Key" in names
