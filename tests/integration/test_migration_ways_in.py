"""Revision 0014 on a database in use: rebuilding `web_user` (its new unique e-mail) and, going
back, `letter` must keep every row that refers to them (sessions, events, attachments)."""

import pytest
from sqlalchemy import text

from utskick.migrations import migrate

pytestmark = pytest.mark.storage

BEFORE = "2026_12_07_0013"
COUNTS = ("web_session", "letter_event", "letter_attachment", "letter")


def _counts(engine):
    with engine.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in COUNTS
        }


def _seed(engine):
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO web_user (username, display_name, password_hash, role, "
                "department, active, created_at) VALUES ('hans', 'Hans', 'x', 'officer', "
                "'Socialtjänsten', :a, CURRENT_TIMESTAMP)"
            ),
            {"a": True},
        )
        user_id = connection.execute(text("SELECT id FROM web_user")).scalar_one()
        connection.execute(
            text(
                "INSERT INTO web_session (token_hash, user_id, password_fingerprint, created_at, "
                "expires_at) VALUES ('t', :u, 'f', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"u": user_id},
        )
        connection.execute(
            text(
                "INSERT INTO sending_system (id, name, sender_numbers, keeps_records, "
                "created_at) VALUES ('s1', 'Ärendesystemet', '[\"2021004748\"]', :k, "
                "CURRENT_TIMESTAMP)"
            ),
            {"k": True},
        )
        connection.execute(
            text(
                "INSERT INTO letter (id, sending_system_id, idempotency_key, sender_number, "
                "recipient_id, subject, body_type, body, protection_class, policy, message_id, "
                "created_at, state, updated_at) VALUES ('l1', 's1', 'k1', '2021004748', "
                "'191212121212', 'Beslut', 'text/plain', 'Hej', 2, 'digital-or-paper', 'm1', "
                "CURRENT_TIMESTAMP, 'received', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO letter_event (event_id, letter_id, at, actor, state) VALUES "
                "('e1', 'l1', CURRENT_TIMESTAMP, 'cli', 'received')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO letter_attachment (letter_id, position, filename, content_type, "
                "channel, size, sha256, content) VALUES ('l1', 0, 'a.pdf', 'application/pdf', "
                "'both', 1, 'x', :c)"
            ),
            {"c": b"%"},
        )


def test_up_and_down_keep_the_rows_that_refer_to_rebuilt_tables(empty_engine):
    migrate.upgrade(empty_engine, BEFORE)
    _seed(empty_engine)
    before = _counts(empty_engine)
    assert before == dict.fromkeys(COUNTS, 1)

    migrate.upgrade(empty_engine)
    assert _counts(empty_engine) == before
    migrate.downgrade(empty_engine, BEFORE)
    assert _counts(empty_engine) == before
    migrate.upgrade(empty_engine)
    with empty_engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar_one() == 1
