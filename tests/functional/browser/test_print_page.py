"""The exception list page `/utskrift` in headless Chromium, served by uvicorn over SQLite.

Exempelkommun's Socialtjänsten prints its own paper letters: today's exception list holds
letters to Anna, Bertil and a person with protected identity. An officer of Socialtjänsten
logs in, opens the list, closes it, downloads the PDF and marks every letter printed.
Grannkommun's Socialtjänsten has a list of its own, which neither side sees of the other.
"""

import io
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from functional.browser.live_server import serving
from functional.print_letters import (
    BYGG,
    NEIGHBOUR_SEEDED,
    SECRET_STREET,
    SOCIAL,
    VENDOR,
    letter_states,
    new_database,
    seed_batches,
    seed_neighbour_batch,
)
from utskick.entrypoints.app import create_app
from utskick.settings import PrintVendor, Settings

SCREENSHOT = (
    Path(__file__).resolve().parents[3] / "docs" / "screenshots" / "print-exception-list.png"
)
PASSWORD = "rätt-lösenord-1"
SUBJECTS = ("Beslut om försörjningsstöd", "Kallelse till möte", "Beslut om bostadsanpassning")


@pytest.fixture
def server(tmp_path):
    """The app with today's batches on a free loopback port (a fresh database per test)."""
    engine = new_database(tmp_path / "utskick.db", PASSWORD)
    settings = Settings(
        home=tmp_path,
        print_local_departments=[SOCIAL],
        print_vendors=[PrintVendor(name=VENDOR, drop=tmp_path / "drop")],
    )
    letters, batches = seed_batches(engine, settings)
    _neighbour_letters, batches["grannkommun"] = seed_neighbour_batch(engine, settings)
    with serving(create_app(settings, engine)) as base_url:
        yield base_url, engine, letters, batches
    engine.dispose()


def log_in(page, base_url, username):
    page.goto(f"{base_url}/utskrift")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(PASSWORD)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Utskrift", exact=True)).to_be_visible()


def letter_rows(page):
    return page.get_by_role("table", name="Brev i batchen").locator("tbody tr")


def test_an_officer_closes_downloads_and_marks_todays_exception_list(server, new_page):
    base_url, engine, letters, batches = server
    page = new_page()
    log_in(page, base_url, "social")

    batch_table = page.get_by_role("table", name="Utskriftsbatcher")
    expect(batch_table.locator("tbody tr")).to_have_count(1)  # only Socialtjänsten's list
    expect(batch_table).not_to_contain_text(BYGG)
    expect(batch_table).to_contain_text("undantagslista")
    batch_table.get_by_role("link", name=batches[SOCIAL][:8]).click()

    expect(
        page.get_by_role("heading", name=f"Batch {batches[SOCIAL][:8]} – 3 brev")
    ).to_be_visible()
    expect(letter_rows(page)).to_have_count(3)
    for subject in SUBJECTS:
        expect(letter_rows(page).filter(has_text=subject)).to_have_count(1)
    expect(letter_rows(page).filter(has_text="Anna Andersson")).to_contain_text("123 45 Exempelby")
    expect(letter_rows(page).filter(has_text=SUBJECTS[2])).to_contain_text("skyddad identitet")
    expect(page.locator("body")).not_to_contain_text(SECRET_STREET)
    expect(page.get_by_role("button", name="Markera alla som utskrivna")).to_have_count(0)

    page.get_by_role("button", name="Stäng listan").click()
    expect(page.get_by_role("status")).to_have_text("Batchen är stängd.")
    expect(page.get_by_role("button", name="Stäng listan")).to_have_count(0)
    expect(page.get_by_role("table", name="Utskriftsbatcher")).to_contain_text("stängd")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Ladda ned alla brev som en PDF").click()
    pdf = Path(download_info.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF")
    pages = [pdf_page.extract_text() for pdf_page in PdfReader(io.BytesIO(pdf)).pages]
    assert len(pages) == 3
    for subject in SUBJECTS:
        assert sum(subject in text for text in pages) == 1, subject

    page.get_by_role("button", name="Markera alla som utskrivna").click()
    expect(page.get_by_role("status")).to_have_text("3 brev markerade som utskrivna.")
    expect(page.get_by_role("table", name="Utskriftsbatcher")).to_contain_text("utskriven")
    for row in range(3):
        expect(letter_rows(page).nth(row).locator("td").last).not_to_have_text("nej")
    expect(page.get_by_role("button", name="Markera alla som utskrivna")).to_have_count(0)
    ours = [letters[name] for name in ("anna", "bertil", "skyddad")]
    assert set(letter_states(engine, ours).values()) == {"printed"}

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_the_downloaded_list_is_named_for_its_department_and_day(server, new_page):
    base_url, _engine, _letters, batches = server
    page = new_page()
    log_in(page, base_url, "social")
    page.get_by_role("link", name=batches[SOCIAL][:8]).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Ladda ned alla brev som en PDF").click()
    # Named for the list, so that a day's lists can be told apart among the downloads.
    name = download_info.value.suggested_filename
    assert name.startswith("utskrift-Socialtj"), name
    assert name.endswith(f"-{batches[SOCIAL][:8]}.pdf"), name


def test_an_officer_of_a_vendor_department_cannot_close_its_batch(server, new_page):
    base_url, engine, letters, batches = server
    page = new_page()
    log_in(page, base_url, "bygg")
    batch_table = page.get_by_role("table", name="Utskriftsbatcher")
    # The vendor is named "tryckeriet": its name once, and what it is.
    expect(batch_table.locator("tbody tr").first.locator("td").nth(1)).to_have_text(
        f"{VENDOR} (leverantör)"
    )
    expect(page.locator("body")).not_to_contain_text(f"{VENDOR} {VENDOR}")
    page.get_by_role("link", name=batches[BYGG][:8]).click()
    expect(page.get_by_role("heading", name=f"Batch {batches[BYGG][:8]} – 2 brev")).to_be_visible()
    expect(page.get_by_role("button", name="Stäng och lämna till tryckeriet")).to_have_count(0)
    expect(page.get_by_role("button", name="Stäng listan")).to_have_count(0)
    expect(page.get_by_role("table", name="Utskriftsbatcher")).not_to_contain_text(SOCIAL)
    assert set(letter_states(engine, [letters["cecilia"]]).values()) == {"batched"}


def test_grannkommuns_officer_sees_only_grannkommuns_list(server, new_page):
    base_url, _engine, _letters, batches = server
    ours, theirs = batches["grannkommun"], batches[SOCIAL]
    page = new_page()
    log_in(page, base_url, "granne")

    batch_table = page.get_by_role("table", name="Utskriftsbatcher")
    expect(batch_table.locator("tbody tr")).to_have_count(1)
    expect(batch_table.get_by_role("link", name=ours[:8])).to_be_visible()
    expect(batch_table).not_to_contain_text(theirs[:8])
    batch_table.get_by_role("link", name=ours[:8]).click()
    expect(page.get_by_role("heading", name=f"Batch {ours[:8]} – 2 brev")).to_be_visible()
    for _name, _recipient, subject, _case in NEIGHBOUR_SEEDED:
        expect(letter_rows(page).filter(has_text=subject)).to_have_count(1)

    # Exempelkommun's Socialtjänsten by direct URL: not found, as if there were no such list.
    answer = page.goto(f"{base_url}/utskrift?batch={theirs}")
    assert answer.status == 404
    expect(page.get_by_role("alert")).to_contain_text(f"Det finns ingen utskriftsbatch {theirs}")
    expect(page.get_by_role("table", name="Brev i batchen")).to_have_count(0)
    for subject in SUBJECTS:
        expect(page.locator("body")).not_to_contain_text(subject)
    expect(page.get_by_role("table", name="Utskriftsbatcher").locator("tbody tr")).to_have_count(1)
    for path in (f"/api/v1/print/batches/{theirs}/pdf", f"/api/v1/print/batches/{theirs}"):
        assert page.request.get(base_url + path).status == 404


def test_the_admin_sees_both_municipalities_lists_by_organisation(server, new_page):
    base_url, _engine, _letters, batches = server
    page = new_page()
    log_in(page, base_url, "tryckrum")
    rows = page.get_by_role("table", name="Utskriftsbatcher").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.filter(has_text=batches["grannkommun"][:8])).to_contain_text("Grannkommun")
    expect(rows.filter(has_text=batches[SOCIAL][:8])).to_contain_text("Exempelkommun")
    expect(rows.filter(has_text="undantagslista")).to_have_count(2)
