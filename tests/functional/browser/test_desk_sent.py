"""Skickat and the letter's page in headless Chromium.

Against Utskick as `make run` starts it (`embedded`): letters come in through the demo API as
from a case system; the officer of Socialtjänsten finds them by case number and by recipient
and follows one to delivery; the officer of Samhällsbyggnad and Grannkommun's officer cannot
see them, not even by their URL; the registrator finds them but cannot cancel.

Against an app of its own (uvicorn over SQLite, no workers), the test moves a letter itself,
so that the page is seen to follow it live, and an officer cancels one.
"""

import base64
import datetime as dt
import re
import uuid
from pathlib import Path

import httpx2
import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from functional.browser.live_server import serving
from support.world import EXEMPELKOMMUN, sender_organisation
from utskick.db.engine import create_database_engine
from utskick.entrypoints.app import create_app
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.letters import events, vocabulary
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter
from utskick.letters.service import LetterService
from utskick.migrations import migrate
from utskick.senders.models import SendingSystem
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings
from utskick.web.users import create_user

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
SOCIAL = "Socialtjänsten"
DELIVERY_SECONDS = 60


def unique_case_number(prefix="SN"):
    return f"{prefix} 2026/{uuid.uuid4().hex[:8].upper()}"


def send_through_the_api(embedded, **fields):
    """A letter from the demo sending system, as a case system hands it over; returns its id."""
    key = (embedded.home / "demo-api-key").read_text(encoding="utf-8").strip()
    letter = {
        "sender": "202100-4748",
        "department": SOCIAL,
        "recipient": "19121212-1212",
        "subject": "Beslut om försörjningsstöd",
        "body": "Hej Tolvan!\n\nHär kommer beslutet i ditt ärende.",
        "message_type": "beslut",
        **fields,
    }
    answer = httpx2.post(
        f"{embedded.base_url}/api/v1/letters", json=letter, headers={"X-API-Key": key}, timeout=30
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def log_in(page, base_url, username, password):
    page.goto(f"{base_url}/logga-in?next=/brev")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Skickat", exact=True)).to_be_visible()


def search(page, **fields):
    """Fill the search form's fields (by their labels) afresh and search."""
    page.get_by_role("link", name="Rensa").click()
    for label, value in fields.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Sök").click()


def result_rows(page):
    return page.locator("table.letters tbody tr")


def csrf_token(page):
    return page.locator('input[name="csrf_token"]').first.get_attribute("value")


class TestEmbedded:
    def test_an_officer_finds_a_letter_by_case_number_and_recipient_and_follows_it(
        self, embedded, new_page
    ):
        page = new_page()
        log_in(page, embedded.base_url, "handlaggare", embedded.passwords["handlaggare"])
        case_number = unique_case_number()
        subject = f"Beslut i ärende {case_number}"
        pdf = base64.b64encode(minimal_pdf(3000)).decode("ascii")
        letter_id = send_through_the_api(
            embedded,
            subject=subject,
            case_number=case_number,
            attachments=[{"filename": "beslut.pdf", "content_base64": pdf}],
        )

        page.goto(f"{embedded.base_url}/brev/{letter_id}")
        expect(page.get_by_role("heading", name=subject)).to_be_visible()
        expect(page.locator("#lage")).to_have_text(
            "levererat digitalt", timeout=DELIVERY_SECONDS * 1000
        )
        timeline = page.locator("#handelser")
        expect(timeline).to_contain_text("levererat digitalt")
        expect(timeline).to_contain_text("Demo (API)")
        expect(page.locator("#kanal")).to_have_text("digitalt")
        expect(page.locator("#operator")).to_contain_text("Brevlåda Syd")

        to_bertil = f"Kallelse till möte {case_number}"
        send_through_the_api(
            embedded,
            recipient="19750101-2475",
            subject=to_bertil,
            case_number=f"{case_number}-2",
            message_type="kallelse",
        )

        page.get_by_role("link", name="Skickat", exact=True).click()
        search(page, Diarienummer=case_number)
        expect(result_rows(page)).to_have_count(2)  # the case number and its "-2"
        expect(result_rows(page).filter(has_text=subject)).to_contain_text("levererat digitalt")
        expect(result_rows(page).filter(has_text=to_bertil)).to_contain_text("19750101-2475")
        search(page, Diarienummer=f"{case_number}-2")
        expect(result_rows(page)).to_have_count(1)
        search(page, Mottagare="121212-1212")
        expect(page.get_by_text("Söker både 20121212-1212 och 19121212-1212")).to_be_visible()
        # The form is posted; the results' address carries the number sealed, not as typed.
        assert "mottagare-ref=" in page.url
        assert "1212" not in page.url.split("mottagare-ref=")[0]
        assert "121212" not in page.url
        expect(result_rows(page).filter(has_text=subject)).to_have_count(1)
        expect(result_rows(page).filter(has_text=to_bertil)).to_have_count(0)
        page.get_by_role("link", name="Rensa").click()
        expect(result_rows(page).filter(has_text=to_bertil)).to_have_count(1)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "desk-sent.png"), full_page=True)

        result_rows(page).filter(has_text=subject).get_by_role("link", name=subject).click()
        expect(page.get_by_role("heading", name=subject)).to_be_visible()
        expect(page.locator("body")).to_contain_text("Exempelkommun (202100-4748)")
        expect(page.locator("table.attachments")).to_contain_text("beslut.pdf")
        expect(page.locator("#innehall-borttaget")).to_contain_text("togs bort efter leveransen")
        page.screenshot(path=str(SCREENSHOTS / "desk-letter.png"), full_page=True)

    @pytest.mark.parametrize("username", ["bygglov", "granne"])
    def test_another_department_or_municipality_cannot_find_or_open_it(
        self, embedded, new_page, username
    ):
        case_number = unique_case_number()
        letter_id = send_through_the_api(
            embedded, subject="Bara för Socialtjänsten", case_number=case_number
        )
        page = new_page()
        log_in(page, embedded.base_url, username, embedded.passwords[username])

        search(page, Diarienummer=case_number)
        expect(page.get_by_text("Inga brev matchar sökningen")).to_be_visible()
        answer = page.goto(f"{embedded.base_url}/brev/{letter_id}")
        assert answer.status == 404
        expect(page.get_by_role("heading", name="Brevet finns inte")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("Bara för Socialtjänsten")
        status = page.request.get(f"{embedded.base_url}/brev/{letter_id}/status")
        assert status.status == 404
        assert "Bara för Socialtjänsten" not in status.text()

    def test_a_registrator_finds_it_but_cannot_cancel(self, embedded, new_page):
        case_number = unique_case_number()
        letter_id = send_through_the_api(embedded, subject="För diariet", case_number=case_number)
        page = new_page()
        log_in(page, embedded.base_url, "registrator", embedded.passwords["registrator"])

        search(page, Diarienummer=case_number)
        expect(result_rows(page)).to_have_count(1)
        result_rows(page).get_by_role("link", name="För diariet").click()
        expect(page.get_by_role("heading", name="För diariet")).to_be_visible()
        expect(page.get_by_role("button", name="Makulera brevet")).to_have_count(0)
        refused = page.request.post(
            f"{embedded.base_url}/brev/{letter_id}/makulera",
            form={"csrf_token": csrf_token(page)},
        )
        assert refused.status == 403

    def test_management_has_no_skickat(self, embedded, new_page):
        page = new_page()
        page.goto(f"{embedded.base_url}/logga-in")
        page.get_by_label("Användarnamn").fill("ledning")
        page.get_by_label("Lösenord").fill(embedded.passwords["ledning"])
        page.get_by_role("button", name="Logga in").click()
        expect(page.get_by_role("navigation", name="Meny")).not_to_contain_text("Skickat")

        answer = page.goto(f"{embedded.base_url}/brev")

        assert answer.status == 403


# --- an app of its own: the test moves the letter, the page follows -------------------------

PASSWORD = "rätt-lösenord-1"
NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def own_app(tmp_path):
    """The app over a fresh database with an officer of Socialtjänsten and a case system."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'utskick.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        session.add(sender_organisation(EXEMPELKOMMUN))
        session.flush()
        system = create_sending_system(
            session, name="Ärendesystemet", sender_numbers=[EXEMPELKOMMUN], now=NOW
        )
        create_user(
            session,
            username="hans",
            password=PASSWORD,
            role="officer",
            now=NOW,
            organisation=EXEMPELKOMMUN,
            department=SOCIAL,
        )
        session.commit()
        system_id = system.id
    settings = Settings(home=tmp_path, fallback_after_seconds=3600)

    def accept(subject):
        with Session(engine) as session:
            letter, _ = LetterService(session, settings).accept(
                session.get(SendingSystem, system_id),
                LetterInput(
                    sender="202100-4748",
                    recipient="19121212-1212",
                    subject=subject,
                    body="Hej!",
                    protection_class=2,
                    department=SOCIAL,
                ),
                actor="api:Ärendesystemet",
            )
            session.commit()
            return letter.id

    def move(letter_id, state, **fields):
        with Session(engine) as session:
            events.record(
                session,
                session.get(Letter, letter_id),
                state,
                actor="worker:1",
                now=dt.datetime.now(dt.UTC),
                **fields,
            )
            session.commit()

    with serving(create_app(settings, engine)) as base_url:
        yield base_url, accept, move
    engine.dispose()


def test_the_letters_page_follows_it_live_until_it_is_delivered(own_app, new_page):
    base_url, accept, move = own_app
    letter_id = accept("Följs live")
    page = new_page()
    page.goto(f"{base_url}/logga-in?next=/brev/{letter_id}")
    page.get_by_label("Användarnamn").fill("hans")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.locator("#lage")).to_have_text("mottaget")
    expect(page.get_by_role("button", name="Makulera brevet")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    move(
        letter_id,
        vocabulary.CLASSIFIED,
        reason=vocabulary.REACHABLE,
        channel="digital",
        detail=vocabulary.text_for(vocabulary.REACHABLE),
        data={"operator_name": "Brevlåda Syd"},
    )
    expect(page.locator("#lage")).to_have_text("kanal vald")
    expect(page.locator("#kanal")).to_have_text("digitalt")
    move(letter_id, vocabulary.DELIVERED, channel="digital")

    expect(page.locator("#lage")).to_have_text("levererat digitalt")
    expect(page.locator("#handelser tr")).to_have_count(3)
    expect(page.locator("#foljs")).to_have_text("Brevet har nått sitt slutläge.")
    expect(page.get_by_role("button", name="Makulera brevet")).to_have_count(0)
    assert page.locator("#brev-lage").get_attribute("aria-live") == "polite"
    assert page.evaluate("window.notReloaded") is True


def test_an_officer_cancels_a_letter_from_its_page_with_the_keyboard(own_app, new_page):
    base_url, accept, _ = own_app
    letter_id = accept("Ska inte skickas")
    page = new_page()
    page.goto(f"{base_url}/logga-in?next=/brev/{letter_id}")
    page.get_by_label("Användarnamn").fill("hans")
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()

    page.get_by_role("button", name="Makulera brevet").focus()
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_have_text(
        "Brevet är makulerat. Inget skickades till mottagaren."
    )
    expect(page.locator("#lage")).to_have_text("makulerat")
    expect(page.locator("#handelser")).to_contain_text("hans (webben)")
    assert re.search(rf"/brev/{letter_id}\?makulerat=1$", page.url)
