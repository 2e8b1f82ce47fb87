"""The desk's sessions on the app's database: one session factory per app, for every page."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from utskick.db.engine import session_factory


def desk_sessions(app: FastAPI) -> sessionmaker[Session]:
    """The sessions of the desk's pages (made on first use; each request is its own unit)."""
    made: sessionmaker[Session] | None = getattr(app.state, "desk_sessions", None)
    if made is None:
        made = session_factory(app.state.engine)
        app.state.desk_sessions = made
    return made
