"""Operations: failed jobs, webhook secret rotation, certificate expiry warnings.

A job that runs out of attempts is kept with `failed_at` set instead of being retried for
ever. A sending system's previous webhook secret signs beside the new one until a set time.
`certificate_notice` remembers which expiry warnings have been e-mailed. On PostgreSQL the ids
of the tables that grow without end (job, letter_event, access_log) become 64-bit, with their
sequences: a 32-bit id runs out after a few years of night runs.

Revision ID: 2026_12_07_0015
Revises: 2026_12_07_0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

_GROWING = ("job", "letter_event", "access_log")

revision = "2026_12_07_0015"
down_revision = "2026_12_07_0014"
branch_labels = None
depends_on = None


def _ids_as(type_name: str) -> None:
    """PostgreSQL: make each growing table's id, and the sequence behind it, this type."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite's INTEGER PRIMARY KEY is 64 bits already
    for table in _GROWING:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE {type_name}")
        sequence = bind.scalar(
            sa.text("SELECT pg_get_serial_sequence(:table, 'id')"), {"table": table}
        )
        if sequence:
            op.execute(f"ALTER SEQUENCE {sequence} AS {type_name}")


def upgrade() -> None:
    _ids_as("BIGINT")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("sending_system", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("webhook_secret_previous", sa.String(length=128), nullable=True)
        )
        batch_op.add_column(
            sa.Column("webhook_secret_previous_until", sa.DateTime(timezone=True), nullable=True)
        )
    op.create_table(
        "certificate_notice",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=512), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "fingerprint", "threshold_days", name=op.f("pk_certificate_notice")
        ),
    )


def downgrade() -> None:
    _ids_as("INTEGER")
    op.drop_table("certificate_notice")
    with op.batch_alter_table("sending_system", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret_previous_until")
        batch_op.drop_column("webhook_secret_previous")
    # Failed jobs are retried again by the older code: run them now.
    op.execute(
        "UPDATE job SET run_at = CURRENT_TIMESTAMP, attempts = 0 WHERE failed_at IS NOT NULL"
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
