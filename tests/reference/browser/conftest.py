"""Headless Chromium for the mailbox browser tests (one browser per test worker)."""

import pytest


@pytest.fixture(scope="session")
def browser(chromium):
    return chromium


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
