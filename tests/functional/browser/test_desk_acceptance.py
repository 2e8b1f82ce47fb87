"""The desk as issue 14 accepts it, in headless Chromium against Utskick as `make run` starts it.

An officer of Socialtjänsten at Exempelkommun sends a mass mailing with a case number of its
own; Skickat finds its letters by that case number and by recipient. An officer of another
department and an officer of Grannkommun find none of them and get "not found" for a letter's
own address; the records officer (registrator) finds them all but may not send.
"""

import uuid

from playwright.sync_api import expect

from functional.browser.test_desk_mass import (
    BERTIL,
    TOLVAN,
    send_and_follow,
    upload,
    write_letter,
)
from functional.browser.test_desk_mass import log_in as log_in_to_mass_mailing
from functional.browser.test_desk_sent import log_in as log_in_to_sent
from functional.browser.test_desk_sent import result_rows, search


def log_in(page, embedded, username):
    log_in_to_sent(page, embedded.base_url, username, embedded.passwords[username])


def test_a_mass_mailing_is_found_by_its_own_and_by_no_one_else(embedded, new_page, tmp_path):
    case_number = f"SOC-ACC-{uuid.uuid4().hex[:6]}"
    path = tmp_path / f"kallelse-{case_number}.csv"
    lines = ["Personnummer;Namn;Belopp", f"{TOLVAN};Tolvan Tolvansson;1", f"{BERTIL};Bertil;2"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    officer = new_page()
    log_in_to_mass_mailing(officer, embedded)
    upload(officer, path)
    write_letter(officer, case_number)
    expect(officer.locator("#kontroll-lage")).to_have_text(
        "Kontrollen är klar: 2 rader.", timeout=60_000
    )
    assert send_and_follow(officer) == 2

    officer.get_by_role("navigation", name="Meny").get_by_role("link", name="Skickat").click()
    search(officer, Diarienummer=case_number)
    expect(result_rows(officer)).to_have_count(2)
    search(officer, Diarienummer=case_number, Mottagare="191212121212")
    expect(result_rows(officer)).to_have_count(1)
    expect(result_rows(officer)).to_contain_text("19121212-1212")
    expect(result_rows(officer)).to_contain_text("levererat digitalt")
    result_rows(officer).get_by_role("link").click()
    letter_address = officer.url
    expect(officer.get_by_role("heading", name="Beslut om bidrag till Tolvan")).to_be_visible()

    for username in ("bygglov", "granne"):
        other = new_page()
        log_in(other, embedded, username)
        search(other, Diarienummer=case_number)
        expect(other.get_by_text("Inga brev matchar sökningen.")).to_be_visible()
        other.goto(letter_address)
        expect(other.get_by_role("heading", name="Brevet finns inte")).to_be_visible()
        expect(other.locator("body")).not_to_contain_text("Tolvan")

    registrator = new_page()
    log_in(registrator, embedded, "registrator")
    search(registrator, Diarienummer=case_number)
    expect(result_rows(registrator)).to_have_count(2)
    menu = registrator.get_by_role("navigation", name="Meny")
    expect(menu).not_to_contain_text("Nytt brev")
    expect(menu).not_to_contain_text("Massutskick")
    for address in ("/brev/nytt", "/massutskick"):
        registrator.goto(f"{embedded.base_url}{address}")
        expect(registrator.get_by_role("heading", name="Ingen behörighet")).to_be_visible()
    registrator.goto(letter_address)
    expect(registrator.get_by_role("heading", name="Beslut om bidrag till Tolvan")).to_be_visible()
    expect(registrator.get_by_role("button", name="Makulera brevet")).to_have_count(0)
