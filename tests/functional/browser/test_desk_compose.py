"""Nytt brev in headless Chromium, against Utskick as `make run` starts it (`embedded`).

An officer of Socialtjänsten at Exempelkommun types a personnummer and sees where the letter
will go; writes, attaches a PDF (dropped, or chosen) and sends. Tolvan's letter reaches his
mailbox at Brevlåda Syd (delivered by the server's workers over the reference's mutual TLS);
Bertil, who opted out of Exempelkommun, gets his on Socialtjänsten's exception list. The same
letter can be written and sent with the keyboard alone. Each test sends letters of its own.
"""

import io
import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.db.engine import create_database_engine
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters.models import Letter
from utskick.printing.models import PrintItem
from utskick.senders.models import SendingSystem

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOT = ROOT / "docs" / "screenshots" / "desk-new-letter.png"
EXAMPLE_PDF = ROOT / "docs" / "examples" / "beslut.pdf"
DELIVERY_SECONDS = 45
ESERVICE = "https://exempelkommun.se/e-tjanster/boka-om-mote"
SOCIAL = "Socialtjänsten"
EXEMPELKOMMUN = "2021004748"
# Collects the Content-Security-Policy violations of the page (the init script runs outside it).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""
POST_THE_FORM = """async (url) => {
  const form = document.getElementById("brev");
  const token = form.elements.namedItem("csrf_token").value;
  const answer = await fetch(url, { method: "POST", body: new FormData(form),
                                    headers: { "X-CSRF-Token": token } });
  return Array.from(new Uint8Array(await answer.arrayBuffer()));
}"""
DROP_FILE = """([name, bytes]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "application/pdf" }));
  return transfer;
}"""


def unique(text):
    return f"{text} {uuid.uuid4().hex[:6]}"


def open_compose(page, embedded, username="handlaggare"):
    page.context.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{embedded.base_url}/brev/nytt")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(embedded.passwords[username])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Nytt brev")).to_be_visible()
    # The page's scripts have run once the number check is there and the letter is measured
    # (the server's own line says "Brevet får vara", the script's "Brevet blir").
    page.wait_for_function(
        "() => window.UtskickIdentitet !== undefined"
        " && document.getElementById('storlek').textContent.startsWith('Brevet blir')"
    )


def recipient(page):
    return page.get_by_label("Mottagare", exact=True)


def outlook(page):
    return page.locator("#mottagare-utfall")


def write(page, subject, body):
    page.get_by_label("Meddelandetyp").select_option("beslut")
    page.get_by_label("Ämne", exact=True).fill(subject)
    page.get_by_label("Text", exact=True).fill(body)


def drop_pdf(page, path):
    """Drop a PDF on the page's drop zone, as a file dragged from the desktop."""
    transfer = page.evaluate_handle(DROP_FILE, [path.name, list(path.read_bytes())])
    page.locator("#slapp-yta").dispatch_event("drop", {"dataTransfer": transfer})


def sent_letter_id(page):
    """The id of the letter the page was sent to after sending (`/brev/{id}?skickat=1`)."""
    page.wait_for_url(re.compile(r"/brev/[0-9a-f-]{36}\?skickat=1$"), timeout=30_000)
    return re.search(r"/brev/([0-9a-f-]{36})\?skickat=1$", page.url).group(1)


def stored_letter(embedded, letter_id):
    """The letter as the running server stored it: (letter, its sending system's name)."""
    engine = create_database_engine(f"sqlite:///{embedded.home / 'utskick.db'}")
    try:
        with Session(engine) as session:
            letter = session.get(Letter, letter_id)
            assert letter.attachments is not None  # loaded before the session closes
            session.expunge(letter)
            system = session.get(SendingSystem, letter.sending_system_id).name
            item = session.scalar(select(PrintItem).where(PrintItem.letter_id == letter_id))
            return letter, system, item.batch_id if item is not None else None
    finally:
        engine.dispose()


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"{what} within {seconds} s")


def log_in_to_the_mailbox(page, url, name):
    page.goto(url)
    page.get_by_role("button", name=f"Logga in som {name}").click()
    expect(page.get_by_text(f"Inloggad som {name}")).to_be_visible()


def test_a_letter_to_tolvan_with_a_dropped_pdf_reaches_his_mailbox(embedded, new_page):
    subject = unique("Beslut om färdtjänst")
    page = new_page()
    open_compose(page, embedded)
    asked = []
    page.on("request", lambda request: asked.append(request)
            if "/brev/nytt/mottagare" in request.url else None)  # fmt: skip
    recipient(page).press_sequentially("19121212-1212", delay=20)
    expect(page.get_by_text("Personnummer 19121212-1212: kontrollsiffran stämmer.")).to_be_visible()
    expect(outlook(page)).to_have_text("Går digitalt till Brevlåda Syd AB", timeout=20_000)
    # The number is posted, never put in a URL (URLs stand in every access log).
    assert asked
    for request in asked:
        assert request.method == "POST"
        assert request.url == f"{embedded.base_url}/brev/nytt/mottagare"
        assert request.post_data_json == {"nummer": "19121212-1212"}
    write(page, subject, "Hej Tolvan!\n\nDu har beviljats färdtjänst från och med 1 december.")
    expect(page.locator("#skyddsklass")).to_have_text(
        "Skyddsklass 2: brevet får skickas via Mina meddelanden."
    )
    drop_pdf(page, EXAMPLE_PDF)
    attachments = page.get_by_role("list", name="Valda bilagor").get_by_role("listitem")
    expect(attachments).to_have_count(1)
    expect(attachments).to_contain_text("beslut.pdf")
    expect(attachments).to_contain_text("3 kB")
    expect(page.locator("#storlek")).to_have_text(
        re.compile(r"Brevet blir ca \d+ kB av högst 2\s048 kB")
    )
    view = page.get_by_role("region", name="Så ser mottagaren brevet")
    expect(view.get_by_role("heading", name=subject)).to_be_visible()
    expect(view).to_contain_text("Du har beviljats färdtjänst")
    expect(view).to_contain_text("beslut.pdf")
    assert page.evaluate("window.__violations") == []
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.get_by_role("button", name="Skicka brevet").click()
    letter_id = sent_letter_id(page)
    letter, system, _ = stored_letter(embedded, letter_id)
    assert (letter.sender_number, letter.department, letter.subject) == (
        EXEMPELKOMMUN,
        SOCIAL,
        subject,
    )
    assert system == "Handläggarwebben Exempelkommun"

    mailbox = new_page()
    log_in_to_the_mailbox(mailbox, embedded.mailbox_url("syd"), "Tolvan Tolvansson")

    def arrived():
        mailbox.reload()
        return mailbox.get_by_role("link", name=subject).count() == 1

    wait_for(arrived, DELIVERY_SECONDS, "the letter did not reach Tolvan's mailbox")
    expect(mailbox.get_by_role("row").filter(has_text=subject)).to_contain_text("Exempelkommun")
    mailbox.get_by_role("link", name=subject).click()
    expect(
        mailbox.get_by_text("Du har beviljats färdtjänst från och med 1 december.")
    ).to_be_visible()
    expect(mailbox.get_by_role("link", name="beslut.pdf")).to_be_visible()


def test_a_letter_to_bertil_is_printed_on_socialtjanstens_exception_list(embedded, new_page):
    subject = unique("Kallelse till möte")
    page = new_page()
    open_compose(page, embedded)
    recipient(page).press_sequentially("19750101-2475", delay=20)
    expect(outlook(page)).to_have_text(
        "Skrivs ut: mottagaren tar inte emot digital post från Exempelkommun", timeout=20_000
    )
    write(page, subject, "Hej Bertil!\n\nDu är välkommen på möte den 3 december kl. 10.")
    page.get_by_label("Länk till e-tjänst (valfritt)").fill(ESERVICE)
    page.get_by_label("Välj PDF-filer").set_input_files(EXAMPLE_PDF)
    expect(page.get_by_role("list", name="Valda bilagor")).to_contain_text("beslut.pdf")

    # The printed letter opens in a new tab: the real PDF, with the register's address. The
    # tab's PDF viewer keeps the answer's body to itself, so the page's form is posted again
    # from the page to read it.
    posted = []
    page.context.on("request", lambda request: posted.append(request)
                    if request.url.endswith("/brev/nytt/forhandsvisning") else None)  # fmt: skip
    with page.expect_popup() as tab:
        page.get_by_role("button", name="Förhandsgranska utskriften (PDF)").click()
    tab.value.wait_for_load_state()
    [request] = posted
    assert request.method == "POST"
    assert request.response().headers["content-type"] == "application/pdf"
    pdf = bytes(page.evaluate(POST_THE_FORM, "/brev/nytt/forhandsvisning"))
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 2  # the letter, then the attachment
    assert "Bertil Bengtsson" in pages[0].extract_text()
    assert subject in pages[0].extract_text()
    assert f"E-tjänst: {ESERVICE}" in pages[0].extract_text()
    tab.value.close()

    page.get_by_role("button", name="Skicka brevet").click()
    letter_id = sent_letter_id(page)

    def batch_of_the_letter():
        return stored_letter(embedded, letter_id)[2]

    batch_id = wait_for(batch_of_the_letter, DELIVERY_SECONDS, "the letter was not batched")
    page.goto(f"{embedded.base_url}/utskrift")
    expect(page.get_by_role("table", name="Utskriftsbatcher")).to_contain_text("undantagslista")
    page.get_by_role("link", name=batch_id[:8]).click()
    row = (
        page.get_by_role("table", name="Brev i batchen").get_by_role("row").filter(has_text=subject)
    )
    expect(row).to_have_count(1)


def test_a_letter_with_attachments_over_1_mb_is_previewed_and_sent(embedded, new_page, tmp_path):
    # A form over 1 MiB carries its CSRF token in a header, which only the page's script adds.
    large = tmp_path / "utredning.pdf"
    large.write_bytes(minimal_pdf(1_200_000))
    subject = unique("Utredning")
    page = new_page()
    open_compose(page, embedded)
    recipient(page).fill("19750101-2475")
    write(page, subject, "Här kommer utredningen.")
    page.get_by_label("Välj PDF-filer").set_input_files(large)
    expect(page.get_by_role("list", name="Valda bilagor")).to_contain_text(re.compile(r"1\s172 kB"))
    with page.expect_download() as download:
        page.get_by_role("button", name="Förhandsgranska utskriften (PDF)").click()
    pdf = Path(download.value.path()).read_bytes()
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2
    expect(page.get_by_role("status")).to_contain_text("laddades ned som forhandsvisning.pdf")

    page.get_by_role("button", name="Skicka brevet").click()
    letter, _, _ = stored_letter(embedded, sent_letter_id(page))
    assert [(a.filename, a.size) for a in letter.attachments] == [
        ("utredning.pdf", large.stat().st_size)
    ]


def tab_to(page, element_id, limit=40):
    """Press Tab until the element with this id has the focus."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    pytest.fail(f"#{element_id} was not reached with Tab")


def test_a_letter_is_written_and_sent_with_the_keyboard_alone(embedded, new_page):
    subject = unique("Beslut om parkeringstillstånd")
    case_number = unique("SOC 2026/")
    page = new_page()
    open_compose(page, embedded)
    tab_to(page, "mottagare")
    page.keyboard.type("19121212-1212")
    expect(outlook(page)).to_have_text("Går digitalt till Brevlåda Syd AB", timeout=20_000)
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Meddelandetyp")).to_have_value("beslut")
    page.keyboard.press("Tab")
    page.keyboard.type(subject)
    page.keyboard.press("Tab")
    page.keyboard.type("Hej!\nDitt tillstånd gäller i ett år.")
    tab_to(page, "bilagor")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(EXAMPLE_PDF)
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # båda → digitalt
    expect(page.get_by_label("Hur beslut.pdf skickas")).to_have_value("digital")
    tab_to(page, "etjanst")
    page.keyboard.type("https://exempelkommun.se/overklaga")
    page.keyboard.press("Tab")
    page.keyboard.type(case_number)
    tab_to(page, "kontakt")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.type("hans.handlaggare@exempelkommun.test")
    view = page.get_by_role("region", name="Så ser mottagaren brevet")
    expect(view.locator("footer")).to_contain_text(
        "Kontakta Hans Handläggare, Socialtjänsten, Exempelkommun."
    )
    expect(view.locator("footer")).to_contain_text("E-post: hans.handlaggare@exempelkommun.test")
    expect(view.locator("#fv-text")).not_to_contain_text("Kontakta Hans Handläggare")
    tab_to(page, "skicka")
    page.keyboard.press("Enter")

    letter, _, _ = stored_letter(embedded, sent_letter_id(page))
    assert (letter.subject, letter.case_number) == (subject, case_number)
    assert letter.eservice_url == "https://exempelkommun.se/overklaga"
    assert [(a.filename, a.channel) for a in letter.attachments] == [("beslut.pdf", "digital")]
    assert letter.support_text == (
        "Har du frågor om brevet? Kontakta Hans Handläggare, Socialtjänsten, Exempelkommun.\n"
        "E-post: hans.handlaggare@exempelkommun.test"
    )
    assert letter.body == "Hej!\nDitt tillstånd gäller i ett år."


def test_a_refusal_is_shown_beside_its_field_and_nothing_typed_is_lost(embedded, new_page):
    case_number = unique("SOC 2026/")
    page = new_page()
    open_compose(page, embedded)
    recipient(page).fill("19121212-1212")
    page.get_by_label("Meddelandetyp").select_option("beslut")
    page.get_by_label("Text", exact=True).fill("Brevet saknar ämne.")
    page.get_by_label("Diarienummer (valfritt)").fill(case_number)
    drop_pdf(page, EXAMPLE_PDF)
    page.get_by_role("button", name="Skicka brevet").click()

    summary = page.get_by_role("alert").filter(has_text="Brevet skickades inte")
    expect(summary).to_be_focused()
    expect(page.locator("#fel-subject")).to_have_text("Ämnesraden är tom; skriv vad brevet gäller")
    expect(page.get_by_label("Ämne", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(recipient(page)).to_have_value("19121212-1212")
    expect(page.get_by_label("Diarienummer (valfritt)")).to_have_value(case_number)
    expect(page.get_by_role("list", name="Valda bilagor")).to_contain_text("beslut.pdf")
    summary.get_by_role("link").click()
    expect(page.get_by_label("Ämne", exact=True)).to_be_focused()
    assert page.url.endswith("/brev/nytt")


CASES = (
    "19121212-1212", "121212+1212", "121212-1212", "19121212-1213", "191212121212",
    "202100-4748", "16202100-4748", "2021004748", "202100+4748", "19700163-2392", "700163-2392",
    "19121212+1212", "191212-12121", "1912-12121212", "19-121212-1212", "abc", "", "   ",
    "19991301-0000", "20991231-1234", "12121212-1212", "190002291239", "200002291231",
    "192100-4748", "19121212 1212", "1912121212123",
)  # fmt: skip


def test_the_pages_number_check_gives_the_servers_answer(embedded, new_page):
    page = new_page()
    open_compose(page, embedded)
    for typed in CASES:
        shown = page.evaluate("(typed) => window.UtskickIdentitet.parse(typed)", typed)
        assert shown == servers_answer(typed), typed


def servers_answer(typed):
    """What utskick.identity says of the number, in the form the page's check gives it."""
    try:
        identity = parse_identity(typed)
    except InvalidIdentityError as error:
        return {"ok": False, "problem": error.problem}
    return {"ok": True, "value": identity.value, "kind": identity.kind.value,
            "display": identity.display}  # fmt: skip
