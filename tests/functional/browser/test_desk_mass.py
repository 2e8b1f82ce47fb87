"""Massutskick in headless Chromium, against Utskick as `make run` starts it (`embedded`).

An officer of Socialtjänsten at Exempelkommun uploads a table as Swedish Excel saves it (a CSV
of 200 rows with `;` in Windows-1252, and a workbook), chooses the columns, writes the letter
with merge fields inserted from the column buttons, sees the precheck per row, sends, follows
the letters until each has an outcome, and downloads the outcome per row. The demo world's
people decide the outcomes: Tolvan and Anna have mailboxes, Bertil opted out of Exempelkommun,
Hanna is deceased; new people with an address in the file are printed to it, those without
one cannot be sent to. Each test uploads a file and a case number of its own.
"""

import codecs
import csv
import io
import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.world import fresh_personnummer
from utskick.db.engine import create_database_engine
from utskick.letters.models import Letter

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOT = ROOT / "docs" / "screenshots" / "desk-mass-mailing.png"
OUTCOME_SECONDS = 180_000  # milliseconds: every letter digital or on the exception list
SOCIAL = "Socialtjänsten"
HEADER = ("Personnummer", "Namn", "Utdelningsadress", "Postnummer", "Ort", "Belopp")
TOLVAN, ANNA, BERTIL, HANNA, EVA = (
    "19121212-1212",
    "19800423-2388",
    "19750101-2475",
    "19580718-3529",
    "19851230-4166",
)
DEMO_ROWS = (
    (TOLVAN, "Tolvan Tolvansson"),
    (ANNA, "Anna Andersson"),
    ("19930228-1465", "Ida Ivarsson"),
    ("19810105-2382", "Karin Provmottagare"),
    (BERTIL, "Bertil Bengtsson"),
    ("19661109-0827", "David Dahl"),
    (EVA, "Eva Ek"),
    (HANNA, "Hanna Holm"),
    ("19760412-2387", "Jonas Jansson"),
    ("19880719-2466", "Lena Lund"),
)
# Collects the Content-Security-Policy violations of the page (the init script runs outside it).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


def typed(number):
    return f"{number[:8]}-{number[8:]}"


def wrong_check_digit(number):
    return f"{number[:8]}-{number[8:11]}{(int(number[11]) + 1) % 10}"


def two_hundred_rows():
    """Demo people, repeats, wrong check digits, new people with and without an address."""
    rows = [(number, name, "", "", "", "100") for number, name in DEMO_ROWS]
    rows += [(TOLVAN, "Tolvan igen", "", "", "", "1"), (BERTIL, "Bertil igen", "", "", "", "2")]
    rows += [
        (wrong_check_digit(fresh_personnummer()), f"Fel {n}", "", "", "", "3") for n in range(18)
    ]
    rows += [
        (
            typed(fresh_personnummer()),
            f"Åsa Öberg {n}",
            f"Storgatan {n}",
            "123 45",
            "Exempelby",
            "4",
        )
        for n in range(40)
    ]
    rows += [(typed(fresh_personnummer()), f"Okänd {n}", "", "", "", "5") for n in range(130)]
    assert len(rows) == 200
    return rows


def log_in(page, embedded, username="handlaggare"):
    page.context.add_init_script(RECORD_VIOLATIONS)
    page.goto(f"{embedded.base_url}/massutskick")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(embedded.passwords[username])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Massutskick", exact=True)).to_be_visible()


def upload(page, path):
    page.get_by_label("Fil med mottagare").set_input_files(str(path))
    page.get_by_role("button", name="Ladda upp").click()
    expect(page.get_by_role("heading", name=f"Massutskick: {path.name}")).to_be_visible()


def write_letter(page, case_number):
    """Choose the message type and write subject and text, merge fields from the buttons."""
    expect(page.get_by_label("Mottagare (personnummer eller organisationsnummer)")).to_have_value(
        "Personnummer"
    )
    page.get_by_label("Meddelandetyp").select_option("beslut")
    page.get_by_label("Diarienummer (valfritt)").fill(case_number)
    subject = page.get_by_label("Ämnesrad")
    subject.fill("Beslut om bidrag till ")
    subject.press("End")
    page.get_by_role("button", name="{Namn}").click()
    expect(subject).to_have_value("Beslut om bidrag till {Namn}")
    text = page.get_by_label("Text", exact=True)
    text.fill("Hej !\n\nDu får  kronor.")
    text.evaluate("field => field.setSelectionRange(4, 4)")
    page.get_by_role("button", name="{Namn}").click()
    text.evaluate(
        "f => f.setSelectionRange(f.value.indexOf(' kronor'), f.value.indexOf(' kronor'))"
    )
    page.get_by_role("button", name="{Belopp}").click()
    expect(text).to_have_value("Hej {Namn}!\n\nDu får {Belopp} kronor.")
    page.get_by_role("button", name="Kontrollera mottagarna").click()


def count(page, outcome):
    return int(page.locator(f"#antal-{outcome}").inner_text().replace("\u00a0", ""))


def downloaded_csv(page, link_name):
    with page.expect_download() as download:
        page.get_by_role("link", name=link_name).click()
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def send_and_follow(page):
    button = page.get_by_role("button", name=re.compile(r"^Skicka \d+ brev$"))
    to_send = int(re.search(r"\d+", button.inner_text()).group())
    button.click()
    expect(page.get_by_role("heading", name="Sändning")).to_be_visible()
    expect(page.locator("#skickas-lage")).to_contain_text(
        f"{to_send} av {to_send} rader lämnade", timeout=60_000
    )
    expect(page.locator("#brev-utfall")).to_have_text(
        re.compile(rf"^{to_send} av {to_send} brev har ett utfall\.$"), timeout=OUTCOME_SECONDS
    )
    expect(page.locator("#lage")).to_have_text("skickat")
    return to_send


def check_the_precheck_file(page):
    """The precheck per row as downloaded: every row, outcome and reason."""
    precheck = downloaded_csv(page, "Ladda ned kontrollen per rad (CSV för Excel)")
    assert precheck[0] == ["Rad", "Mottagare", "Utfall", "Orsak", "Ämne"]
    assert len(precheck) == 201
    by_row = {line[0]: line for line in precheck[1:]}
    assert by_row["2"][1:4] == [TOLVAN, "digitalt", "Går digitalt till Brevlåda Syd AB"]
    assert by_row["6"][1:4] == [
        BERTIL,
        "papper",
        "Skrivs ut: mottagaren tar inte emot digital post från Exempelkommun",
    ]
    assert by_row["8"][2:4] == ["papper", "Skyddad identitet: går via Skatteverket"]
    assert by_row["14"][2] == "fel i raden"
    assert "kontrollsiffran" in by_row["14"][3]
    assert by_row["2"][4] == "Beslut om bidrag till Tolvan Tolvansson"


def letters_with_case_number(embedded, case_number):
    engine = create_database_engine(f"sqlite:///{embedded.home / 'utskick.db'}")
    try:
        with Session(engine) as session:
            letters = session.scalars(select(Letter).where(Letter.case_number == case_number))
            return {letter.recipient_id: letter for letter in letters}
    finally:
        engine.dispose()


def test_a_mass_mailing_of_200_csv_rows_is_checked_sent_and_followed_to_the_end(
    embedded, new_page, tmp_path
):
    case_number = f"SOC-MASS-{uuid.uuid4().hex[:6]}"
    path = tmp_path / f"bidrag-{case_number}.csv"
    with path.open("w", encoding="cp1252", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows(two_hundred_rows())
    page = new_page()
    log_in(page, embedded)
    upload(page, path)
    expect(page.get_by_text("CSV-fil med 6 kolumner")).to_be_visible()
    write_letter(page, case_number)

    expect(page.locator("#kontroll-lage")).to_have_text(
        "Kontrollen är klar: 200 rader.", timeout=60_000
    )
    counts = {
        name: count(page, name) for name in ("digital", "paper", "unknown", "impossible", "problem")
    }
    assert sum(counts.values()) == 200
    assert counts["digital"] >= 4  # Tolvan, Anna, Ida, Karin
    assert counts["paper"] >= 42  # Bertil, Eva and the 40 new people with an address
    assert counts["problem"] == 20  # 18 wrong check digits, 2 repeats
    assert counts["impossible"] >= 133  # Hanna, Jonas, Lena, 130 new people without address
    problems = page.get_by_role("table", name="Rader som inte skickas")
    expect(problems).to_contain_text("Kan inte skickas: avliden")
    repeat = problems.locator("tr", has_text="Samma mottagare som på rad 2")
    expect(repeat.locator("td").first).to_have_text("12")  # Excel's row number

    check_the_precheck_file(page)

    to_send = send_and_follow(page)
    assert to_send == counts["digital"] + counts["paper"] + counts["unknown"]
    outcome = downloaded_csv(page, "Ladda ned utfallet per rad (CSV för Excel)")
    assert outcome[0] == ["Rad", "Mottagare", "Brev-id", "Kanal", "Läge", "Orsak", "Tid"]
    assert len(outcome) == 201
    rows = {line[0]: line for line in outcome[1:]}
    assert rows["2"][3:5] == ["digitalt", "levererat digitalt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", rows["2"][6])
    assert rows["6"][3] == "papper"
    assert rows["14"][2:5] == ["", "", "skickades inte"]
    assert sum(1 for line in outcome[1:] if line[2]) == to_send

    letters = letters_with_case_number(embedded, case_number)
    assert len(letters) == to_send
    tolvan = letters[TOLVAN.replace("-", "")]
    assert tolvan.id == rows["2"][2]
    assert tolvan.subject == "Beslut om bidrag till Tolvan Tolvansson"
    assert tolvan.department == SOCIAL
    assert page.evaluate("window.__violations") == []

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_mass_mailing_from_an_excel_workbook_with_mixed_outcomes(embedded, new_page, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    case_number = f"SOC-XLSX-{uuid.uuid4().hex[:6]}"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append([191212121212, "Tolvan Tolvansson", None, None, None, 150])  # a number cell
    sheet.append([ANNA, "Anna Andersson", None, None, None, 200])
    sheet.append([BERTIL, "Bertil Bengtsson", None, None, None, 250])
    sheet.append([HANNA, "Hanna Holm", None, None, None, 300])
    sheet.append(["19121212-1213", "Fel Siffra", None, None, None, 350])
    new_person = typed(fresh_personnummer())
    sheet.append([new_person, "Ny Person", "Nygatan 1", "123 45", "Exempelby", 400])
    path = tmp_path / f"bidrag-{case_number}.xlsx"
    workbook.save(path)

    page = new_page()
    log_in(page, embedded)
    upload(page, path)
    expect(page.get_by_text("Excel-arbetsbok med 6 kolumner")).to_be_visible()
    write_letter(page, case_number)
    expect(page.locator("#kontroll-lage")).to_have_text(
        "Kontrollen är klar: 6 rader.", timeout=60_000
    )
    assert (count(page, "digital"), count(page, "paper")) == (2, 2)
    assert (count(page, "impossible"), count(page, "problem")) == (1, 1)
    problems = page.get_by_role("table", name="Rader som inte skickas")
    expect(problems.locator("tr", has_text="Hanna")).to_have_count(0)  # names are not shown
    expect(problems.locator("tr", has_text=HANNA)).to_contain_text("avliden")
    wrong = problems.locator("tr", has_text="19121212-1213")
    expect(wrong.locator("td").first).to_have_text("6")

    assert send_and_follow(page) == 4
    outcome = downloaded_csv(page, "Ladda ned utfallet per rad (CSV för Excel)")
    rows = {line[0]: line for line in outcome[1:]}
    assert [rows[row][3] for row in ("2", "3", "4", "7")] == [
        "digitalt",
        "digitalt",
        "papper",
        "papper",
    ]
    assert rows["5"][4:6] == ["skickades inte", "Kan inte skickas: avliden"]
    letters = letters_with_case_number(embedded, case_number)
    assert set(letters) == {
        "191212121212",
        "198004232388",
        "197501012475",
        new_person.replace("-", ""),
    }
    assert letters[new_person.replace("-", "")].postal_address["lines"] == ["Nygatan 1"]
    # A paper letter keeps its text (a delivered one's is removed by the records rules).
    assert letters["197501012475"].body == "Hej Bertil Bengtsson!\n\nDu får 250 kronor."
    assert page.evaluate("window.__violations") == []


def test_an_officer_of_another_department_cannot_open_the_mailing(embedded, new_page, tmp_path):
    path = tmp_path / f"lista-{uuid.uuid4().hex[:6]}.csv"
    path.write_bytes(f"Personnummer;Namn\n{TOLVAN};Tolvan\n".encode("cp1252"))
    page = new_page()
    log_in(page, embedded)
    upload(page, path)
    address = page.url
    other = new_page()
    log_in(other, embedded, username="bygglov")
    expect(other.get_by_role("table", name="Massutskick")).not_to_contain_text(path.name)
    other.goto(address)
    expect(other.get_by_role("heading", name="Massutskicket finns inte")).to_be_visible()
