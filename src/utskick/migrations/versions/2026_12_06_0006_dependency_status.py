"""How the last call to FaR went (dependency_status), for `/health` in every process.

Revision ID: 2026_12_06_0006
Revises: 2026_12_06_0005
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "2026_12_06_0006"
down_revision = "2026_12_06_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dependency_status",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_dependency_status")),
    )


def downgrade() -> None:
    op.drop_table("dependency_status")
