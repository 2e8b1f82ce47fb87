"""Sessions kept on the server: logging out, a new password or a deactivated account ends them.

Each test runs on SQLite and on PostgreSQL, each on a database of its own.
"""

import datetime as dt
import hashlib

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from functional.web_login import HTML, SESSION_COOKIE, log_in, page_token
from support.world import EXEMPELKOMMUN, sender_organisation
from utskick.entrypoints.app import create_app
from utskick.migrations import migrate
from utskick.settings import Settings
from utskick.web.sessions import SessionStore
from utskick.web.users import UserRepository, WebSession, create_user, hash_password

pytestmark = pytest.mark.storage

PASSWORD = "rätt-lösenord-1"
STATISTICS_API = "/api/v1/statistik"


@pytest.fixture
def engine(empty_engine):
    migrate.upgrade(empty_engine)
    with Session(empty_engine) as session:
        for username in ("ledning", "ledning2"):
            create_user(session, username=username, password=PASSWORD, role="management",
                        organisation=EXEMPELKOMMUN, now=dt.datetime.now(dt.UTC))  # fmt: skip
        session.commit()
    return empty_engine


@pytest.fixture
def app(engine, tmp_path):
    return create_app(Settings(home=tmp_path), engine)


def sessions_of(engine, username):
    with Session(engine) as session:
        user = UserRepository(session).by_username(username)
        return session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.user_id == user.id)
        )


def browser_with_cookie(app, value):
    """Another browser holding a copy of a session cookie."""
    thief = TestClient(app)
    thief.cookies.set(SESSION_COOKIE, value)
    return thief


def logged_in(app, username="ledning"):
    client = TestClient(app)
    assert log_in(client, username, PASSWORD).status_code == 303
    return client


def test_a_copied_cookie_stops_working_when_its_owner_logs_out(app, engine):
    client = logged_in(app)
    copy = browser_with_cookie(app, client.cookies[SESSION_COOKIE])
    assert copy.get(STATISTICS_API).status_code == 200  # the copy works until then
    assert sessions_of(engine, "ledning") == 1

    answer = client.post("/logga-ut", data={"csrf_token": page_token(client)},
                         follow_redirects=False)  # fmt: skip

    assert answer.status_code == 303
    assert sessions_of(engine, "ledning") == 0
    refused = copy.get(STATISTICS_API)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "logga in för att fortsätta"
    page = copy.get("/statistik", headers=HTML, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/logga-in")
    # The browser that logged out is logged out too, even if it kept the cookie.
    assert client.get(STATISTICS_API).status_code == 401


def test_logging_out_ends_only_that_session(app, engine):
    first = logged_in(app)
    second = logged_in(app)
    assert sessions_of(engine, "ledning") == 2
    first.post("/logga-ut", data={"csrf_token": page_token(first)})
    assert first.get(STATISTICS_API).status_code == 401
    assert second.get(STATISTICS_API).status_code == 200
    assert sessions_of(engine, "ledning") == 1


def test_a_new_password_ends_the_sessions_begun_with_the_old(app, engine):
    client = logged_in(app)
    other_user = logged_in(app, "ledning2")
    with Session(engine) as session:
        UserRepository(session).by_username("ledning").password_hash = hash_password(
            "nytt-lösen-123"
        )
        session.commit()
    assert client.get(STATISTICS_API).status_code == 401
    assert other_user.get(STATISTICS_API).status_code == 200


def test_a_deactivated_person_is_logged_out(app, engine):
    client = logged_in(app)
    with Session(engine) as session:
        UserRepository(session).by_username("ledning").active = False
        session.commit()
    assert client.get(STATISTICS_API).status_code == 401
    assert client.get("/statistik", headers=HTML, follow_redirects=False).status_code == 303


def test_ending_a_persons_sessions_ends_every_one_of_them(app, engine):
    clients = [logged_in(app), logged_in(app)]
    with Session(engine) as session:
        UserRepository(session).end_sessions(UserRepository(session).by_username("ledning").id)
        session.commit()
    assert sessions_of(engine, "ledning") == 0
    assert [c.get(STATISTICS_API).status_code for c in clients] == [401, 401]


def test_the_database_holds_only_a_digest_of_the_session_token(app, engine):
    client = logged_in(app)
    cookie = client.cookies[SESSION_COOKIE]
    with Session(engine) as session:
        [stored] = session.scalars(select(WebSession)).all()
    token = URLSafeTimedSerializer(app.state.session_secret, salt="utskick-web-session").loads(
        cookie
    )["s"]
    assert stored.token_hash != token
    assert token not in stored.token_hash
    assert hashlib.sha256(token.encode()).hexdigest() == stored.token_hash


def test_a_failed_login_stores_no_session(app, engine):
    client = TestClient(app)
    assert log_in(client, "ledning", "fel-lösenord-99").status_code == 401
    assert sessions_of(engine, "ledning") == 0
    assert SESSION_COOKIE not in client.cookies


def test_a_session_ends_after_eight_hours_and_expired_ones_are_cleared(engine):
    now = [dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)]
    store = SessionStore(sessionmaker(engine), clock=lambda: now[0])
    with Session(engine) as session:
        user = UserRepository(session).by_username("ledning")
    token = store.start(user)
    now[0] += dt.timedelta(hours=8) - dt.timedelta(seconds=1)
    assert store.user(token).username == "ledning"
    now[0] += dt.timedelta(seconds=1)
    assert store.user(token) is None
    store.start(user)  # a new login clears the sessions that have run out
    assert sessions_of(engine, "ledning") == 1


def test_utskick_users_password_logs_the_person_out_everywhere(tmp_path):
    from typer.testing import CliRunner

    from utskick.db.engine import create_database_engine
    from utskick.entrypoints.cli.users import users_app

    def users(*args, stdin):
        return CliRunner().invoke(users_app, [*args, "--home", str(tmp_path)], input=stdin)

    engine = create_database_engine(f"sqlite:///{tmp_path}/utskick.db")
    migrate.upgrade(engine)
    with Session(engine) as session:
        session.add(sender_organisation(EXEMPELKOMMUN))  # `users add` knows only senders here
        session.commit()
    added = users("add", "lena", "--role", "management", "--org", "202100-4748",
                  "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    app = create_app(Settings(home=tmp_path), engine)
    browser = logged_in(app, "lena")
    assert browser.get(STATISTICS_API).status_code == 200

    changed = users("password", "lena", "--password-stdin", stdin="nytt-lösenord-2\n")

    assert changed.exit_code == 0, changed.output
    assert sessions_of(engine, "lena") == 0
    assert browser.get(STATISTICS_API).status_code == 401
    engine.dispose()


def test_logging_in_again_replaces_the_browsers_earlier_session(app, engine):
    client = logged_in(app)
    earlier = client.cookies[SESSION_COOKIE]
    assert log_in(client, "ledning", PASSWORD).status_code == 303
    assert sessions_of(engine, "ledning") == 1
    assert browser_with_cookie(app, earlier).get(STATISTICS_API).status_code == 401
    assert client.get(STATISTICS_API).status_code == 200
