"""The statistics dashboard in headless Chromium, served by uvicorn over a SQLite file.

Six months of Exempelkommun's letters, June to November 2026 (month i = 0..5):
  Socialtjänsten: 20 + 8i digital, 10 − i on paper, 1 + i mod 2 impossible (deceased)
  Byggnadsnämnden: 5 + 2i digital, 3 on paper, i mod 3 impossible (no_address)
Totals: digital 240 + 60 = 300, paper 45 + 18 = 63, impossible 9 + 6 = 15.
Saving: 300 × (7.00 − 1.50) = 1,650 kr; Socialtjänsten alone 240 × 5.50 = 1,320 kr.
Grannkommun's Socialtjänsten sends 7 digital letters a month, which no one of Exempelkommun
may count: the demo users are Exempelkommun's.
"""

import datetime as dt
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from functional.browser.statistics_letters import (
    BYGG,
    EXEMPELKOMMUN,
    GRANNKOMMUN,
    SOCIAL,
    add_letter,
    add_reference_data,
    statistics_app,
    utc,
)
from utskick.db.engine import create_database_engine
from utskick.entrypoints.embedded import DEMO_USERS
from utskick.migrations import migrate
from utskick.reference.runner import free_loopback_ports
from utskick.settings import Settings
from utskick.web.users import create_user, seed_demo_users

SCREENSHOT = (
    Path(__file__).resolve().parents[3] / "docs" / "screenshots" / "statistics-dashboard.png"
)
PERIOD = "from=2026-06&to=2026-11"
NEIGHBOUR_PASSWORD = "grannens-lösenord-1"


def add_letters(session, system, created, count, state, department, reason=None,
                after=dt.timedelta(minutes=2), sender=EXEMPELKOMMUN):  # fmt: skip
    for _ in range(count):
        add_letter(
            session, system, created_at=created, state=state, reached_after=after,
            department=department, reason=reason, sender=sender,
            message_type="faktura" if department == BYGG else "beslut",
        )  # fmt: skip


def seed_six_months(session):
    system = add_reference_data(session)
    for i in range(6):
        month = (session, system, utc(2026, 6 + i, 10))
        add_letters(*month, 20 + 8 * i, "delivered", SOCIAL)
        add_letters(*month, 10 - i, "handed_to_print", SOCIAL, after=dt.timedelta(days=1))
        add_letters(*month, 1 + i % 2, "impossible", SOCIAL, reason="deceased")
        add_letters(*month, 5 + 2 * i, "delivered", BYGG, after=dt.timedelta(seconds=40))
        add_letters(*month, 3, "printed", BYGG, after=dt.timedelta(hours=3))
        add_letters(*month, i % 3, "impossible", BYGG, reason="no_address")
        add_letters(*month, 7, "delivered", SOCIAL, sender=GRANNKOMMUN)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app with seeded letters and the demo users, on a free loopback port."""
    home = tmp_path_factory.mktemp("dashboard")
    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        seed_six_months(session)
        users_file = seed_demo_users(session, home, DEMO_USERS)
        create_user(session, username="grannledning", password=NEIGHBOUR_PASSWORD,
                    role="management", organisation=GRANNKOMMUN, display_name="Gun Grannledning",
                    now=dt.datetime.now(dt.UTC))  # fmt: skip
        session.commit()
    passwords = {
        line.split()[0]: line.split()[1]
        for line in users_file.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    }
    app = statistics_app(Settings(home=home, benefit_plan_first_year=2026), engine)
    [port] = free_loopback_ports(1)
    uvicorn_server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the web app did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", passwords
    uvicorn_server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def log_in(page, base_url, username, password):
    page.goto(f"{base_url}/statistik?{PERIOD}")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Statistik: utskick och nytta")).to_be_visible()


def test_management_sees_every_department_with_figures_and_charts(server, new_page):
    base_url, passwords = server
    page = new_page()
    log_in(page, base_url, "ledning", passwords["ledning"])

    expect(page.locator("#summa-digitalt")).to_have_text("300")
    expect(page.locator("#summa-papper")).to_have_text("63")
    expect(page.locator("#summa-omojligt")).to_have_text("15")
    expect(page.locator("#summa-besparing")).to_have_text("1 650 kr")
    expect(page.locator("header .who")).to_contain_text("Lena Ledning · ledning, Exempelkommun")
    expect(
        page.get_by_text("Du ser statistik för Exempelkommun, alla förvaltningar")
    ).to_be_visible()
    november = page.locator("#manader tbody tr").filter(has_text="nov 2026")
    expect(november.locator("td").nth(2)).to_have_text("75")  # 60 + 15 digital
    expect(page.locator("#detaljer")).to_contain_text(BYGG)
    expect(page.locator("svg #digitalt-2026-11")).to_have_count(1)
    expect(page.locator("svg #plan-brev")).to_have_count(1)

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000


def test_a_department_admin_sees_only_socialtjansten(server, new_page):
    base_url, passwords = server
    page = new_page()
    log_in(page, base_url, "socialadmin", passwords["socialadmin"])

    expect(page.get_by_text("Du ser statistik för Socialtjänsten")).to_be_visible()
    expect(page.locator("#summa-digitalt")).to_have_text("240")
    expect(page.locator("#summa-besparing")).to_have_text("1 320 kr")
    expect(page.locator("#detaljer")).not_to_contain_text(BYGG)
    expect(page.get_by_label("Förvaltning")).to_have_count(0)


def test_an_officer_is_shown_that_the_role_gives_no_access(server, new_page):
    base_url, passwords = server
    page = new_page()
    page.goto(f"{base_url}/statistik")
    page.get_by_label("Användarnamn").fill("handlaggare")
    page.get_by_label("Lösenord").fill(passwords["handlaggare"])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Ingen behörighet")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("rollen handläggare")


def test_grannkommuns_management_sees_only_grannkommuns_letters(server, new_page):
    base_url, _passwords = server
    page = new_page()
    log_in(page, base_url, "grannledning", NEIGHBOUR_PASSWORD)

    expect(page.get_by_text("Du ser statistik för Grannkommun, alla förvaltningar")).to_be_visible()
    expect(page.locator("#summa-digitalt")).to_have_text("42")  # 7 a month for six months
    expect(page.locator("#summa-papper")).to_have_text("0")
    expect(page.locator("#detaljer tbody tr")).to_have_count(6)
    expect(page.locator("#detaljer")).not_to_contain_text(BYGG)
    expect(page.locator("#detaljer")).not_to_contain_text("Exempelkommun")
    expect(page.get_by_label("Förvaltning").locator("option")).to_have_text(["Alla", SOCIAL])
    expect(page.get_by_label("Organisation")).to_have_count(0)
