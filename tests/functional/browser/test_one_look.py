"""One look on every page: the same header with who is logged in and the role's menu, and a
width that fits, in headless Chromium against Utskick as `make run` starts it (`embedded`).
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "screenshots" / "start-page.png"
OFFICER_PAGES = {
    "/brev/nytt": "Nytt brev",
    "/brev": "Skickat",
    "/massutskick": "Massutskick",
    "/utskrift": "Utskrift",
    "/nytta": "Nyttokalkyl",
}
WHO = "Hans Handläggare · handläggare, Socialtjänsten, Exempelkommun"


def fits(page):
    """Whether the page needs no sideways scrolling."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_visitor_sees_the_same_header_on_the_start_page_and_the_calculator(embedded, new_page):
    page = new_page()
    for path in ("/", "/nytta"):
        page.goto(embedded.base_url + path)
        menu = page.get_by_role("navigation", name="Meny")
        expect(menu.get_by_role("link")).to_have_text(["Nyttokalkyl"])
        expect(page.locator("header.top").get_by_role("link", name="Logga in")).to_be_visible()
    page.goto(embedded.base_url + "/")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)


@pytest.mark.parametrize("width", [1280, 768])
def test_every_page_of_an_officer_has_the_header_the_menu_and_fits(embedded, new_page, width):
    page = new_page()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{embedded.base_url}/logga-in?next=/")
    page.get_by_label("Användarnamn").fill("handlaggare")
    page.get_by_label("Lösenord").fill(embedded.passwords["handlaggare"])
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("heading", name="Utskick", exact=True)).to_be_visible()
    for path, label in OFFICER_PAGES.items():
        page.goto(embedded.base_url + path)
        header = page.locator("header.top")
        expect(header).to_contain_text(WHO)
        expect(header.get_by_role("button", name="Logga ut")).to_be_visible()
        menu = page.get_by_role("navigation", name="Meny")
        expect(menu.get_by_role("link")).to_have_text(list(OFFICER_PAGES.values()))
        expect(menu.locator("[aria-current=page]")).to_have_text(label)
        assert fits(page), f"{path} is wider than {width} px"
