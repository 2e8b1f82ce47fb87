"""Templates for the pages areas add to the web app: their own folder, then the app's layout."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

WEB_TEMPLATES = Path(__file__).with_name("templates")


def page_templates(folder: Path) -> Jinja2Templates:
    """Templates from an area's folder that may extend the app's `layout.html`."""
    return Jinja2Templates(directory=[str(folder), str(WEB_TEMPLATES)])
