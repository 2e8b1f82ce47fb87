"""The diarium stand-in alone: signed calls, numbers per series and year, its page, its key.

The calls are signed here by the test's own code from the contract (docs/records.md), not by
the connector's: the stand-in is another party.
"""

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid

import httpx2
import pytest
from fastapi.testclient import TestClient

from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.reference.diarium.secret import KEY_FILE_NAME, shared_secret
from utskick.reference.diarium.series import DEMO_SERIES, DiariumSeries
from utskick.reference.diarium.service import MAX_BODY_BYTES, create_diarium_app
from utskick.reference.runner import listings

KEY = b"en-nyckel-som-bara-testet-och-diariet-har"
PATH = "/v1/registrations"


class Clock:
    def __init__(self, moment):
        self.now = moment

    def __call__(self):
        return self.now


def letter(**fields):
    values = {
        "version": 1,
        "letter_id": str(uuid.uuid4()),
        "message_id": uuid.uuid4().hex,
        "organisation_number": EXEMPELKOMMUN,
        "department": "Socialtjänsten",
        "rule": "register",
        "message_type": "beslut",
        "subject": "Beslut om bygglov",
        "case_number": "BN 2026/7",
        "reference": None,
        "recipient_id": "191212121212",
        "channel": "digital",
        "state": "delivered",
        "sent_at": "2026-12-07T09:00:00Z",
        "delivered_digest": "ab" * 32,
        "attachments": [{"name": "beslut.pdf", "sha256": "cd" * 32}],
    }
    return values | fields


def signed(body, *, key=KEY, at, call_id=None):
    call_id = call_id or str(uuid.uuid4())
    timestamp = str(int(at.timestamp()))
    digest = hmac.new(key, f"{call_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "Utskick-Id": call_id,
        "Utskick-Timestamp": timestamp,
        "Utskick-Signature": "v1=" + base64.b64encode(digest).decode(),
    }


@pytest.fixture
def clock():
    return Clock(dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC))


@pytest.fixture
def diarium(tmp_path, clock):
    app = create_diarium_app(KEY, DEMO_SERIES, tmp_path / "diarium", clock=clock)
    with TestClient(app) as client:
        client.register = lambda facts, **options: post(client, facts, clock, **options)
        yield client


def post(client, facts, clock, *, key=KEY, at=None, call_id=None, headers=None):
    body = json.dumps(facts).encode()
    sent = signed(body, key=key, at=at or clock(), call_id=call_id)
    return client.post(PATH, content=body, headers=sent | (headers or {}))


class TestRegistering:
    def test_letters_get_running_numbers_in_the_main_series_of_the_year(self, diarium):
        first = diarium.register(letter())
        second = diarium.register(letter())
        assert first.status_code == 200
        assert first.json() == {
            "registration_number": "KS 2026/1",
            "registered_at": "2026-12-07T09:30:00Z",
        }
        assert second.json()["registration_number"] == "KS 2026/2"

    def test_the_same_letter_asked_again_keeps_its_number(self, diarium):
        facts = letter()
        first = diarium.register(facts).json()
        diarium.register(letter())
        again = diarium.register(facts | {"subject": "Ändrad rubrik"}).json()
        assert again == first
        assert [row["letter_id"] for row in diarium.get("/api/registreringar").json()].count(
            facts["letter_id"]
        ) == 1

    def test_a_journalled_letter_goes_into_its_departments_series(self, diarium):
        social = diarium.register(letter(rule="journal", department="Socialtjänsten")).json()
        culture = diarium.register(letter(rule="journal", department="Kultur och fritid")).json()
        nobody = diarium.register(letter(rule="journal", department=None)).json()
        assert social["registration_number"] == "SOC 2026/1"
        assert culture["registration_number"] == "KUL 2026/1"
        assert nobody["registration_number"] == "KS 2026/1"

    def test_each_organisation_counts_its_own_numbers(self, diarium):
        diarium.register(letter())
        neighbour = diarium.register(letter(organisation_number=GRANNKOMMUN)).json()
        assert neighbour["registration_number"] == "KS 2026/1"

    def test_a_new_year_starts_from_one(self, diarium, clock):
        diarium.register(letter())
        clock.now = dt.datetime(2027, 1, 1, 8, 0, tzinfo=dt.UTC)
        assert diarium.register(letter()).json()["registration_number"] == "KS 2027/1"

    def test_numbers_survive_a_restart(self, tmp_path, clock):
        facts = letter()
        folder = tmp_path / "diarium"
        with TestClient(create_diarium_app(KEY, DEMO_SERIES, folder, clock=clock)) as before:
            post(before, facts, clock)
            post(before, letter(), clock)
        with TestClient(create_diarium_app(KEY, DEMO_SERIES, folder, clock=clock)) as after:
            assert post(after, facts, clock).json()["registration_number"] == "KS 2026/1"
            assert post(after, letter(), clock).json()["registration_number"] == "KS 2026/3"
        assert oct((folder / "diarium.db").stat().st_mode & 0o777) == "0o600"

    def test_a_series_of_its_own_can_be_given(self, tmp_path, clock):
        series = DiariumSeries("KF", {"Miljö": "MHN"})
        app = create_diarium_app(KEY, series, tmp_path / "eget", clock=clock)
        with TestClient(app) as client:
            main = post(client, letter(), clock).json()
            environment = post(client, letter(rule="journal", department="Miljö"), clock).json()
        assert main["registration_number"] == "KF 2026/1"
        assert environment["registration_number"] == "MHN 2026/1"


class TestRefusals:
    def refused(self, answer, status=401):
        assert answer.status_code == status
        assert answer.headers["content-type"] == "application/json"
        return answer.json()["error"]

    def test_a_call_signed_with_another_key_is_refused(self, diarium):
        error = self.refused(diarium.register(letter(), key=b"fel nyckel"))
        assert "signaturen stämmer inte" in error

    def test_a_body_changed_after_signing_is_refused(self, diarium, clock):
        body = json.dumps(letter()).encode()
        headers = signed(body, at=clock())
        changed = body.replace(b"Beslut om bygglov", b"Beslut om rivning")
        error = self.refused(diarium.post(PATH, content=changed, headers=headers))
        assert "signaturen stämmer inte" in error

    @pytest.mark.parametrize("missing", ["Utskick-Id", "Utskick-Timestamp", "Utskick-Signature"])
    def test_a_call_without_a_signature_header_is_refused(self, diarium, clock, missing):
        body = json.dumps(letter()).encode()
        headers = {k: v for k, v in signed(body, at=clock()).items() if k != missing}
        error = self.refused(diarium.post(PATH, content=body, headers=headers))
        assert missing in error

    def test_a_timestamp_older_than_five_minutes_is_refused(self, diarium, clock):
        old = clock() - dt.timedelta(seconds=301)
        error = self.refused(diarium.register(letter(), at=old))
        assert "301 sekunder gammal" in error
        # Five minutes exactly is still in time.
        fresh = clock() - dt.timedelta(seconds=300)
        assert diarium.register(letter(), at=fresh).status_code == 200

    def test_a_timestamp_from_the_future_is_refused(self, diarium, clock):
        error = self.refused(diarium.register(letter(), at=clock() + dt.timedelta(minutes=10)))
        assert "fram i tiden" in error

    def test_a_call_replayed_with_the_same_id_is_refused(self, diarium):
        facts = letter()
        assert diarium.register(facts, call_id="samma-id").status_code == 200
        error = self.refused(diarium.register(facts, call_id="samma-id"))
        assert "redan använts" in error

    @pytest.mark.parametrize(
        ("header", "value"),
        [
            ("Utskick-Signature", "sha256=abc"),
            ("Utskick-Signature", "v1=inte base64!"),
            ("Utskick-Timestamp", "yesterday"),
            ("Utskick-Id", "id med mellanslag"),
        ],
    )
    def test_malformed_headers_are_refused(self, diarium, header, value):
        self.refused(diarium.register(letter(), headers={header: value}))

    def test_the_right_signature_among_several_is_accepted_while_a_key_is_changed(
        self, diarium, clock
    ):
        body = json.dumps(letter()).encode()
        headers = signed(body, at=clock())
        headers["Utskick-Signature"] = (
            "v1=" + base64.b64encode(b"x" * 32).decode() + ", " + (headers["Utskick-Signature"])
        )
        assert diarium.post(PATH, content=body, headers=headers).status_code == 200

    def test_a_signed_body_that_is_not_a_letter_is_refused_with_400(self, diarium):
        error = self.refused(diarium.register(letter(recipient_id="1212121212")), status=400)
        assert "recipient_id" in error

    def test_a_body_over_the_limit_is_refused_unread(self, diarium, clock):
        body = b"{" + b" " * MAX_BODY_BYTES + b"}"
        answer = diarium.post(PATH, content=body, headers=signed(body, at=clock()))
        assert self.refused(answer, status=413)

    def test_refused_calls_register_nothing(self, diarium):
        diarium.register(letter(), key=b"fel")
        diarium.register(letter(recipient_id="x"))
        assert diarium.get("/api/registreringar").json() == []

    def test_an_empty_key_is_not_accepted(self, tmp_path):
        with pytest.raises(ValueError, match="nyckel"):
            create_diarium_app(b"", DEMO_SERIES, tmp_path)


class TestPage:
    def test_lists_the_registered_letters_in_swedish_newest_first(self, diarium, clock):
        diarium.register(letter(subject="Första brevet"))
        clock.now += dt.timedelta(minutes=1)
        diarium.register(letter(subject="<script>alert(1)</script>", recipient_id="165569990038"))
        page = diarium.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        assert '<html lang="sv">' in html
        assert "Diariet (exempel)" in html
        assert html.index("KS 2026/2") < html.index("KS 2026/1")
        assert "19121212-1212" in html
        assert "556999-0038" in html
        assert "202100-4748" in html
        assert "2026-12-07 10:30" in html  # Stockholm time, not UTC
        assert "<script>" not in html
        assert "&lt;script&gt;" in html
        assert "http" not in html.replace('href="/api/registreringar"', "")
        assert "default-src 'none'" in page.headers["content-security-policy"]

    def test_says_so_when_nothing_is_registered(self, diarium):
        assert "Inga brev registrerade ännu." in diarium.get("/").text


class TestSharedKey:
    def test_the_demo_key_is_made_once_and_only_its_owner_may_read_it(self, tmp_path):
        first = shared_secret(tmp_path / "keys")
        assert len(first) >= 40
        assert shared_secret(tmp_path / "keys") == first
        assert oct((tmp_path / "keys" / KEY_FILE_NAME).stat().st_mode & 0o777) == "0o600"
        assert [p.name for p in (tmp_path / "keys").iterdir()] == [KEY_FILE_NAME]

    def test_a_configured_key_wins_and_an_empty_one_is_refused(self, tmp_path):
        assert shared_secret(tmp_path, "vår nyckel") == "vår nyckel".encode()
        with pytest.raises(ValueError, match="tom"):
            shared_secret(tmp_path, "  ")
        assert not list(tmp_path.iterdir())


class TestInTheReferenceInfrastructure:
    def test_runs_beside_the_other_services_and_is_listed(self, reference):
        endpoints = reference.endpoints
        assert f":{reference.settings.diarium_port}/" in endpoints.diarium_page_url
        assert [item.url for item in listings(reference) if item.what == "Diariet (exempel)"] == [
            endpoints.diarium_page_url
        ]
        body = json.dumps(letter()).encode()
        headers = signed(body, key=reference.settings.diarium_key(), at=dt.datetime.now(dt.UTC))
        answer = httpx2.post(endpoints.diarium_url, content=body, headers=headers, timeout=10)
        assert answer.status_code == 200
        year = dt.datetime.now(dt.UTC).year
        assert answer.json()["registration_number"].startswith(f"KS {year}/")
        assert "Diariet (exempel)" in httpx2.get(endpoints.diarium_page_url, timeout=10).text
