"""A sending system says whether it keeps its letters as records itself
(sending_system.keeps_records). Only then is a delivered letter's content removed; the desk's
systems, whose letters have no other home, keep none, so Utskick keeps their content.

Revision ID: 2026_12_06_0011
Revises: 2026_12_06_0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_06_0011"
down_revision = "2026_12_06_0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sending_system", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keeps_records", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.execute(
        "UPDATE sending_system SET keeps_records = false WHERE name LIKE 'Handläggarwebben %'"
    )


def downgrade() -> None:
    with op.batch_alter_table("sending_system", schema=None) as batch_op:
        batch_op.drop_column("keeps_records")
