"""The connector's pages in headless Chromium with the internet cut off and the CSP enforced.

Every request to anything but the app on 127.0.0.1 is aborted. `/docs` (Swagger UI) and
`/redoc` must still show the API's operations; the pages must draw with no
Content-Security-Policy violation and no script error; an injected inline script must not
run; and Swagger UI's "Try it out" must work for a logged-in person (it sends the CSRF token).
"""

import httpx2
import pytest
from playwright.sync_api import expect
from sqlalchemy.orm import Session

from functional.browser.live_server import serving
from functional.print_letters import SOCIAL, VENDOR, new_database, seed_batches
from utskick.entrypoints.app import create_app
from utskick.printing.models import PrintBatch
from utskick.settings import PrintVendor, Settings

PASSWORD = "rätt-lösenord-1"
COST_RED = "rgb(192, 57, 43)"  # utskick.benefit.charts.COST_COLOUR
# Collects the violations the page reports (the init script runs outside the page's CSP).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(event.violatedDirective + " " + (event.blockedURI || "inline"));
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("websec")
    engine = new_database(home / "utskick.db", PASSWORD)
    settings = Settings(
        home=home,
        print_local_departments=[SOCIAL],
        print_vendors=[PrintVendor(name=VENDOR, drop=home / "drop")],
    )
    _, batches = seed_batches(engine, settings)
    with serving(create_app(settings, engine)) as base_url:
        yield base_url, engine, batches
    engine.dispose()


class OfflinePage:
    """A page whose browser reaches nothing but the app, recording what went wrong."""

    def __init__(self, page, base_url):
        self.page = page
        self.base_url = base_url
        self.blocked = []
        self.errors = []
        page.context.add_init_script(RECORD_VIOLATIONS)
        page.context.route("**/*", self._only_the_app)
        page.on("console", lambda message: message.type == "error"
                and self.errors.append(message.text))  # fmt: skip
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _only_the_app(self, route):
        if route.request.url.startswith(self.base_url + "/"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def open(self, path):
        self.page.goto(self.base_url + path)
        self.page.wait_for_load_state("networkidle")

    def violations(self):
        return self.page.evaluate("window.__violations")


@pytest.fixture
def offline(server, new_page):
    base_url, *_ = server
    return OfflinePage(new_page(), base_url)


def log_in(offline, username="tryckrum"):
    offline.open("/logga-in?next=%2Futskrift")
    offline.page.get_by_label("Användarnamn").fill(username)
    offline.page.get_by_label("Lösenord").fill(PASSWORD)
    offline.page.get_by_role("button", name="Logga in").click()
    expect(offline.page.get_by_role("button", name="Logga ut")).to_be_visible()


def operations(base_url):
    spec = httpx2.get(f"{base_url}/openapi.json").json()
    return [op["summary"] for path in spec["paths"].values() for op in path.values()]


def test_swagger_ui_shows_every_operation_with_no_internet(server, offline):
    base_url, *_ = server
    offline.open("/docs")
    summaries = operations(base_url)
    expect(offline.page.locator(".opblock")).to_have_count(len(summaries))
    for summary in ("Stäng batchen", "Hälsokontroll", "Utskriftsbatcher"):
        assert summary in summaries
        expect(offline.page.locator(".opblock-summary-description", has_text=summary).first)\
            .to_be_visible()  # fmt: skip
    assert offline.blocked == []
    assert offline.violations() == []
    assert offline.errors == []


def test_redoc_shows_the_operations_with_no_internet(server, offline):
    offline.open("/redoc")
    expect(offline.page.get_by_role("heading", name="Stäng batchen")).to_be_visible()
    expect(offline.page.get_by_role("heading", name="Hälsokontroll")).to_be_visible()
    # Nothing is fetched from elsewhere (the vendored ReDoc no longer asks for Redocly's logo).
    assert offline.violations() == []
    assert offline.blocked == []
    assert offline.errors == []


def test_the_pages_draw_with_no_csp_violation(server, offline):
    _, _, batches = server
    paths = ["/", "/logga-in", "/nytta"]
    for path in paths:
        offline.open(path)
        assert offline.violations() == [], path
    # The charts keep their colours without style attributes.
    bar = offline.page.locator("[id^='kostnader-1-ar-'] path").first
    assert bar.evaluate("element => getComputedStyle(element).fill") == COST_RED
    log_in(offline)
    for path in ("/utskrift", f"/utskrift?batch={batches[SOCIAL]}", "/statistik", "/docs"):
        offline.open(path)
        assert offline.violations() == [], path
    # The layout's stylesheet applies (the print page is the wide one).
    offline.open("/utskrift")
    width = offline.page.evaluate("getComputedStyle(document.body).maxWidth")
    assert width == "1024px"
    assert offline.blocked == []
    assert offline.errors == []


def test_an_injected_inline_script_does_not_run(offline):
    offline.open("/nytta")
    ran = offline.page.evaluate("""() => {
        const script = document.createElement("script");
        script.textContent = "window.__injected = true;";
        document.body.appendChild(script);
        return window.__injected === true;
    }""")
    assert ran is False
    assert any(v.startswith("script-src") for v in offline.violations())


def test_try_it_out_in_swagger_ui_works_for_a_logged_in_person(server, offline):
    _, engine, batches = server
    log_in(offline)
    offline.open("/docs")
    operation = offline.page.locator("[id^='operations-utskrift-close_']")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.locator("input[placeholder='batch_id']").fill(batches[SOCIAL])
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tbody .response-col_status").first
    expect(status).to_have_text("200")
    with Session(engine) as session:
        assert session.get(PrintBatch, batches[SOCIAL]).state == "closed"
    assert offline.violations() == []
