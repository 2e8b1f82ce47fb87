"""Indexes for the desk's search: an organisation's (and a department's) letters, newest first.

Revision ID: 2026_12_06_0009
Revises: 2026_12_06_0008
Create Date: 2026-12-06
"""

from alembic import op

revision = "2026_12_06_0009"
down_revision = "2026_12_06_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_letter_sender_department_created",
        "letter",
        ["sender_number", "department", "created_at"],
    )
    op.create_index("ix_letter_sender_created", "letter", ["sender_number", "created_at"])
    op.create_index("ix_letter_created", "letter", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_letter_created", table_name="letter")
    op.drop_index("ix_letter_sender_created", table_name="letter")
    op.drop_index("ix_letter_sender_department_created", table_name="letter")
