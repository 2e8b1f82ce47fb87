"""The FastAPI application factory.

The app has a start page, a health endpoint and the REST API (`/api/v1`, from
`utskick.intake.api`); the case officer's, the print service's, the statistics' and the
records' pages are added by their area.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick import __version__
from utskick.benefit.web import include_benefit_calculator
from utskick.db.engine import create_database_engine
from utskick.desk.compose import include_compose
from utskick.desk.mass_routes import include_mass_mailing
from utskick.desk.sent import include_sent_letters
from utskick.entrypoints.bootstrap import Adapters
from utskick.entrypoints.desk_adapters import desk_ports
from utskick.entrypoints.health import database_health, include_health
from utskick.entrypoints.metrics import include_metrics
from utskick.intake.api import include_intake_api
from utskick.printing.api import include_printing
from utskick.records.api import include_records_api
from utskick.records.masking import RecordsMasking
from utskick.records.routes import include_records_pages
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings
from utskick.statistics.web import include_statistics
from utskick.web.auth import include_auth
from utskick.web.docs import include_api_docs, include_static_files
from utskick.web.pages import WEB_TEMPLATES, page_templates
from utskick.web.protection import include_protection
from utskick.web.request_log import include_request_log

TEMPLATES = page_templates(WEB_TEMPLATES)


ORGANISATION_NAMES_SECONDS = 60.0


def organisation_names(engine: Engine) -> Callable[[], dict[str, str]]:
    """Sender organisations' names by number, for the pages' header (read at most once a minute)."""
    lock = threading.Lock()
    cached: dict[str, str] = {}
    read_at = [-ORGANISATION_NAMES_SECONDS]

    def names() -> dict[str, str]:
        with lock:
            if time.monotonic() - read_at[0] >= ORGANISATION_NAMES_SECONDS:
                with Session(engine) as session:
                    senders = SenderRepository(session).all()
                    cached.clear()
                    cached.update({sender.organisation_number: sender.name for sender in senders})
                read_at[0] = time.monotonic()
            return dict(cached)

    return names


def create_app(
    settings: Settings, engine: Engine | None = None, adapters: Adapters | None = None
) -> FastAPI:
    """The web app for these settings; the engine and the adapters may be handed in.

    `utskick serve` shares its engine and adapters with the worker threads it runs; tests
    hand in fakes through `adapters` (kept in `app.state.adapters`).
    """
    engine = engine or create_database_engine(settings.resolved_database_url())
    adapters = adapters or Adapters(settings, engine)
    app = FastAPI(
        title="Utskick",
        version=__version__,
        description="Kommunens anslutning till Mina meddelanden: kanalväxel, förmedlingstjänst "
        "och printtjänst, och varje skickat brev bevarat som allmän handling (registrering, "
        "bevarande och gallring, arkivexport). Verksamhetssystemen lämnar brev med sin "
        "API-nyckel och ser sina egna brev; registratorer och administratörer söker bland "
        "organisationens brev under `arkiv` med sin inloggning.",
        # Served from the package instead (no CDN, no inline script): utskick.web.docs.
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings
    app.state.adapters = adapters
    app.state.organisation_names = organisation_names(engine)
    include_intake_api(app, precheck=lambda: adapters.precheck, protection=adapters.protection)
    include_auth(app)  # before the pages that ask for a role
    ports = desk_ports(adapters)  # one set of the desk's ports for its pages
    include_compose(app, ports)
    include_mass_mailing(app, ports)
    # Which recipients a registrator may not see is the records' rule (records.masking).
    include_sent_letters(app, mask_recipients=RecordsMasking(adapters.protection))
    include_records_pages(app, protection=adapters.protection)
    include_records_api(app, protection=adapters.protection)
    include_statistics(app)
    include_printing(app)
    include_benefit_calculator(app)
    include_static_files(app)
    include_api_docs(app)
    include_health(app, engine, settings, adapters)
    include_metrics(app, engine, settings)  # GET /metrics, for Prometheus (not in the API docs)
    include_protection(app)  # its middlewares wrap all others but the request log
    include_request_log(app)  # outermost: times everything, logs refusals, sees the client

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def start_page(request: Request) -> HTMLResponse:
        return TEMPLATES.TemplateResponse(
            request,
            "index.html",
            {
                "version": __version__,
                "database": database_health(engine),
                "backend": engine.dialect.name,
            },
        )

    return app
