"""The API description pages `/docs` (Swagger UI) and `/redoc`, with nothing from the internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and start Swagger UI with an inline
script. A municipality's server often has no way out to the internet, and the
Content-Security-Policy allows no inline script, so Utskick serves both from the package
(`static/swagger-ui`, `static/redoc`: see `static/VENDORED.md` for their versions and
licences) with pages of its own and a static start script.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from utskick.web.csrf import issue_csrf_token
from utskick.web.pages import WEB_TEMPLATES, page_templates

STATIC_PATH = "/static"
STATIC_FOLDER = Path(__file__).with_name("static")
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"

_TEMPLATES = page_templates(WEB_TEMPLATES)


def include_static_files(app: FastAPI) -> None:
    """Serve the package's stylesheets, scripts and the vendored documentation viewers."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_FOLDER), name="static")


def include_api_docs(app: FastAPI) -> None:
    """Add `/docs` and `/redoc`; the app must be created with `docs_url=None, redoc_url=None`."""
    openapi_url = app.openapi_url or "/openapi.json"

    common = {"title": app.title, "openapi_url": openapi_url, "static": STATIC_PATH}

    @app.get(DOCS_PATH, response_class=HTMLResponse, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        # Swagger UI's "Try it out" sends the token with calls a logged-in person makes.
        page = common | {"csrf_token": issue_csrf_token(request)}
        return _TEMPLATES.TemplateResponse(request, "swagger.html", page)

    @app.get(REDOC_PATH, response_class=HTMLResponse, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return _TEMPLATES.TemplateResponse(request, "redoc.html", common)
