"""An installation for the admin commands' tests: `message-types`, `systems`, `senders`, `jobs`.

Its database (SQLite in its home, or a PostgreSQL schema of its own) holds the two demo
senders, two message types with the demo's records rules, and a sending system with a key
and a webhook; the commands run as an operator runs them, with settings from the
environment. The groups are put together as `utskick` puts them (`entrypoints/cli`).
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from support.postgres import postgres_schema_url
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW, sender_organisation
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli.jobs import jobs_app
from utskick.entrypoints.cli.message_types import message_types_app
from utskick.entrypoints.cli.senders import senders_app
from utskick.entrypoints.cli.systems import systems_app
from utskick.letters.models import MessageType
from utskick.migrations import migrate
from utskick.records.rules import seed_demo_rules
from utskick.senders.systems import create_sending_system, issue_api_key

CLI = typer.Typer()
for group, name in (
    (message_types_app, "message-types"),
    (systems_app, "systems"),
    (senders_app, "senders"),
    (jobs_app, "jobs"),
):
    CLI.add_typer(group, name=name)

SYSTEM = "Ärendesystemet"
WEBHOOK = "https://arende.kommun.test/utskick"


class Installation:
    """A home and a database, and the admin commands run on them."""

    def __init__(self, home, url):
        self.home = home
        self.url = url
        self.engine = create_database_engine(url)
        migrate.upgrade(self.engine)
        self.env = {"UTSKICK_HOME": str(home), "UTSKICK_DATABASE_URL": url, "COLUMNS": "250"}
        with Session(self.engine) as session, session.begin():
            session.add_all([sender_organisation(EXEMPELKOMMUN), sender_organisation(GRANNKOMMUN)])
            session.add_all(
                [
                    MessageType(code="beslut", name="Beslut", protection_class=2),
                    MessageType(code="faktura", name="Faktura", protection_class=1),
                ]
            )
            seed_demo_rules(session, NOW)
            system = create_sending_system(
                session,
                name=SYSTEM,
                sender_numbers=[EXEMPELKOMMUN],
                webhook_url=WEBHOOK,
                now=NOW,
            )
            self.system_id = system.id
            self.webhook_secret = system.webhook_secret
            self.first_key = issue_api_key(session, system, now=NOW)
        self.runner = CliRunner()

    def run(self, *args):
        return self.runner.invoke(CLI, list(args), env=self.env)

    def json(self, *args):
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def refused(self, *args, says):
        """Run a command that must be refused: a Swedish reason on standard error, nothing out."""
        result = self.run(*args)
        assert result.exit_code != 0, result.output
        # Rich wraps the message at the terminal's width, which differs from run to run.
        assert says in " ".join(result.stderr.split()), result.stderr
        assert "Fel:" in result.stderr
        assert result.stdout == ""
        return result

    def session(self):
        return Session(self.engine)


@contextmanager
def installation_of(kind, home):
    """An installation on SQLite or on a PostgreSQL schema of its own (dropped afterwards)."""
    if kind == "sqlite":
        installation = Installation(home, f"sqlite:///{home / 'utskick.db'}")
        yield installation
        installation.engine.dispose()
        return
    with postgres_schema_url(f"admin_cli_{uuid.uuid4().hex[:4]}") as url:
        installation = Installation(home, url)
        yield installation
        installation.engine.dispose()
