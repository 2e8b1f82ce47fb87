"""Headless Chromium for the mailbox browser tests (one browser per test worker)."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("UTSKICK_TEST_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = (
            f"headless Chromium is missing at {CHROMIUM}: install the distribution's chromium "
            "package to run the mailbox browser tests"
        )
        if REQUIRE_BROWSER:
            pytest.fail(message + " (UTSKICK_TEST_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """A page in a fresh browser context: its own cookies, so its own login."""
    contexts = []

    def make():
        context = browser.new_context(locale="sv-SE")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
