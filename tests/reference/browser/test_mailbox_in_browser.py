"""The citizen mailbox in headless Chromium, against the whole running reference infrastructure.

Letters arrive over real mutual TLS (signed and sealed as Exempelkommun); FaR is asked over
its SOAP service. Tests that change a mailbox register a fresh person through the UI first,
so the demo world's states stay as other tests expect them.
"""

import re
import uuid
from urllib.parse import urljoin

import pytest
from playwright.sync_api import expect

from support.reference_mailbox import deliver_letter
from support.world import IDA, fresh_personnummer
from utskick.reference.far.client import far_client_for
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN

BANNER = "TESTLÄGE – simulerad e-legitimation, inga riktiga uppgifter"


@pytest.fixture(scope="module")
def sender_client(mtls_client):
    return mtls_client(EXEMPELKOMMUN)


def ui_url(reference, operator_key="syd"):
    return reference.endpoints.operators[operator_key].ui_url


def log_in_as_demo_person(page, url, name):
    page.goto(url)
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    page.get_by_role("button", name=f"Logga in som {name}").click()
    expect(page.get_by_text(f"Inloggad som {name}")).to_be_visible()


def register_fresh_person(page, url):
    """Log in with a typed personnummer and open a mailbox through the UI; the person's id."""
    person_id = fresh_personnummer()
    page.goto(url)
    page.get_by_label("Personnummer (ÅÅÅÅMMDD-NNNN)").fill(f"{person_id[:8]}-{person_id[8:]}")
    page.get_by_role("button", name="Logga in med testlegitimation").click()
    expect(page.get_by_role("heading", name="Skaffa en digital brevlåda")).to_be_visible()
    page.get_by_label("Jag har läst och godkänner villkoren").check()
    page.get_by_role("button", name="Öppna brevlåda").click()
    expect(page.get_by_role("heading", name="Inkorg")).to_be_visible()
    return person_id


def reachability(reference, sender, person_id):
    with far_client_for(reference, sender) as far:
        [status] = far.is_reachable(sender, [person_id])
    return status


def test_a_test_person_reads_a_delivered_letter_and_opens_its_pdf(
    reference, sender_client, new_page
):
    subject = f"Beslut om förskoleplats {uuid.uuid4().hex[:6]}"
    deliver_letter(
        reference,
        sender_client,
        IDA,
        subject=subject,
        pdf_name="beslut.pdf",
        body="Hej Ida!\n\nDu har fått en plats på Solrosens förskola.",
    )
    page = new_page()
    page.goto(ui_url(reference))
    expect(page.get_by_text(BANNER)).to_be_visible()
    log_in_as_demo_person(page, ui_url(reference), "Ida Ivarsson")

    row = page.get_by_role("row").filter(has_text=subject)
    expect(row).to_contain_text("Exempelkommun")
    expect(row).to_contain_text("Oläst")
    assert row.locator("td").first.evaluate("cell => getComputedStyle(cell).fontWeight") == "700"
    expect(page.get_by_text(BANNER)).to_be_visible()

    row.get_by_role("link", name=subject).click()
    expect(page.get_by_role("heading", name=subject)).to_be_visible()
    expect(page.get_by_text("Du har fått en plats på Solrosens förskola.")).to_be_visible()
    expect(page.get_by_text("kommunens kontaktcenter")).to_be_visible()

    link = page.get_by_role("link", name="beslut.pdf")
    assert link.get_attribute("target") == "_blank"
    pdf = page.request.get(urljoin(page.url, link.get_attribute("href")))
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline;")
    assert pdf.body().startswith(b"%PDF")

    page.get_by_role("link", name="Till inkorgen").click()
    row = page.get_by_role("row").filter(has_text=subject)
    expect(row).to_contain_text("Läst")
    expect(row).not_to_contain_text("Oläst")


def test_opting_out_of_a_sender_reaches_far_and_opting_in_again_too(reference, new_page):
    page = new_page()
    person_id = register_fresh_person(page, ui_url(reference, "nord"))
    page.get_by_role("link", name="Inställningar").click()
    grannkommun = page.get_by_label("Grannkommun (202100-9903)")
    expect(grannkommun).to_be_checked()

    grannkommun.uncheck()
    page.get_by_role("button", name="Spara avsändare").click()
    expect(page.get_by_text("Valet av avsändare är sparat.")).to_be_visible()
    expect(page.get_by_label("Grannkommun (202100-9903)")).not_to_be_checked()
    assert reachability(reference, GRANNKOMMUN, person_id).sender_accepted is False
    assert reachability(reference, EXEMPELKOMMUN, person_id).sender_accepted is True

    page.get_by_label("Grannkommun (202100-9903)").check()
    page.get_by_role("button", name="Spara avsändare").click()
    expect(page.get_by_text("Valet av avsändare är sparat.")).to_be_visible()
    assert reachability(reference, GRANNKOMMUN, person_id).sender_accepted is True


def test_a_delegate_reads_the_owners_letters_but_cannot_delete_or_change_settings(
    reference, sender_client, new_page
):
    owner_page = new_page()
    owner_id = register_fresh_person(owner_page, ui_url(reference))
    subject = f"Kallelse till möte {uuid.uuid4().hex[:6]}"
    deliver_letter(reference, sender_client, owner_id, subject=subject, pdf_name="kallelse.pdf")
    owner_page.get_by_role("link", name="Inställningar").click()
    owner_page.get_by_label("Ombudets personnummer (ÅÅÅÅMMDD-NNNN)").fill("19930228-1465")
    owner_page.get_by_role("button", name="Ge medgivande").click()
    expect(owner_page.get_by_text("19930228-1465 kan nu läsa brevlådan")).to_be_visible()

    page = new_page()
    log_in_as_demo_person(page, ui_url(reference), "Ida Ivarsson")
    page.get_by_label("Byt brevlåda").select_option(owner_id)
    page.get_by_role("button", name="Öppna", exact=True).click()
    expect(page.get_by_role("navigation", name="Brevlådan")).to_contain_text(
        "som ombud: du kan läsa men inte radera eller ändra"
    )
    expect(page.get_by_role("link", name="Inställningar")).to_have_count(0)
    page.get_by_role("link", name=subject).click()
    expect(page.get_by_role("heading", name=subject)).to_be_visible()
    expect(page.get_by_role("button", name="Radera meddelandet")).to_have_count(0)
    pdf = page.request.get(
        urljoin(page.url, page.get_by_role("link", name="kallelse.pdf").get_attribute("href"))
    )
    assert pdf.body().startswith(b"%PDF")

    # The controls are absent; a hand-made POST with a valid session and token is refused too.
    message_path = re.search(r"/meddelanden/\d+", page.url).group(0)
    token = page.locator('input[name="csrf_token"]').first.input_value()
    base = ui_url(reference)
    for path, form in (
        (f"{message_path}/radera", {}),
        ("/installningar/avisering", {"epost": "ida@exempel.test", "frekvens": "direkt"}),
        ("/installningar/avsandare", {}),
        ("/installningar/avsluta", {"bekrafta": "ja"}),
    ):
        refused = page.request.post(urljoin(base, path), form={"csrf_token": token, **form})
        assert refused.status == 403, path
        assert "Som ombud kan du läsa brevlådan" in refused.text()
    settings = page.goto(urljoin(base, "/installningar"))
    assert settings.status == 403
    expect(page.get_by_role("heading", name="Du har inte behörighet")).to_be_visible()

    owner_page.get_by_role("link", name="Inkorg").click()
    expect(owner_page.get_by_role("link", name=subject)).to_be_visible()
    assert reachability(reference, GRANNKOMMUN, owner_id).sender_accepted is True


def test_an_html_letter_is_shown_inside_a_sandboxed_frame(reference, sender_client, new_page):
    page = new_page()
    person_id = register_fresh_person(page, ui_url(reference))
    deliver_letter(
        reference,
        sender_client,
        person_id,
        subject="Nyhetsbrev",
        content_type="text/html",
        body='<h1>Välkommen</h1><p>Läs mer på <a href="https://exempelkommun.test">webben</a>.</p>',
    )
    page.reload()
    page.get_by_role("link", name="Nyhetsbrev").click()
    frame = page.locator("iframe.body-html")
    assert frame.get_attribute("sandbox") == ""
    expect(
        page.frame_locator("iframe.body-html").get_by_role("heading", name="Välkommen")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Välkommen")).to_have_count(0)  # not in the page


def test_closing_a_mailbox_deregisters_it_in_far(reference, new_page):
    page = new_page()
    person_id = register_fresh_person(page, ui_url(reference))
    assert reachability(reference, EXEMPELKOMMUN, person_id).account_type == "Secure"

    page.get_by_role("link", name="Inställningar").click()
    page.get_by_role("link", name="Stäng brevlådan …").click()
    page.get_by_label(re.compile("Ja, jag vill stänga brevlådan")).check()
    page.get_by_role("button", name="Stäng brevlådan").click()

    expect(page.get_by_role("heading", name="Din brevlåda är stängd")).to_be_visible()
    expect(page.get_by_role("button", name="Öppna brevlådan igen")).to_be_visible()
    status = reachability(reference, EXEMPELKOMMUN, person_id)
    assert (status.account_type, status.sender_accepted) == ("Not", False)
