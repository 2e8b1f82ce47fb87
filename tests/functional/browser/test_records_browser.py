"""The registrator's day in headless Chromium, against Utskick as `make run` starts it.

Letters come in through the demo API as from a case system: one to Tolvan, delivered
digitally, and one to Eva, whose identity is protected. The registrator finds both on
Skickat (Eva masked), opens Tolvan's letter as a record, places a hold on it and produces it
for disclosure (a PDF download). The administrator then finds those accesses in the access
log.
"""

import io
import time
import uuid
from pathlib import Path

import httpx2
from playwright.sync_api import expect
from pypdf import PdfReader

from functional.browser.test_desk_sent import result_rows, search, send_through_the_api

DELIVERY_SECONDS = 60
EVA_TYPED = "19851230-4166"


def log_in(page, embedded, username, heading):
    page.goto(f"{embedded.base_url}/logga-in?next=/arkiv")
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(embedded.passwords[username])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def wait_until_ended(embedded, letter_id):
    """Until the letter has gone out (the record is made when it ends)."""
    key = (embedded.home / "demo-api-key").read_text(encoding="utf-8").strip()
    deadline = time.monotonic() + DELIVERY_SECONDS
    while time.monotonic() < deadline:
        letter = httpx2.get(f"{embedded.base_url}/api/v1/letters/{letter_id}",
                           headers={"X-API-Key": key}, timeout=10).json()  # fmt: skip
        if letter["state"] in {"delivered", "handed_to_print", "printed"}:
            return letter["state"]
        time.sleep(0.5)
    raise AssertionError(f"the letter {letter_id} did not go out in {DELIVERY_SECONDS} s")


def test_a_registrator_searches_opens_a_record_and_produces_it_for_disclosure(embedded, new_page):
    case_number = f"KS 2026/{uuid.uuid4().hex[:8].upper()}"
    subject = f"Beslut om bygglov {case_number}"
    letter_id = send_through_the_api(embedded, subject=subject, case_number=case_number)
    send_through_the_api(embedded, recipient=EVA_TYPED, subject=f"Kallelse {case_number}",
                         case_number=f"{case_number}-2", message_type="kallelse")  # fmt: skip
    wait_until_ended(embedded, letter_id)
    page = new_page()
    log_in(page, embedded, "registrator", "Arkiv")
    expect(page.locator("#regler")).to_contain_text("diarieförs")

    page.get_by_role("link", name="Skickat", exact=True).first.click()
    search(page, Diarienummer=case_number)
    expect(result_rows(page)).to_have_count(2)
    expect(result_rows(page).filter(has_text="Kallelse")).to_contain_text("Skyddad identitet")
    expect(page.locator("table.letters")).not_to_contain_text(EVA_TYPED)
    result_rows(page).get_by_role("link", name=subject).click()
    page.get_by_role("link", name="Arkivuppgifter och utlämnande").click()

    expect(page.get_by_role("heading", name=subject)).to_be_visible()
    expect(page.locator("#handling")).to_contain_text("diarieförs")
    expect(page.locator("#brevet")).to_contain_text("19121212-1212")
    expect(page.locator("#handelser")).to_contain_text("levererat digitalt")
    expect(page.locator("#markering")).to_contain_text("Sekretess kan gälla")

    page.get_by_label("Skäl till spärren").fill("Begäran om utlämnande prövas")
    page.get_by_role("button", name="Spärra brevet").click()
    expect(page.get_by_role("status")).to_contain_text("Spärren är lagd")
    expect(page.locator("#sparrar")).to_contain_text("Begäran om utlämnande prövas")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Ta fram för utlämnande").click()
    download = download_info.value
    pdf = Path(download.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert download.suggested_filename == f"utlamnande-{letter_id}.pdf"
    text = "\n".join(pdf_page.extract_text() for pdf_page in PdfReader(io.BytesIO(pdf)).pages)
    assert "Sekretess kan gälla" in text

    page.get_by_role("button", name="Häv").click()
    expect(page.get_by_role("status")).to_contain_text("Spärren är hävd")

    admin = new_page()
    log_in(admin, embedded, "admin", "Arkiv")
    admin.get_by_role("navigation", name="Meny").get_by_role("link", name="Åtkomstlogg").click()
    admin.get_by_label("Användare").fill("registrator")
    admin.get_by_label("Brevets id").fill(letter_id)
    admin.get_by_role("button", name="Sök").click()
    log = admin.locator("#logg")
    expect(log).to_contain_text("utlämnande")
    expect(log).to_contain_text("öppnade brev")
    admin.get_by_label("Brevets id").fill("")
    admin.get_by_label("Handling").select_option("search")
    admin.get_by_role("button", name="Sök").click()
    expect(admin.locator("#logg")).to_contain_text(f"diarienummer: {case_number}")
