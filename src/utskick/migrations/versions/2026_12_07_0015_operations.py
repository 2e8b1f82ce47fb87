"""Operations: failed jobs, webhook secret rotation, certificate expiry warnings.

A job that runs out of attempts is kept with `failed_at` set instead of being retried for
ever. A sending system's previous webhook secret signs beside the new one until a set time.
`certificate_notice` remembers which expiry warnings have been e-mailed.

Revision ID: 2026_12_07_0015
Revises: 2026_12_07_0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_07_0015"
down_revision = "2026_12_07_0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
