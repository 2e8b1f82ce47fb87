"""Headless Chromium for the statistics dashboard tests (one browser per test worker)."""

import pytest


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
