"""Revision 0008 on a database with users and an open print batch from before it.

Users other than administrators join the installation's intermediary; an open batch takes its
first letter's organisation and keeps being the open batch of its route and department.
"""

import pytest
from sqlalchemy import text

from utskick.migrations import migrate

pytestmark = pytest.mark.storage

BEFORE = "2026_12_06_0007"


def test_users_and_open_batches_get_their_organisation(empty_engine):
    migrate.upgrade(empty_engine, BEFORE)
    with empty_engine.begin() as connection:
        for number, name, intermediary in (
            ("2021009903", "Grannkommun", False),
            ("2021004748", "Exempelkommun", True),
        ):
            connection.execute(
                text(
                    "INSERT INTO sender_organisation (organisation_number, name, intermediary, "
                    "support_text, created_at) VALUES (:n, :name, :i, '', CURRENT_TIMESTAMP)"
                ),
                {"n": number, "name": name, "i": intermediary},
            )
        for username, role, department in (
            ("hans", "officer", "Socialtjänsten"),
            ("ada", "admin", None),
        ):
            connection.execute(
                text(
                    "INSERT INTO web_user (username, display_name, password_hash, role, "
                    "department, active, created_at) VALUES (:u, :u, 'x', :r, :d, :a, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"u": username, "r": role, "d": department, "a": True},
            )
        connection.execute(
            text(
                "INSERT INTO print_batch (id, route, local, department, state, open_key, "
                "created_at, letter_count) VALUES ('b1', 'lokal', :t, 'Socialtjänsten', 'open', "
                "'lokal|Socialtjänsten', CURRENT_TIMESTAMP, 0)"
            ),
            {"t": True},
        )
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        rows = connection.execute(text("SELECT username, organisation_number FROM web_user"))
        users = {row.username: row.organisation_number for row in rows}
        batch = connection.execute(text("SELECT sender_number, open_key FROM print_batch")).one()
    assert users == {"hans": "2021004748", "ada": None}
    # A batch without letters belongs to no organisation: it is no one's open batch any more
    # and closes by its schedule.
    assert tuple(batch) == ("", "|lokal|Socialtjänsten")
    migrate.downgrade(empty_engine, BEFORE)
    with empty_engine.connect() as connection:
        key = connection.execute(text("SELECT open_key FROM print_batch")).scalar_one()
    assert key == "lokal|Socialtjänsten"
