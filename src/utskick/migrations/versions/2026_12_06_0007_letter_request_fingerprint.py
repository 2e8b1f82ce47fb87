"""Letters keep a fingerprint of their request, so that a key used again with other content
is refused (letter.request_fingerprint; NULL for letters stored before).

Revision ID: 2026_12_06_0007
Revises: 2026_12_06_0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_06_0007"
down_revision = "2026_12_06_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("letter", schema=None) as batch_op:
        batch_op.drop_column("request_fingerprint")
