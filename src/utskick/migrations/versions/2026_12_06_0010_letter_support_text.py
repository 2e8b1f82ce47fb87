"""A letter may carry its own support text (the officer's contact details) instead of its
organisation's (letter.support_text; NULL: the organisation's, as before).

Revision ID: 2026_12_06_0010
Revises: 2026_12_06_0009
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_06_0010"
down_revision = "2026_12_06_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("support_text", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("support_text")
