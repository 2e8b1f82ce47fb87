"""Headless Chromium for the statistics dashboard tests (one browser per test worker)."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("UTSKICK_TEST_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="session")
def chromium():
    if not CHROMIUM.exists():
        message = (
            f"no headless Chromium at {CHROMIUM}; install the chromium package "
            "(make browser) to run the statistics dashboard in a browser"
        )
        if REQUIRE_BROWSER:
            pytest.fail(f"{message} (UTSKICK_TEST_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def fresh_page(chromium):
    """Open a page in a browser context of its own (its own cookies: its own login)."""
    opened = []

    def open_page():
        context = chromium.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        opened.append(context)
        return context.new_page()

    yield open_page
    for context in opened:
        context.close()
